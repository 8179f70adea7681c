import { SandboxError } from "@sandbox/core";
import { describe, expect, it } from "vitest";
import { createDemoRegistry } from "./demo-registry.js";
import { explainError } from "./explain-error.js";

/** One sentence: a single line, ending with a full stop, saying what to do. */
function expectOneSentence(text: string): void {
  expect(text).not.toContain("\n");
  expect(text.trimEnd().endsWith(".")).toBe(true);
}

describe("explainError: one sentence with what to do", () => {
  it("an unknown provider, as the registry really reports it", async () => {
    const error = await createDemoRegistry({ SANDBOX_PROVIDER: "modall" })
      .get()
      .catch((caught: unknown) => caught);
    const text = explainError(error);
    expectOneSentence(text);
    expect(text).toBe('SANDBOX_PROVIDER="modall" is not a provider this demo knows: set it to one of local-docker, modal (or unset it for local-docker).');
  });

  it("no Docker engine", () => {
    const text = explainError(new SandboxError("PROVIDER_UNAVAILABLE", { provider: "local-docker", message: "connect ENOENT /var/run/docker.sock" }), {
      provider: "local-docker",
    });
    expectOneSentence(text);
    expect(text).toContain("bash scripts/start-docker-engine.sh");
  });

  it("no image, on the engine or at the emulator", () => {
    const local = explainError(
      new SandboxError("SANDBOX_CREATION_FAILED", {
        provider: "local-docker",
        message: 'could not create sandbox: image "python:3.12-slim" is not available locally and could not be pulled',
        details: { reason: "image-unavailable", imageName: "python:3.12-slim" },
      }),
      { provider: "local-docker", imageName: "python:3.12-slim" },
    );
    expectOneSentence(local);
    expect(local).toContain("bash scripts/build-offline-images.sh --only python");
    expect(local).toContain('"python:3.12-slim"');
  });

  it("another creation failure that mentions the image is not called a missing image", () => {
    const text = explainError(
      new SandboxError("SANDBOX_CREATION_FAILED", {
        provider: "modal",
        message: 'could not create sandbox from image "python:3.12-slim": a sandbox named "x" is already running',
      }),
      { provider: "modal", imageName: "python:3.12-slim" },
    );
    expect(text).not.toContain("build-offline-images");
    expect(text).toContain("already running");
  });

  it("bad Modal credentials, for real Modal and for the emulator", () => {
    const error = new SandboxError("AUTHENTICATION_FAILED", { provider: "modal" });
    const real = explainError(error, { provider: "modal", environment: {} });
    expectOneSentence(real);
    expect(real).toContain("missing or were rejected: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET");
    const emulated = explainError(error, { provider: "modal", environment: { MODAL_SERVER_URL: "http://127.0.0.1:1234" } });
    expect(emulated).toContain("the values the emulator printed");
  });

  it("an unreachable Modal or emulator", () => {
    const error = new SandboxError("PROVIDER_UNAVAILABLE", { provider: "modal" });
    expect(explainError(error, { provider: "modal", environment: {} })).toContain("MODAL_SERVER_URL");
    expect(explainError(error, { provider: "modal", environment: { MODAL_SERVER_URL: "http://127.0.0.1:1" } })).toContain("does not answer");
  });

  it("a rejected Anthropic key, and anything else", () => {
    const anthropic = Object.assign(new Error("401 invalid x-api-key"), { status: 401 });
    expect(explainError(anthropic)).toContain("DEMO_MODEL=scripted");
    const other = explainError(new Error("something odd\nwith a second line"));
    expectOneSentence(other);
    expect(other).toContain("something odd");
  });
});

describe("explainError looks through LangChain's wrappers", () => {
  /** LangChain's agent wraps a failure once per middleware, keeping it as `cause`. */
  function wrapped(inner: unknown, times = 3): Error {
    let error: unknown = inner;
    for (let index = 0; index < times; index += 1) error = new Error("Connection error.", { cause: error });
    return error as Error;
  }

  it("finds a SandboxError several causes deep", () => {
    const text = explainError(wrapped(new SandboxError("PROVIDER_UNAVAILABLE", { provider: "local-docker" })), { provider: "local-docker" });
    expect(text).toContain("No Docker engine answers");
  });

  it("tells an unreachable Anthropic API from a rejected key", () => {
    class APIConnectionError extends Error {}
    class AuthenticationError extends Error {
      readonly status = 401;
    }
    expect(explainError(wrapped(new APIConnectionError("Connection error.")))).toContain("could not be reached");
    expect(explainError(wrapped(new AuthenticationError("invalid x-api-key")))).toContain("rejected ANTHROPIC_API_KEY");
  });

  it("survives a cause cycle", () => {
    const first = new Error("a");
    const second = new Error("b", { cause: first });
    Object.assign(first, { cause: second });
    expectOneSentence(explainError(first));
  });
});
