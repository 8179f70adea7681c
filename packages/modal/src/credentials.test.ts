import { sandboxErrorThrownBy } from "@sandbox/core/conformance";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getAuthCredentials } from "./credentials.js";
import { ModalSandbox } from "./modal-sandbox.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";

afterEach(() => {
  vi.unstubAllEnvs();
});

const thrown = (action: () => unknown) => sandboxErrorThrownBy(action, ModalSandboxError);

describe("getAuthCredentials", () => {
  it("takes both fields from auth when given, ignoring the environment", () => {
    vi.stubEnv("MODAL_TOKEN_ID", "ak-env");
    vi.stubEnv("MODAL_TOKEN_SECRET", "as-env");
    expect(getAuthCredentials({ auth: { tokenId: "ak-given", tokenSecret: "as-given" } })).toEqual({ tokenId: "ak-given", tokenSecret: "as-given" });
    expect(getAuthCredentials({ tokenId: "ak-given", tokenSecret: "as-given" }), "the pair itself works too").toEqual({
      tokenId: "ak-given",
      tokenSecret: "as-given",
    });
  });

  it("falls back to the environment for each missing field", () => {
    vi.stubEnv("MODAL_TOKEN_ID", "ak-env");
    vi.stubEnv("MODAL_TOKEN_SECRET", "as-env");
    expect(getAuthCredentials({ auth: { tokenId: "ak-given" } })).toEqual({ tokenId: "ak-given", tokenSecret: "as-env" });
    expect(getAuthCredentials({ auth: { tokenSecret: "as-given" } })).toEqual({ tokenId: "ak-env", tokenSecret: "as-given" });
    expect(getAuthCredentials({})).toEqual({ tokenId: "ak-env", tokenSecret: "as-env" });
    expect(getAuthCredentials()).toEqual({ tokenId: "ak-env", tokenSecret: "as-env" });
  });

  it("throws AUTHENTICATION_FAILED naming what is missing, never a token value", () => {
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    const onlyId = thrown(() => getAuthCredentials({ auth: { tokenId: "ak-very-visible" } }));
    expect(onlyId.code).toBe("AUTHENTICATION_FAILED");
    expect(onlyId.message).toContain("tokenSecret");
    expect(onlyId.message).toContain("MODAL_TOKEN_SECRET");
    expect(onlyId.message).not.toContain("ak-very-visible");
    expect(onlyId.details).toEqual({ missing: ["tokenSecret"] });
    const none = thrown(() => getAuthCredentials());
    expect(none.details).toEqual({ missing: ["tokenId", "tokenSecret"] });
    expect(none.message).toContain("MODAL_TOKEN_ID");
    vi.stubEnv("MODAL_TOKEN_ID", "ak-env-visible");
    const noSecret = thrown(() => getAuthCredentials());
    expect(noSecret.message).not.toContain("ak-env-visible");
  });

  it("throws INVALID_OPTIONS for a given field that is not a non-empty string", () => {
    const error = thrown(() => getAuthCredentials({ auth: { tokenId: "" } }));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.details).toMatchObject({ option: "auth", field: "tokenId" });
  });
});

describe("ModalSandbox auth: fields individually optional", () => {
  it("accepts either field alone (the other comes from the environment)", () => {
    expect(() => new ModalSandbox({ auth: { tokenId: "ak-1" } })).not.toThrow();
    expect(() => new ModalSandbox({ auth: { tokenSecret: "as-1" } })).not.toThrow();
    expect(() => new ModalSandbox({ auth: {} })).not.toThrow();
  });

  it("initialize() with a partial auth and nothing in the environment fails with AUTHENTICATION_FAILED naming the field, before any network call", async () => {
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    const sandbox = new ModalSandbox({ auth: { tokenId: "ak-partial-visible" } });
    const error = await sandbox.initialize().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect((error as ModalSandboxError).code).toBe("AUTHENTICATION_FAILED");
    expect((error as ModalSandboxError).message).toContain("tokenSecret");
    expect((error as ModalSandboxError).message).not.toContain("ak-partial-visible");
    expect(sandbox.state).toBe("new");
  });
});
