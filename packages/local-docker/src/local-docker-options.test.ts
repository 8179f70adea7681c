import { sandboxErrorThrownBy } from "@sandbox/core/conformance";
import { describe, expect, it } from "vitest";
import { LOCAL_DOCKER_CAPABILITIES, LocalDockerSandbox } from "./local-docker-sandbox.js";

describe("LocalDockerSandbox options (checked before any engine call)", () => {
  it("accepts the common and the Docker-specific options", () => {
    const sandbox = new LocalDockerSandbox({
      imageName: "x:1",
      appName: "my-app",
      runtime: "runsc",
      pidsLimit: 64,
      cpu: 0.5,
      memoryMiB: 256,
      name: "n1",
      commandTimeoutMs: 1000,
      maxOutputBytes: 10,
      maxDownloadBytes: 1024,
      commandChannel: "exec",
    });
    expect(sandbox.isInitialized).toBe(false);
    expect(sandbox.provider).toBe("local-docker");
    expect(sandbox.capabilities).toEqual(LOCAL_DOCKER_CAPABILITIES);
  });

  it.each([
    [{ appName: "bad name" }, "appName"],
    [{ pidsLimit: 2 }, "pidsLimit"],
    [{ runtime: "" }, "runtime"],
    [{ secretsFile: "" }, "secretsFile"],
    [{ reapOnStart: "yes" }, "reapOnStart"],
    [{ processRetainedBytes: 1000 }, "processRetainedBytes"],
    [{ commandChannel: "ssh" }, "commandChannel"],
    [{ commandChannel: true }, "commandChannel"],
    [{ blockNetwork: true, ports: [8080] }, "ports"],
    [{ ports: [0] }, "ports"],
    [{ docker: {} }, "docker"],
    [{ cpu: -1 }, "cpu"],
    [{ workdir: "relative/dir" }, "workdir"],
    [{ timeoutMs: 1500 }, "timeoutMs"],
    [{ imagename: "typo" }, "imagename"],
    [{ commandTimeoutMs: 0 }, "commandTimeoutMs"],
    [{ maxDownloadBytes: 0 }, "maxDownloadBytes"],
    [{ maxDownloadBytes: 1.5 }, "maxDownloadBytes"],
  ])("rejects %j naming %s", (options, option) => {
    const error = sandboxErrorThrownBy(() => new LocalDockerSandbox(options as never));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.provider).toBe("local-docker");
    expect(error.message).toContain(option);
  });

  it("reads no id before initialization", () => {
    expect(sandboxErrorThrownBy(() => new LocalDockerSandbox().id).code).toBe("NOT_INITIALIZED");
  });
});

describe("createLocalDockerSandboxFactory", () => {
  it("validates options where the factory is made, before any engine call", async () => {
    const { createLocalDockerSandboxFactory } = await import("./factories.js");
    expect(sandboxErrorThrownBy(() => createLocalDockerSandboxFactory({ cpu: 0 })).code).toBe("INVALID_OPTIONS");
  });
});
