import { EXEC_MARKER_VARIABLE as CORE_EXEC_MARKER_VARIABLE, ENTER_CWD_PREFIX, OOM_BASELINE_PREFIX } from "@sandbox/core";
import { sandboxErrorOf } from "@sandbox/core/conformance";
import {
  ModalClient,
  NotFoundError,
  type Sandbox,
  SandboxFilesystemError,
  SandboxFilesystemFileTooLargeError,
  SandboxFilesystemIsADirectoryError,
  SandboxFilesystemNotADirectoryError,
  SandboxFilesystemNotFoundError,
  SandboxFilesystemPermissionError,
} from "modal";
import { afterEach, describe, expect, it, vi } from "vitest";
import { grpcError, type StubHandlers, stubModalClient } from "../test/support/stub-control-plane.js";
import { CLIENT_IDLE_MS, sharedModalClients } from "./client-pool.js";
import { GrpcStatus } from "./error-mapping.js";
import { ModalSandbox } from "./modal-sandbox.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";
import { MODAL_EXEC_MARKER_VARIABLE } from "./sandbox-exec.js";

// Unit tests: the SDK is stubbed (its control plane, or a fake `Sandbox`) to
// reach error branches. Behaviour against a real server is proven by
// test/modal.<shard>.conformance.test.ts and test/seed-snippets.integration.test.ts.

const encoder = new TextEncoder();

/** A finished fake process: the given output and exit code. */
function finishedProcess(exitCode: number, stdout = "", stderr = "") {
  return {
    stdout: ReadableStream.from(stdout ? [encoder.encode(stdout)] : []),
    stderr: ReadableStream.from(stderr ? [encoder.encode(stderr)] : []),
    wait: async () => exitCode,
  };
}

/** A process that runs until `end(code)` is called. */
function runningProcess() {
  const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const stream = () => new ReadableStream<Uint8Array>({ start: (controller) => void controllers.push(controller) });
  const process = { stdout: stream(), stderr: stream(), wait: () => exited };
  return {
    process,
    write: (text: string) => controllers[0]!.enqueue(encoder.encode(text)),
    end: (code: number) => {
      for (const controller of controllers) controller.close();
      resolveExit(code);
    },
  };
}

type FakeSandbox = Sandbox & { exec: ReturnType<typeof vi.fn>; terminate: ReturnType<typeof vi.fn>; detach: ReturnType<typeof vi.fn> };

/** A ModalSandbox whose SDK `Sandbox` is a fake with the given parts. */
async function sandboxWith(parts: Partial<Record<keyof Sandbox, unknown>>): Promise<{ sandbox: ModalSandbox; fake: FakeSandbox }> {
  const fake = {
    sandboxId: "sb-v2-fake",
    exec: vi.fn(),
    poll: vi.fn(async () => null),
    terminate: vi.fn(async () => undefined),
    detach: vi.fn(),
    filesystem: {},
    ...parts,
  } as unknown as FakeSandbox;
  const { client } = stubModalClient();
  client.sandboxes.create = async () => fake;
  const sandbox = await ModalSandbox.create({ client });
  return { sandbox, fake };
}

const opened: ModalSandbox[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((sandbox) => sandbox.close().catch(() => undefined)));
  sharedModalClients.closeIdle();
});

describe("lifecycle errors", () => {
  it("NOT_INITIALIZED for client, instance, execute, terminate, stop, poll and wait before initialize(); id is provisional", async () => {
    const { client } = stubModalClient();
    const sandbox = new ModalSandbox({ client });
    expect(sandbox.id).toMatch(/^modal-pending-[0-9a-f]{16}$/);
    expect(sandbox.id, "the provisional id is stable").toBe(sandbox.id);
    expect(new ModalSandbox({ client }).id, "each handle has its own provisional id").not.toBe(sandbox.id);
    for (const call of [() => sandbox.terminate(), () => sandbox.stop(), () => sandbox.poll(), () => sandbox.wait()]) {
      expect((await sandboxErrorOf(call, ModalSandboxError)).code).toBe("NOT_INITIALIZED");
    }
    for (const read of [() => sandbox.client, () => sandbox.instance]) {
      expect(() => read()).toThrowError(expect.objectContaining({ code: "NOT_INITIALIZED" }));
    }
    expect(() => sandbox.client).toThrow(ModalSandboxError);
    expect((await sandboxErrorOf(() => sandbox.execute("true"), ModalSandboxError)).code).toBe("NOT_INITIALIZED");
  });

  it("ALREADY_INITIALIZED on a second initialize(), SANDBOX_CLOSED after close()", async () => {
    const { client } = stubModalClient();
    const sandbox = new ModalSandbox({ client });
    opened.push(sandbox);
    await sandbox.initialize();
    expect(sandbox.client).toBe(client);
    expect(sandbox.instance.sandboxId).toBe(sandbox.id);
    expect((await sandboxErrorOf(() => sandbox.initialize(), ModalSandboxError)).code).toBe("ALREADY_INITIALIZED");
    await sandbox.close();
    await sandbox.close();
    expect((await sandboxErrorOf(() => sandbox.execute("true"), ModalSandboxError)).code).toBe("SANDBOX_CLOSED");
  });

  it("argument errors from core's execute are ModalSandboxErrors too", async () => {
    const { sandbox } = await sandboxWith({});
    opened.push(sandbox);
    expect((await sandboxErrorOf(() => sandbox.execute("true", { timeoutMs: -1 }), ModalSandboxError)).code).toBe("INVALID_ARGUMENT");
    expect((await sandboxErrorOf(() => sandbox.execute("true", { env: { "1BAD": "x" } }), ModalSandboxError)).code).toBe("INVALID_ARGUMENT");
  });
});

describe("authentication", () => {
  it("AUTHENTICATION_FAILED without any credentials, before any network call, saying where they are read from", async () => {
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    vi.stubEnv("MODAL_SERVER_URL", "http://127.0.0.1:1");
    const error = await sandboxErrorOf(() => ModalSandbox.create(), ModalSandboxError);
    expect(error.code).toBe("AUTHENTICATION_FAILED");
    expect(error.message).toContain("MODAL_TOKEN_ID");
    expect(error.message).toContain("MODAL_TOKEN_SECRET");
    expect(error.message).toContain("auth");
  });

  it("passes auth to the ModalClient it creates", async () => {
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    vi.stubEnv("MODAL_SERVER_URL", "http://127.0.0.1:1");
    const seen: Array<{ tokenId?: string; tokenSecret?: string }> = [];
    vi.spyOn(ModalClient.prototype, "environmentName").mockImplementation(function (this: ModalClient) {
      seen.push({ tokenId: this.profile.tokenId, tokenSecret: this.profile.tokenSecret });
      return "";
    });
    // Nothing listens on port 1: the call fails as unreachable, not as missing credentials.
    const error = await sandboxErrorOf(() => ModalSandbox.create({ auth: { tokenId: "ak-from-option", tokenSecret: "as-from-option" } }), ModalSandboxError);
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
    expect(seen[0]).toEqual({ tokenId: "ak-from-option", tokenSecret: "as-from-option" });
    expect(error.message).not.toContain("as-from-option");
  });

  it("AUTHENTICATION_FAILED when Modal refuses the token; the secret never appears", async () => {
    const { client } = stubModalClient({
      appGetOrCreate: () => {
        throw grpcError(GrpcStatus.UNAUTHENTICATED, "token ak-stub-id / as-stub-secret is not valid");
      },
    });
    const error = await sandboxErrorOf(() => ModalSandbox.create({ client }), ModalSandboxError);
    expect(error.code).toBe("AUTHENTICATION_FAILED");
    expect(error.message).toContain("MODAL_TOKEN_SECRET");
    expect(error.message).not.toContain("as-stub-secret");
    expect(error.message).not.toContain("ak-stub-id");
  });

  it("lets go of the client it opened when creation fails (closed after the idle time), never closes a client passed in", async () => {
    vi.stubEnv("MODAL_SERVER_URL", "http://127.0.0.1:1");
    const close = vi.spyOn(ModalClient.prototype, "close");
    sharedModalClients.idleMs = 50;
    try {
      await sandboxErrorOf(() => ModalSandbox.create({ auth: { tokenId: "ak-1", tokenSecret: "as-1" } }), ModalSandboxError);
      await vi.waitFor(() => expect(close).toHaveBeenCalledTimes(1), { timeout: 2_000, interval: 10 });
      expect(sharedModalClients.size).toBe(0);
    } finally {
      sharedModalClients.idleMs = CLIENT_IDLE_MS;
    }
    close.mockClear();
    const { client } = stubModalClient({ appGetOrCreate: () => Promise.reject(grpcError(GrpcStatus.INTERNAL, "boom")) });
    await sandboxErrorOf(() => ModalSandbox.create({ client }), ModalSandboxError);
    expect(close).not.toHaveBeenCalled();
  });
});

describe("App and image lookups kept per client", () => {
  const count = (calls: Array<{ method: string }>, method: string) => calls.filter((call) => call.method === method).length;

  it("two creates on one client look the App and the image up once", async () => {
    const { client, calls } = stubModalClient();
    opened.push(await ModalSandbox.create({ client }), await ModalSandbox.create({ client }));
    expect(count(calls, "sandboxCreateV2")).toBe(2);
    expect(count(calls, "appGetOrCreate")).toBe(1);
    expect(count(calls, "imageGetOrCreate")).toBe(1);
    // Another App name or image is another lookup.
    opened.push(await ModalSandbox.create({ client, appName: "other", imageName: "python:3.12-slim" }));
    expect(count(calls, "appGetOrCreate")).toBe(2);
    expect(count(calls, "imageGetOrCreate")).toBe(2);
  });

  it("a failed App lookup or image build is not kept", async () => {
    let appFailures = 1;
    let imageFailures = 1;
    const { client, calls } = stubModalClient({
      appGetOrCreate: () => (appFailures-- > 0 ? Promise.reject(grpcError(GrpcStatus.INTERNAL, "boom")) : { appId: "ap-stub" }),
      imageGetOrCreate: () => ({ imageId: "im-stub", result: imageFailures-- > 0 ? { status: 2, exception: "pull failed" } : { status: 1 } }),
    });
    await sandboxErrorOf(() => ModalSandbox.create({ client }), ModalSandboxError);
    await sandboxErrorOf(() => ModalSandbox.create({ client }), ModalSandboxError);
    opened.push(await ModalSandbox.create({ client }));
    expect(count(calls, "appGetOrCreate")).toBe(2);
    expect(count(calls, "imageGetOrCreate")).toBe(2);
    opened.push(await ModalSandbox.create({ client }));
    expect(count(calls, "appGetOrCreate")).toBe(2);
    expect(count(calls, "imageGetOrCreate")).toBe(2);
  });

  it("a kept App found gone (NOT_FOUND on create) is looked up again, once", async () => {
    let gone = false;
    let apps = 0;
    const { client, calls } = stubModalClient({
      appGetOrCreate: () => ({ appId: `ap-${++apps}` }),
      sandboxCreateV2: (request) =>
        gone && request.appId === "ap-1"
          ? Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "App ap-1 not found"))
          : { sandboxId: `sb-v2-${request.appId}`, taskId: "ta-stub", tunnels: [] },
    });
    opened.push(await ModalSandbox.create({ client }));
    gone = true;
    const sandbox = await ModalSandbox.create({ client });
    opened.push(sandbox);
    expect(sandbox.id).toBe("sb-v2-ap-2");
    expect(count(calls, "appGetOrCreate")).toBe(2);
    expect(count(calls, "sandboxCreateV2")).toBe(3);
    // Without a kept App or image, NOT_FOUND is the answer: no second try.
    const fresh = stubModalClient({ sandboxCreateV2: () => Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "App not found")) });
    await sandboxErrorOf(() => ModalSandbox.create({ client: fresh.client }), ModalSandboxError);
    expect(count(fresh.calls, "sandboxCreateV2")).toBe(1);
  });
});

describe("creation errors", () => {
  const cases: Array<[string, StubHandlers, object, string, RegExp]> = [
    [
      "a missing volume",
      { volumeGetOrCreate: () => Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "Volume 'nope' not found")) },
      { volumes: { "/data": "nope" } },
      "VOLUME_ERROR",
      /Volume "nope" \(for \/data\) does not exist/,
    ],
    [
      "a missing secret",
      { secretGetOrCreate: () => Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "Secret 'nope' not found")) },
      { secrets: ["nope"] },
      "SANDBOX_CREATION_FAILED",
      /Secret "nope" does not exist/,
    ],
    [
      "no GPU capacity",
      { sandboxCreate: () => Promise.reject(grpcError(GrpcStatus.RESOURCE_EXHAUSTED, "GPU A100:2 requested, but this host has no GPU")) },
      { gpu: "A100:2" },
      "RESOURCE_LIMIT_EXCEEDED",
      /gpu "A100:2"/,
    ],
    [
      "a taken name",
      { sandboxCreateV2: () => Promise.reject(grpcError(GrpcStatus.ALREADY_EXISTS, "Sandbox with name 'n' already exists")) },
      { name: "n" },
      "SANDBOX_CREATION_FAILED",
      /named "n" is already running in app "deepagents-sandbox"/,
    ],
    [
      "an image that cannot be built",
      { imageGetOrCreate: () => ({ imageId: "im-1", result: { status: 2, exception: "pull access denied" } }) },
      { imageName: "nope:1" },
      "SANDBOX_CREATION_FAILED",
      /image "nope:1".*pull access denied/s,
    ],
    [
      "an unreachable server",
      { appGetOrCreate: () => Promise.reject(grpcError(GrpcStatus.UNAVAILABLE, "No connection established")) },
      {},
      "PROVIDER_UNAVAILABLE",
      /could not be reached/,
    ],
  ];

  it.each(cases)("%s", async (_label, handlers, options, code, message) => {
    const { client, calls } = stubModalClient(handlers);
    const error = await sandboxErrorOf(() => ModalSandbox.create({ client, ...options }), ModalSandboxError);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.cause).toBeDefined();
    if (code !== "RESOURCE_LIMIT_EXCEEDED" && code !== "SANDBOX_CREATION_FAILED") {
      expect(calls.some((call) => call.method.startsWith("sandboxCreate"))).toBe(false);
    }
  });

  it("names the gpu option when GPUs are refused", async () => {
    const { client } = stubModalClient({ sandboxCreate: () => Promise.reject(grpcError(GrpcStatus.RESOURCE_EXHAUSTED, "no GPU")) });
    const error = await sandboxErrorOf(() => ModalSandbox.create({ client, gpu: "T4" }), ModalSandboxError);
    expect(error.details.option).toBe("gpu");
    expect(error.provider).toBe("modal");
    expect(String(error)).toMatch(/^ModalSandboxError: \[modal\] /);
  });
});

describe("execute on the SDK", () => {
  it("runs sh -c with the env marker, cwd and a whole-second backstop timeout; stdout and stderr combined and streamed", async () => {
    const { sandbox, fake } = await sandboxWith({});
    opened.push(sandbox);
    fake.exec.mockResolvedValueOnce(finishedProcess(3, "out\n", "err\n"));
    const streamed: string[] = [];
    const result = await sandbox.execute("echo hi", { cwd: "/work", env: { A: "1" }, timeoutMs: 1500, onStdout: (chunk) => streamed.push(chunk) });
    expect(result).toEqual({ output: expect.stringContaining("out\n"), exitCode: 3, truncated: false });
    expect(result.output).toContain("err\n");
    expect(streamed).toEqual(["out\n"]);
    const [argv, params] = fake.exec.mock.calls[0]!;
    // The shell enters the cwd itself (core's ENTER_CWD_PREFIX, the cwd as $1), so the SDK gets no workdir.
    expect(argv).toEqual(["/bin/sh", "-c", `${ENTER_CWD_PREFIX}${OOM_BASELINE_PREFIX}exec </dev/null; echo hi`, "/bin/sh", "/work"]);
    expect(params).toMatchObject({ mode: "binary", stdout: "pipe", stderr: "pipe", env: { A: "1" } });
    expect(params).not.toHaveProperty("workdir");
    expect(params.env[MODAL_EXEC_MARKER_VARIABLE]).toMatch(/^[0-9a-f-]{36}$/);
    // A backend that marks its own execs with core's variable (the emulator's
    // engine layer does) must not overwrite the adapter's marker.
    expect(MODAL_EXEC_MARKER_VARIABLE).not.toBe(CORE_EXEC_MARKER_VARIABLE);
    expect(params.timeoutMs % 1000).toBe(0);
    expect(params.timeoutMs).toBeGreaterThanOrEqual(1500);
  });

  it("caps the output and reports truncated", async () => {
    const { sandbox, fake } = await sandboxWith({});
    opened.push(sandbox);
    fake.exec.mockResolvedValueOnce(finishedProcess(0, "x".repeat(5000)));
    const result = await sandbox.execute("yes", { maxOutputBytes: 100 });
    expect(result.truncated).toBe(true);
    expect(result.output.length).toBeLessThanOrEqual(100);
  });

  it("kills the command's tree by its marker on timeout, then rejects with COMMAND_TIMEOUT and the partial output", async () => {
    const { sandbox, fake } = await sandboxWith({});
    opened.push(sandbox);
    const command = runningProcess();
    fake.exec.mockResolvedValueOnce(command.process);
    fake.exec.mockImplementationOnce(async () => {
      command.end(137);
      return finishedProcess(0);
    });
    const pending = sandbox.execute("sleep 100", { timeoutMs: 300 });
    await vi.waitFor(() => expect(fake.exec).toHaveBeenCalledTimes(1));
    command.write("partial");
    const error = await sandboxErrorOf(() => pending, ModalSandboxError);
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.output).toBe("partial");
    expect(error.details).toMatchObject({ reason: "timeout", killConfirmed: true });
    const marker = fake.exec.mock.calls[0]![1].env[MODAL_EXEC_MARKER_VARIABLE];
    const [killArgv] = fake.exec.mock.calls[1]!;
    expect(killArgv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(killArgv.at(-1)).toBe(`${MODAL_EXEC_MARKER_VARIABLE}=${marker}`);
  });

  it("RESOURCE_LIMIT_EXCEEDED for exit 137 with an OOM kill in the cgroup; a plain exit 137 stays a result", async () => {
    const { sandbox, fake } = await sandboxWith({});
    opened.push(sandbox);
    // Each command prints the counter before it as its first stderr line; the adapter reads it again only after a 137.
    fake.exec
      .mockResolvedValueOnce(finishedProcess(137, "", "\u0001sandbox-oom-baseline:0\nKilled\n"))
      .mockResolvedValueOnce({ stdout: { readText: async () => "oom 1\noom_kill 1\n" }, wait: async () => 0 })
      .mockResolvedValueOnce(finishedProcess(0, "", "\u0001sandbox-oom-baseline:1\n"))
      .mockResolvedValueOnce(finishedProcess(137, "", "\u0001sandbox-oom-baseline:2\n"))
      .mockResolvedValueOnce({ stdout: { readText: async () => "oom 2\noom_kill 2\n" }, wait: async () => 0 });
    const error = await sandboxErrorOf(() => sandbox.execute("eat-memory"), ModalSandboxError);
    expect(error.code).toBe("RESOURCE_LIMIT_EXCEEDED");
    expect(error.details.reason).toBe("out-of-memory");
    // An OOM kill inside a command that exited 0 (counter 1 -> 2) is not blamed on the next plain 137.
    expect(await sandbox.execute("oom-in-a-pipeline; true")).toEqual({ exitCode: 0, output: "", truncated: false });
    expect((await sandbox.execute("kill -9 $$")).exitCode).toBe(137);
    expect(fake.exec).toHaveBeenCalledTimes(5);
  });

  it("SANDBOX_NOT_FOUND when the sandbox is gone, COMMAND_FAILED when the exec cannot run", async () => {
    const { sandbox, fake } = await sandboxWith({});
    opened.push(sandbox);
    fake.exec.mockRejectedValueOnce(grpcError(GrpcStatus.NOT_FOUND, "Sandbox has already finished; its task accepts no more execs"));
    expect((await sandboxErrorOf(() => sandbox.execute("true"), ModalSandboxError)).code).toBe("SANDBOX_NOT_FOUND");
    fake.exec.mockRejectedValueOnce(new Error("Command router access is not available for this sandbox"));
    const failed = await sandboxErrorOf(() => sandbox.execute("true"), ModalSandboxError);
    expect(failed.code).toBe("COMMAND_FAILED");
    expect(failed.message).toContain("Command router access");
  });
});

describe("files through sandbox.filesystem", () => {
  it("maps the SDK's typed errors to per-file codes, in input order", async () => {
    const readErrors: Record<string, Error> = {
      "/missing": new SandboxFilesystemNotFoundError("No such file"),
      "/dir": new SandboxFilesystemIsADirectoryError("Is a directory"),
      "/secret": new SandboxFilesystemPermissionError("Permission denied"),
      "/file/child": new SandboxFilesystemNotADirectoryError("Not a directory"),
    };
    const writeErrors: Record<string, Error> = {
      "/dir": new SandboxFilesystemIsADirectoryError("Is a directory"),
      "/sys/x": new SandboxFilesystemPermissionError("Read-only file system"),
      "/file/child": new SandboxFilesystemNotADirectoryError("Not a directory"),
    };
    const { sandbox } = await sandboxWith({
      filesystem: {
        readBytes: async (path: string) => {
          if (readErrors[path]) throw readErrors[path];
          return encoder.encode(`content of ${path}`);
        },
        writeBytes: async (_data: Uint8Array, path: string) => {
          if (writeErrors[path]) throw writeErrors[path];
        },
      } as never,
    });
    opened.push(sandbox);
    const read = await sandbox.downloadFiles(["/ok", "/missing", "/dir", "/secret", "/file/child", "relative"]);
    expect(read.map((entry) => [entry.path, entry.error])).toEqual([
      ["/ok", null],
      ["/missing", "file_not_found"],
      ["/dir", "is_directory"],
      ["/secret", "permission_denied"],
      ["/file/child", "file_not_found"],
      ["relative", "invalid_path"],
    ]);
    expect(new TextDecoder().decode(read[0]!.content!)).toBe("content of /ok");
    const written = await sandbox.uploadFiles([
      ["/ok", encoder.encode("x")],
      ["/dir", encoder.encode("x")],
      ["/sys/x", encoder.encode("x")],
      ["/file/child", encoder.encode("x")],
    ]);
    expect(written.map((entry) => entry.error)).toEqual([null, "is_directory", "permission_denied", "invalid_path"]);
  });

  it("writes a batch whose paths depend on each other one after the other, independent ones concurrently", async () => {
    const events: string[] = [];
    const { sandbox } = await sandboxWith({
      filesystem: {
        writeBytes: async (_data: Uint8Array, path: string) => {
          events.push(`start ${path}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
          events.push(`end ${path}`);
        },
      } as never,
    });
    opened.push(sandbox);
    const bytes = encoder.encode("x");
    await sandbox.uploadFiles([
      ["/a/file", bytes],
      ["/a/file/child", bytes],
    ]);
    expect(events).toEqual(["start /a/file", "end /a/file", "start /a/file/child", "end /a/file/child"]);
    events.length = 0;
    await sandbox.uploadFiles([
      ["/a/one", bytes],
      ["/a/two", bytes],
    ]);
    expect(events.slice(0, 2)).toEqual(["start /a/one", "start /a/two"]);
  });

  it("answers a file past the SDK's read limit with invalid_path, without reading it another way", async () => {
    const { sandbox, fake } = await sandboxWith({
      filesystem: { readBytes: async () => Promise.reject(new SandboxFilesystemFileTooLargeError("File is larger than 67108864 bytes: /big")) } as never,
    });
    opened.push(sandbox);
    const [entry] = await sandbox.downloadFiles(["/big"]);
    expect(entry).toEqual({ path: "/big", content: null, error: "invalid_path" });
    expect(fake.exec).not.toHaveBeenCalled();
  });

  it("FILE_OPERATION_FAILED when the file tool fails; SANDBOX_NOT_FOUND when the sandbox is gone", async () => {
    const failures = [new SandboxFilesystemError("An unexpected error occurred"), new NotFoundError("The Sandbox is unavailable.")];
    const { sandbox } = await sandboxWith({
      filesystem: {
        readBytes: async () => Promise.reject(failures.shift()),
        writeBytes: async () => Promise.reject(new SandboxFilesystemError("tool crashed")),
      } as never,
    });
    opened.push(sandbox);
    expect((await sandboxErrorOf(() => sandbox.downloadFiles(["/a"]), ModalSandboxError)).code).toBe("FILE_OPERATION_FAILED");
    expect((await sandboxErrorOf(() => sandbox.downloadFiles(["/a"]), ModalSandboxError)).code).toBe("SANDBOX_NOT_FOUND");
    expect((await sandboxErrorOf(() => sandbox.uploadFiles([["/a", encoder.encode("x")]]), ModalSandboxError)).code).toBe("FILE_OPERATION_FAILED");
  });

  it("FILE_OPERATION_FAILED from initialize() when an initial file cannot be written, and the sandbox is terminated", async () => {
    const fake = {
      sandboxId: "sb-v2-fake",
      poll: async () => null,
      terminate: vi.fn(async () => undefined),
      detach: vi.fn(),
      filesystem: { writeBytes: async () => Promise.reject(new SandboxFilesystemIsADirectoryError("Is a directory")) },
    };
    const { client } = stubModalClient();
    client.sandboxes.create = async () => fake as unknown as Sandbox;
    const error = await sandboxErrorOf(() => ModalSandbox.create({ client, initialFiles: { "/app": "x" } }), ModalSandboxError);
    expect(error.code).toBe("FILE_OPERATION_FAILED");
    expect(fake.terminate).toHaveBeenCalled();
  });
});

describe("reconnect", () => {
  it("fromId checks existence with one poll: unknown or finished -> SANDBOX_NOT_FOUND", async () => {
    const unknown = stubModalClient({ sandboxWaitV2: () => Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "Sandbox sb-v2-x not found")) });
    expect((await sandboxErrorOf(() => ModalSandbox.fromId("sb-v2-x", { client: unknown.client }), ModalSandboxError)).code).toBe("SANDBOX_NOT_FOUND");
    const finished = stubModalClient({ sandboxWaitV2: () => ({ result: { status: 1, exitcode: 0 } }) });
    const error = await sandboxErrorOf(() => ModalSandbox.fromId("sb-v2-x", { client: finished.client }), ModalSandboxError);
    expect(error.code).toBe("SANDBOX_NOT_FOUND");
    expect(error.message).toContain("already finished");
  });

  it("fromId refuses a malformed id without any call", async () => {
    const { client, calls } = stubModalClient();
    expect((await sandboxErrorOf(() => ModalSandbox.fromId("not an id", { client }), ModalSandboxError)).code).toBe("SANDBOX_NOT_FOUND");
    expect(calls).toEqual([]);
  });

  it("fromId of a running sandbox gives a ready handle", async () => {
    const { client } = stubModalClient();
    const sandbox = await ModalSandbox.fromId("sb-v2-running", { client });
    opened.push(sandbox);
    expect(sandbox.id).toBe("sb-v2-running");
    expect(sandbox.isRunning).toBe(true);
    expect(await sandbox.isAlive()).toBe(true);
  });

  it("fromName of an unknown name -> SANDBOX_NOT_FOUND", async () => {
    const notFound = () => Promise.reject(grpcError(GrpcStatus.NOT_FOUND, "Sandbox with name 'x' not found in App 'y'"));
    const { client } = stubModalClient({ sandboxGetFromNameV2: notFound, sandboxGetFromName: notFound });
    const error = await sandboxErrorOf(() => ModalSandbox.fromName("y", "x", { client }), ModalSandboxError);
    expect(error.code).toBe("SANDBOX_NOT_FOUND");
    expect(error.message).toContain('no running sandbox named "x" in app "y"');
  });
});
