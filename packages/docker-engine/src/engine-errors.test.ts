import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerEngine } from "./docker-engine.js";
import { EngineError, engineUnreachable } from "./engine-errors.js";

describe("an engine that does not answer", () => {
  it("an exec through a client whose socket is missing is engine-unavailable (the engine is down), not exec-failed", async () => {
    const engine = new DockerEngine({ docker: new Docker({ socketPath: "/nonexistent/docker.sock" }) });
    const error = await engine
      .container("0123456789ab")
      .exec(["true"])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ kind: "engine-unavailable", message: expect.stringMatching(/no Docker engine answers.*start-docker-engine/) });
  });

  it("tells a refused or missing socket from an answer with a status", () => {
    expect(engineUnreachable(Object.assign(new Error("connect ECONNREFUSED /var/run/docker.sock"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(engineUnreachable(Object.assign(new Error("connect ENOENT /var/run/docker.sock"), { code: "ENOENT" }))).toBe(true);
    expect(engineUnreachable(Object.assign(new Error("(HTTP code 500) server error"), { statusCode: 500 }))).toBe(false);
    expect(engineUnreachable(new Error("no such file in the container"))).toBe(false);
  });
});
