import { type FileDownloadResponse, type FileUploadResponse, isSandboxBackend } from "deepagents";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sandboxErrorOf, sandboxErrorThrownBy } from "../conformance/expect-sandbox-error.js";
import { allCapabilities } from "../contract/capabilities.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_OUTPUT_BYTES, KILL_CONFIRMATION_GRACE_MS, MAX_COMMAND_BYTES } from "../contract/defaults.js";
import type { ExecuteOptions } from "../contract/sandbox-backend.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import { SandboxError, type SandboxErrorOptions } from "../errors/sandbox-error.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import type { CommandOutcome, CommandRequest } from "./command-request.js";
import { SandboxAdapter, type SandboxAdapterSettings } from "./sandbox-adapter.js";

// ---------------------------------------------------------------------------
// An in-memory adapter: the six primitives, recorded, with scripted commands.
// ---------------------------------------------------------------------------

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** What a scripted command does with the request core hands the adapter. */
type Behaviour = (request: CommandRequest, adapter: MemoryAdapter) => Promise<CommandOutcome>;

/** The provider's own error subclass, as real adapters declare them. */
class MemorySandboxError extends SandboxError {}

class MemoryAdapter extends SandboxAdapter {
  /** Everything the adapter was asked to do, in order. */
  readonly events: string[] = [];
  readonly requests: CommandRequest[] = [];
  readonly putCalls: Array<Array<[string, Uint8Array]>> = [];
  readonly getCalls: string[][] = [];
  readonly releases: boolean[] = [];
  readonly files = new Map<string, Uint8Array>();
  alive = true;
  checkRunningCalls = 0;
  behaviour: Behaviour = exits(0);
  provisionWith: () => Promise<string> = async () => "mem-1";
  putWith?: (files: Array<[string, Uint8Array]>) => Promise<FileUploadResponse[]>;
  getWith?: (paths: string[]) => Promise<FileDownloadResponse[]>;

  constructor(options?: SandboxOptions, settings: Partial<SandboxAdapterSettings> = {}) {
    super(options, { provider: "memory", capabilities: allCapabilities(true), ...settings });
  }

  addSecret(value: string): void {
    this.secretValues.add(value);
  }

  protected async provision(): Promise<string> {
    this.events.push("provision");
    const id = await this.provisionWith();
    this.events.push("provisioned");
    return id;
  }

  protected runCommand(request: CommandRequest): Promise<CommandOutcome> {
    this.requests.push(request);
    return this.behaviour(request, this);
  }

  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    this.events.push("put");
    this.putCalls.push(files);
    if (this.putWith) return this.putWith(files);
    return files.map(([path, content]) => {
      this.files.set(path, content.slice());
      return { path, error: null };
    });
  }

  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    this.getCalls.push(paths);
    if (this.getWith) return this.getWith(paths);
    return paths.map((path) => {
      const content = this.files.get(path);
      return content ? { path, content: content.slice(), error: null } : { path, content: null, error: "file_not_found" as const };
    });
  }

  protected async checkRunning(): Promise<boolean> {
    this.checkRunningCalls += 1;
    return this.alive;
  }

  protected async release(terminate: boolean): Promise<void> {
    this.events.push(`release(${terminate})`);
    this.releases.push(terminate);
  }

  protected override error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new MemorySandboxError(code, this.scrub({ ...options, provider: this.provider }));
  }
}

/** A command that prints `chunks` on stdout (strings or bytes) and exits with `exitCode`. */
function exits(exitCode: number | null, ...chunks: Array<string | Uint8Array>): Behaviour {
  return async (request) => {
    for (const chunk of chunks) request.onStdout(typeof chunk === "string" ? bytes(chunk) : chunk);
    return { exitCode };
  };
}

/**
 * A command that prints `partial` and then runs until its signal aborts. On
 * abort it records the kill request, "kills" (one tick) and then settles as
 * asked: resolve with 137, reject like a closed exec stream, or never.
 */
function hangs(options: { partial?: string; afterKill: "resolve" | "reject" | "never" }): Behaviour {
  return (request, adapter) => {
    if (options.partial) request.onStdout(bytes(options.partial));
    return new Promise<CommandOutcome>((resolve, reject) => {
      request.signal.addEventListener("abort", () => {
        adapter.events.push("kill-requested");
        if (options.afterKill === "never") return;
        void Promise.resolve().then(() => {
          adapter.events.push("killed");
          if (options.afterKill === "resolve") resolve({ exitCode: 137 });
          else reject(new Error("exec stream closed"));
        });
      });
    });
  };
}

async function ready(options?: SandboxOptions, settings?: Partial<SandboxAdapterSettings>): Promise<MemoryAdapter> {
  const adapter = new MemoryAdapter(options, settings);
  await adapter.initialize();
  return adapter;
}

/** Observes a promise's settlement without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------

describe("SandboxAdapter construction", () => {
  it("validates options synchronously, before anything is created", () => {
    const error = sandboxErrorThrownBy(() => new MemoryAdapter({ cpu: -1 }));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.provider).toBe("memory");
    expect(error.details.option).toBe("cpu");
  });

  it("rejects options the provider cannot honour with UNSUPPORTED_CAPABILITY", () => {
    const error = sandboxErrorThrownBy(() => new MemoryAdapter({ gpu: "T4" }, { capabilities: { ...allCapabilities(true), gpu: false } }));
    expect(error.code).toBe("UNSUPPORTED_CAPABILITY");
    expect(error.message).toContain('"memory"');
    expect(error.message).toContain('"gpu"');
  });

  it("accepts the adapter's own option keys", () => {
    expect(() => new MemoryAdapter({ appName: "x" } as SandboxOptions, { extraOptionKeys: ["appName"] })).not.toThrow();
    expect(sandboxErrorThrownBy(() => new MemoryAdapter({ appName: "x" } as SandboxOptions)).code).toBe("INVALID_OPTIONS");
  });

  it.each([
    ["commandTimeoutMs", { commandTimeoutMs: 0 }],
    ["commandTimeoutMs", { commandTimeoutMs: 1.5 }],
    ["maxOutputBytes", { maxOutputBytes: -1 }],
  ] as const)("rejects a bad %s setting", (option, settings) => {
    const error = sandboxErrorThrownBy(() => new MemoryAdapter(undefined, settings));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.details.option).toBe(option);
  });

  it("freezes a copy of the capabilities", () => {
    const capabilities = allCapabilities(true);
    const adapter = new MemoryAdapter(undefined, { capabilities });
    (capabilities as { gpu: boolean }).gpu = false;
    expect(adapter.capabilities.gpu).toBe(true);
    expect(Object.isFrozen(adapter.capabilities)).toBe(true);
  });
});

describe("SandboxAdapter lifecycle", () => {
  it("before initialize: state new, NOT_INITIALIZED on id, execute and files; not running", async () => {
    const adapter = new MemoryAdapter();
    expect(adapter.state).toBe("new");
    expect(adapter.isInitialized).toBe(false);
    expect(sandboxErrorThrownBy(() => adapter.id).code).toBe("NOT_INITIALIZED");
    expect((await sandboxErrorOf(() => adapter.execute("true"))).code).toBe("NOT_INITIALIZED");
    expect((await sandboxErrorOf(() => adapter.uploadFiles([["/a", bytes("x")]]))).code).toBe("NOT_INITIALIZED");
    expect((await sandboxErrorOf(() => adapter.downloadFiles(["/a"]))).code).toBe("NOT_INITIALIZED");
    expect(adapter.isRunning).toBe(false);
    expect(await adapter.isAlive()).toBe(false);
    expect(adapter.checkRunningCalls).toBe(0);
    expect(adapter.requests).toHaveLength(0);
  });

  it("initialize provisions once and makes the handle ready with a stable id", async () => {
    const adapter = new MemoryAdapter();
    await adapter.initialize();
    expect(adapter.state).toBe("ready");
    expect(adapter.isInitialized).toBe(true);
    expect(adapter.id).toBe("mem-1");
    expect(adapter.id).toBe(adapter.id);
    expect(adapter.events).toEqual(["provision", "provisioned"]);
    expect(isSandboxBackend(adapter)).toBe(true);
  });

  it("is 'initializing' while provisioning, and a concurrent initialize gets ALREADY_INITIALIZED", async () => {
    const adapter = new MemoryAdapter();
    let finish!: (id: string) => void;
    adapter.provisionWith = () => new Promise((resolve) => (finish = resolve));
    const first = adapter.initialize();
    expect(adapter.state).toBe("initializing");
    expect(adapter.isInitialized).toBe(false);
    expect((await sandboxErrorOf(() => adapter.initialize())).code).toBe("ALREADY_INITIALIZED");
    finish("mem-2");
    await first;
    expect(adapter.id).toBe("mem-2");
  });

  it("a second initialize rejects with ALREADY_INITIALIZED and provisions nothing", async () => {
    const adapter = await ready();
    const error = await sandboxErrorOf(() => adapter.initialize());
    expect(error.code).toBe("ALREADY_INITIALIZED");
    expect(error.message).toBe("Cannot initialize twice");
    expect(adapter.events.filter((event) => event === "provision")).toHaveLength(1);
  });

  it("a failed provision leaves the handle new, so initialize can be retried", async () => {
    const adapter = new MemoryAdapter();
    const failure = new SandboxError("SANDBOX_CREATION_FAILED", { provider: "memory" });
    adapter.provisionWith = async () => Promise.reject(failure);
    await expect(adapter.initialize()).rejects.toBe(failure);
    expect(adapter.state).toBe("new");
    adapter.provisionWith = async () => "mem-3";
    await adapter.initialize();
    expect(adapter.id).toBe("mem-3");
  });

  it("an empty id from the provider is SANDBOX_CREATION_FAILED", async () => {
    const adapter = new MemoryAdapter();
    adapter.provisionWith = async () => "";
    expect((await sandboxErrorOf(() => adapter.initialize())).code).toBe("SANDBOX_CREATION_FAILED");
    expect(adapter.state).toBe("new");
  });

  it("isRunning is a synchronous boolean (LangChain's shape): false before initialize, true once ready, no provider call", async () => {
    const adapter = new MemoryAdapter();
    expect(adapter.isRunning).toBe(false);
    // The pattern code written for LangChain sandboxes uses.
    if (!adapter.isRunning) await adapter.initialize();
    expect(adapter.isRunning).toBe(true);
    expect(typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Object.getPrototypeOf(adapter)), "isRunning")?.get).toBe("function");
    expect(adapter.checkRunningCalls).toBe(0);
  });

  it("isAlive asks the provider while ready; a false answer turns isRunning false for good", async () => {
    const adapter = await ready();
    expect(await adapter.isAlive()).toBe(true);
    expect(adapter.isRunning).toBe(true);
    adapter.alive = false;
    expect(await adapter.isAlive()).toBe(false);
    expect(adapter.isRunning).toBe(false);
    adapter.alive = true;
    expect(await adapter.isAlive(), "an ended sandbox does not come back").toBe(false);
    expect(adapter.checkRunningCalls).toBe(2);
  });

  it("a call that finds the sandbox gone (SANDBOX_NOT_FOUND) turns isRunning false", async () => {
    const adapter = await ready();
    adapter.behaviour = async () => {
      throw new SandboxError("SANDBOX_NOT_FOUND", { provider: "memory" });
    };
    expect((await sandboxErrorOf(() => adapter.execute("true"))).code).toBe("SANDBOX_NOT_FOUND");
    expect(adapter.isRunning).toBe(false);
    expect(adapter.isInitialized, "the handle itself is still open until close()").toBe(true);
  });

  it("a file call that finds the sandbox gone turns isRunning false too", async () => {
    const adapter = await ready();
    adapter.getWith = async () => {
      throw new SandboxError("SANDBOX_NOT_FOUND", { provider: "memory" });
    };
    expect((await sandboxErrorOf(() => adapter.downloadFiles(["/a"]))).code).toBe("SANDBOX_NOT_FOUND");
    expect(adapter.isRunning).toBe(false);
  });

  it("other failures leave isRunning true", async () => {
    const adapter = await ready();
    adapter.behaviour = async () => {
      throw new SandboxError("COMMAND_FAILED", { provider: "memory" });
    };
    expect((await sandboxErrorOf(() => adapter.execute("true"))).code).toBe("COMMAND_FAILED");
    expect(adapter.isRunning).toBe(true);
  });

  it("close terminates once; later and concurrent closes resolve without releasing again", async () => {
    const adapter = await ready();
    const first = adapter.close();
    const second = adapter.close();
    await Promise.all([first, second]);
    await adapter.close();
    expect(adapter.releases).toEqual([true]);
    expect(adapter.state).toBe("closed");
    expect(adapter.isInitialized).toBe(false);
  });

  it("after close: SANDBOX_CLOSED on id, execute, files and initialize; not running", async () => {
    const adapter = await ready();
    await adapter.close();
    expect(sandboxErrorThrownBy(() => adapter.id).code).toBe("SANDBOX_CLOSED");
    expect((await sandboxErrorOf(() => adapter.execute("true"))).code).toBe("SANDBOX_CLOSED");
    expect((await sandboxErrorOf(() => adapter.uploadFiles([["/a", bytes("x")]]))).code).toBe("SANDBOX_CLOSED");
    expect((await sandboxErrorOf(() => adapter.downloadFiles(["/a"]))).code).toBe("SANDBOX_CLOSED");
    expect((await sandboxErrorOf(() => adapter.initialize())).code).toBe("SANDBOX_CLOSED");
    expect(adapter.isRunning).toBe(false);
    expect(await adapter.isAlive()).toBe(false);
    expect(adapter.checkRunningCalls).toBe(0);
    expect(adapter.requests).toHaveLength(0);
  });

  it("close before initialize releases nothing and closes the handle", async () => {
    const adapter = new MemoryAdapter();
    await adapter.close();
    expect(adapter.releases).toEqual([]);
    expect(adapter.state).toBe("closed");
    expect((await sandboxErrorOf(() => adapter.initialize())).code).toBe("SANDBOX_CLOSED");
  });

  it("detach releases without terminating; close after it does nothing more", async () => {
    const adapter = await ready();
    await adapter.detach();
    expect(adapter.releases).toEqual([false]);
    expect(adapter.state).toBe("closed");
    await adapter.close();
    await adapter.detach();
    expect(adapter.releases).toEqual([false]);
  });

  it("core's errors are built by the adapter's error(): provider subclass and name", async () => {
    const adapter = new MemoryAdapter();
    const error = await sandboxErrorOf(() => adapter.execute("true"));
    expect(error.name).toBe("MemorySandboxError");
    expect(error.provider).toBe("memory");
    expect(error.message).toBe("Sandbox not initialized - call initialize()");
  });

  // KNOWN BUG (reported): close() during initialize() calls release() while
  // provision() is still in flight, so an adapter has no provider handle to
  // terminate yet; provision then finishes and initialize() resolves on a
  // closed handle. The sandbox it created is never terminated (leaks until its
  // lifetime). Fix in sandbox-adapter.ts `start()`/`finish()`: remember the
  // in-flight connect; `finish` awaits it before calling release, and `start`
  // rejects with SANDBOX_CLOSED when the state became closed meanwhile.
  it("close during initialize releases after provisioning and initialize rejects SANDBOX_CLOSED", async () => {
    const adapter = new MemoryAdapter();
    let finish!: (id: string) => void;
    adapter.provisionWith = () => new Promise((resolve) => (finish = resolve));
    const initializing = adapter.initialize().then(
      () => "resolved",
      (error: SandboxError) => error.code,
    );
    const closing = adapter.close();
    finish("mem-4");
    await closing;
    expect(await initializing).toBe("SANDBOX_CLOSED");
    expect(adapter.events).toEqual(["provision", "provisioned", "release(true)"]);
  });
});

describe("SandboxAdapter initialFiles", () => {
  it("uploads initial files after provisioning, strings as UTF-8, bytes as given", async () => {
    const blob = new Uint8Array([0, 255, 10, 13]);
    const adapter = await ready({ initialFiles: { "/app/main.py": 'print("héllo")', "/app/blob.bin": blob } });
    expect(adapter.events).toEqual(["provision", "provisioned", "put"]);
    expect(adapter.putCalls).toHaveLength(1);
    expect(adapter.files.get("/app/main.py")).toEqual(bytes('print("héllo")'));
    expect(adapter.files.get("/app/blob.bin")).toEqual(blob);
  });

  it("uploads nothing for an empty initialFiles map", async () => {
    const adapter = await ready({ initialFiles: {} });
    expect(adapter.putCalls).toHaveLength(0);
  });

  it("a per-file failure rejects FILE_OPERATION_FAILED naming the file, and closes the sandbox", async () => {
    const adapter = new MemoryAdapter({ initialFiles: { "/ok.txt": "a", "/etc/shadow": "b" } });
    adapter.putWith = async (files) => files.map(([path]) => ({ path, error: path === "/etc/shadow" ? ("permission_denied" as const) : null }));
    const error = await sandboxErrorOf(() => adapter.initialize());
    expect(error.code).toBe("FILE_OPERATION_FAILED");
    expect(error.message).toContain("/etc/shadow (permission_denied)");
    expect(error.message).not.toContain("/ok.txt");
    expect(error.details.failed).toEqual([{ path: "/etc/shadow", error: "permission_denied" }]);
    expect(adapter.state).toBe("closed");
    expect(adapter.releases).toEqual([true]);
  });

  it("a transfer exception rejects FILE_OPERATION_FAILED with the cause", async () => {
    const adapter = new MemoryAdapter({ initialFiles: { "/a.txt": "a" } });
    const failure = new Error("connection reset");
    adapter.putWith = async () => Promise.reject(failure);
    const error = await sandboxErrorOf(() => adapter.initialize());
    expect(error.code).toBe("FILE_OPERATION_FAILED");
    expect(error.cause).toBe(failure);
  });

  // KNOWN BUG (reported): when putFiles throws (rather than reporting per-file
  // errors), initialize() rejects but never closes: the sandbox stays up and
  // the handle stays "ready" though the caller got an error and has no reason
  // to call close(). Fix in sandbox-adapter.ts initialize(): wrap the upload
  // in try/catch and `await this.close().catch(() => undefined)` before
  // rethrowing.
  it("a transfer exception also closes the sandbox", async () => {
    const adapter = new MemoryAdapter({ initialFiles: { "/a.txt": "a" } });
    adapter.putWith = async () => Promise.reject(new Error("connection reset"));
    await sandboxErrorOf(() => adapter.initialize());
    expect(adapter.state).toBe("closed");
    expect(adapter.releases).toEqual([true]);
  });
});

describe("SandboxAdapter.execute: results", () => {
  it("returns output, exit code and truncated:false", async () => {
    const adapter = await ready();
    adapter.behaviour = exits(0, "hello\n");
    expect(await adapter.execute("echo hello")).toEqual({ output: "hello\n", exitCode: 0, truncated: false });
  });

  it("a non-zero exit is a result, not an error", async () => {
    const adapter = await ready();
    adapter.behaviour = exits(42, "nope\n");
    expect(await adapter.execute("exit 42")).toEqual({ output: "nope\n", exitCode: 42, truncated: false });
    adapter.behaviour = exits(127);
    expect((await adapter.execute("missing-command")).exitCode).toBe(127);
  });

  it("combines stdout and stderr in arrival order", async () => {
    const adapter = await ready();
    adapter.behaviour = async (request) => {
      request.onStdout(bytes("out1 "));
      request.onStderr(bytes("err1 "));
      request.onStdout(bytes("out2"));
      return { exitCode: 0 };
    };
    expect((await adapter.execute("x")).output).toBe("out1 err1 out2");
  });

  it("hands the adapter the command, cwd and env; an empty env when none is given", async () => {
    const adapter = await ready();
    await adapter.execute("pwd", { cwd: "/work", env: { A: "1" } });
    await adapter.execute("pwd");
    expect(adapter.requests[0]).toMatchObject({ command: "pwd", cwd: "/work", env: { A: "1" } });
    expect(adapter.requests[1]).toMatchObject({ command: "pwd", cwd: undefined, env: {} });
    expect(adapter.requests[1]!.signal.aborted).toBe(false);
  });

  it("leaves no timer behind once a command finished (the host process can exit)", async () => {
    vi.useFakeTimers();
    const adapter = await ready();
    await adapter.execute("true");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a provider exception is COMMAND_FAILED with the cause", async () => {
    const adapter = await ready();
    const failure = new Error("socket hang up");
    adapter.behaviour = async () => Promise.reject(failure);
    const error = await sandboxErrorOf(() => adapter.execute("true"));
    expect(error.code).toBe("COMMAND_FAILED");
    expect(error.cause).toBe(failure);
    expect(error.message).toBe("could not run command: socket hang up");
    expect(error.retryable).toBe(true);
  });

  it("a SandboxError from the provider passes through unchanged", async () => {
    const adapter = await ready();
    const gone = new SandboxError("SANDBOX_NOT_FOUND", { provider: "memory" });
    adapter.behaviour = async () => Promise.reject(gone);
    await expect(adapter.execute("true")).rejects.toBe(gone);
  });

  it("no exit code without a kill is COMMAND_FAILED", async () => {
    const adapter = await ready();
    adapter.behaviour = exits(null, "half");
    const error = await sandboxErrorOf(() => adapter.execute("true"));
    expect(error.code).toBe("COMMAND_FAILED");
    expect(error.output).toBe("half");
  });

  it("scrubs registered secret values from messages that quote the provider", async () => {
    const adapter = await ready();
    adapter.addSecret("tok-SECRET-123");
    adapter.behaviour = async () => Promise.reject(new Error("401 for token tok-SECRET-123"));
    const error = await sandboxErrorOf(() => adapter.execute("true"));
    expect(error.message).not.toContain("tok-SECRET-123");
    expect(error.message).toContain("[redacted]");
  });

  // KNOWN BUG (reported): runCommand() is called outside execute()'s try, so
  // an adapter whose runCommand throws synchronously (a non-async method that
  // calls a client which throws) leaks the raw error instead of
  // COMMAND_FAILED, and leaves the timeout timer (default 5 min, keeps the
  // host process alive) and the caller's abort listener registered. Fix in
  // sandbox-adapter.ts around lines 269-276: start the run inside the try, e.g.
  // `const run = (async () => this.runCommand({...}))();`.
  it("a synchronous throw from runCommand is COMMAND_FAILED and leaves no timer", async () => {
    vi.useFakeTimers();
    const adapter = await ready();
    const failure = new Error("client is closed");
    adapter.behaviour = () => {
      throw failure;
    };
    const error = await sandboxErrorOf(() => adapter.execute("true"));
    expect(error.code).toBe("COMMAND_FAILED");
    expect(error.cause).toBe(failure);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("SandboxAdapter.execute: invalid arguments never reach the provider", () => {
  it.each<[string, string, ExecuteOptions]>([
    ["relative cwd", "true", { cwd: "work" }],
    ["cwd with ..", "true", { cwd: "/work/../etc" }],
    ["bad env name", "true", { env: { "BAD-NAME": "x" } }],
    ["non-string env value", "true", { env: { A: 1 as unknown as string } }],
    ["zero timeoutMs", "true", { timeoutMs: 0 }],
    ["negative timeoutMs", "true", { timeoutMs: -5 }],
    ["fractional timeoutMs", "true", { timeoutMs: 1.5 }],
    ["NaN timeoutMs", "true", { timeoutMs: Number.NaN }],
    ["zero maxOutputBytes", "true", { maxOutputBytes: 0 }],
    ["onStdout not a function", "true", { onStdout: "print" as unknown as () => void }],
    ["empty command", "", {}],
    ["NUL in command", "echo a\0b", {}],
    ["command one byte over MAX_COMMAND_BYTES", "x".repeat(MAX_COMMAND_BYTES + 1), {}],
    ["command over MAX_COMMAND_BYTES only in UTF-8 bytes", "é".repeat(MAX_COMMAND_BYTES / 2 + 1), {}],
  ])("%s -> INVALID_ARGUMENT", async (_label, command, options) => {
    const adapter = await ready();
    const error = await sandboxErrorOf(() => adapter.execute(command, options));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.provider).toBe("memory");
    expect(adapter.requests).toHaveLength(0);
  });

  it("a command of exactly MAX_COMMAND_BYTES runs; past it the error names the limit", async () => {
    const adapter = await ready();
    expect((await adapter.execute("é".repeat(MAX_COMMAND_BYTES / 2))).exitCode).toBe(0);
    const error = await sandboxErrorOf(() => adapter.execute("x".repeat(200_000)));
    expect(error.message).toContain(`maximum of ${MAX_COMMAND_BYTES} bytes`);
    expect(error.details).toMatchObject({ bytes: 200_000, maxBytes: MAX_COMMAND_BYTES });
  });

  it.each<[string, ExecuteOptions]>([
    ["cwd", { cwd: "relative" }],
    ["onStdout", { onStdout: "print" as unknown as () => void }],
    ["timeoutMs", { timeoutMs: 0 }],
  ])("a bad %s is named in details.option, as spawn() names it", async (option, options) => {
    const adapter = await ready();
    const error = await sandboxErrorOf(() => adapter.execute("true", options));
    expect(error.details).toMatchObject({ option });
  });

  it("names the option and does not quote env values", async () => {
    const adapter = await ready();
    const error = await sandboxErrorOf(() => adapter.execute("true", { env: { API_KEY: 123456789 as unknown as string } }));
    expect(error.message).toContain('"env"');
    expect(error.message).not.toContain("123456789");
  });

  // KNOWN BUG (reported): timeoutMs above 2^31-1 ms passes validation, but
  // Node's setTimeout clamps it to 1 ms (TimeoutOverflowWarning), so the
  // command is killed at once and the caller gets COMMAND_TIMEOUT. Fix in
  // sandbox-adapter.ts execute() (and the commandTimeoutMs setting): reject
  // timeoutMs > MAX_SANDBOX_TIMEOUT_MS (24 h; a command cannot outlive its
  // sandbox) with INVALID_ARGUMENT.
  it("a timeoutMs above 2^31-1 is either refused or honoured, never fired at once", async () => {
    const adapter = await ready();
    adapter.behaviour = (request) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ exitCode: 0 }), 30);
        request.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve({ exitCode: 137 });
        });
      });
    const outcome = await adapter.execute("sleep 0.03", { timeoutMs: 2 ** 31 }).then(
      (result) => result.exitCode,
      (error: SandboxError) => error.code,
    );
    expect([0, "INVALID_ARGUMENT"]).toContain(outcome);
  });
});

describe("SandboxAdapter.execute: timeout and abort", () => {
  it("has a finite default timeout: DEFAULT_COMMAND_TIMEOUT_MS, 5 minutes", async () => {
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(300_000);
    vi.useFakeTimers();
    const adapter = await ready();
    adapter.behaviour = hangs({ afterKill: "resolve" });
    const call = track(adapter.execute("sleep infinity"));
    await vi.advanceTimersByTimeAsync(DEFAULT_COMMAND_TIMEOUT_MS - 1);
    expect(adapter.events).not.toContain("kill-requested");
    expect(call.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.settled).toBe(true);
    const error = call.error as SandboxError;
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.details.timeoutMs).toBe(DEFAULT_COMMAND_TIMEOUT_MS);
  });

  it("the adapter's commandTimeoutMs setting replaces the default", async () => {
    vi.useFakeTimers();
    const adapter = await ready(undefined, { commandTimeoutMs: 2000 });
    adapter.behaviour = hangs({ afterKill: "resolve" });
    const call = track(adapter.execute("sleep infinity"));
    await vi.advanceTimersByTimeAsync(2000);
    expect((call.error as SandboxError).code).toBe("COMMAND_TIMEOUT");
    expect((call.error as SandboxError).details.timeoutMs).toBe(2000);
  });

  it("on timeout: asks the adapter to kill, waits for it, then rejects COMMAND_TIMEOUT with the partial output", async () => {
    const adapter = await ready();
    adapter.behaviour = hangs({ partial: "step 1\nstep 2\n", afterKill: "resolve" });
    const error = await sandboxErrorOf(() => adapter.execute("sleep 100", { timeoutMs: 20 }).finally(() => adapter.events.push("rejected")));
    expect(adapter.events.slice(-3)).toEqual(["kill-requested", "killed", "rejected"]);
    expect(adapter.requests[0]!.signal.aborted).toBe(true);
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.name).toBe("MemorySandboxError");
    expect(error.output).toBe("step 1\nstep 2\n");
    expect(error.truncated).toBe(false);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe("command timed out after 20 ms and was killed");
    expect(error.details).toMatchObject({ reason: "timeout", timeoutMs: 20, killConfirmed: true, exitCode: 137 });
  });

  it("on timeout, an adapter that rejects after the kill still gives COMMAND_TIMEOUT, with the cause", async () => {
    const adapter = await ready();
    adapter.behaviour = hangs({ partial: "x", afterKill: "reject" });
    const error = await sandboxErrorOf(() => adapter.execute("sleep 100", { timeoutMs: 20 }));
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.output).toBe("x");
    expect((error.cause as Error).message).toBe("exec stream closed");
    // A rejection proves nothing about the processes: not confirmed.
    expect(error.details.killConfirmed).toBe(false);
  });

  it("an adapter that resolves with killConfirmed false is reported as such", async () => {
    const adapter = await ready();
    adapter.behaviour = (request) =>
      new Promise((resolve) => request.signal.addEventListener("abort", () => resolve({ exitCode: null, killConfirmed: false })));
    const error = await sandboxErrorOf(() => adapter.execute("sleep 100", { timeoutMs: 20 }));
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.details.killConfirmed).toBe(false);
  });

  it("abort via AbortSignal kills and rejects COMMAND_TIMEOUT with details.reason 'aborted'", async () => {
    const adapter = await ready();
    adapter.behaviour = hangs({ partial: "working\n", afterKill: "resolve" });
    const controller = new AbortController();
    const call = adapter.execute("sleep 100", { signal: controller.signal }).finally(() => adapter.events.push("rejected"));
    expect(adapter.requests).toHaveLength(1);
    controller.abort();
    const error = await sandboxErrorOf(() => call);
    expect(adapter.events.slice(-3)).toEqual(["kill-requested", "killed", "rejected"]);
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.output).toBe("working\n");
    expect(error.message).toBe("command aborted by the caller and was killed");
    expect(error.details).toMatchObject({ reason: "aborted", killConfirmed: true });
  });

  it("an already-aborted signal rejects COMMAND_TIMEOUT without running anything", async () => {
    const adapter = await ready();
    const error = await sandboxErrorOf(() => adapter.execute("echo never", { signal: AbortSignal.abort() }));
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.details).toMatchObject({ reason: "aborted", started: false });
    expect(error.output).toBe("");
    expect(adapter.requests).toHaveLength(0);
  });

  it("aborting after the command finished changes nothing", async () => {
    const adapter = await ready();
    const controller = new AbortController();
    const result = await adapter.execute("echo hi", { signal: controller.signal });
    controller.abort();
    expect(result.exitCode).toBe(0);
    expect(adapter.requests[0]!.signal.aborted).toBe(false);
  });

  it("an adapter that never confirms the kill still gets COMMAND_TIMEOUT after KILL_CONFIRMATION_GRACE_MS, killConfirmed false", async () => {
    expect(Number.isFinite(KILL_CONFIRMATION_GRACE_MS)).toBe(true);
    vi.useFakeTimers();
    const adapter = await ready();
    adapter.behaviour = hangs({ partial: "stuck", afterKill: "never" });
    const call = track(adapter.execute("sleep 100", { timeoutMs: 1000 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(adapter.events).toContain("kill-requested");
    expect(call.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(KILL_CONFIRMATION_GRACE_MS - 1);
    expect(call.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.settled).toBe(true);
    const error = call.error as SandboxError;
    expect(error.code).toBe("COMMAND_TIMEOUT");
    expect(error.output).toBe("stuck");
    expect(error.details).toMatchObject({ reason: "timeout", killConfirmed: false, exitCode: null });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("SandboxAdapter.execute: output cap", () => {
  it("defaults to DEFAULT_MAX_OUTPUT_BYTES (1 MiB) and stays bounded for 20 MiB of output", async () => {
    expect(DEFAULT_MAX_OUTPUT_BYTES).toBe(1024 * 1024);
    const adapter = await ready();
    const chunk = new Uint8Array(64 * 1024).fill(0x79);
    adapter.behaviour = async (request) => {
      for (let index = 0; index < 320; index += 1) request.onStdout(chunk);
      return { exitCode: 0 };
    };
    const result = await adapter.execute("yes | head -c 20M");
    expect(result.truncated).toBe(true);
    expect(result.exitCode).toBe(0);
    expect(result.output.length).toBeLessThanOrEqual(DEFAULT_MAX_OUTPUT_BYTES);
    expect(result.output.length).toBe(DEFAULT_MAX_OUTPUT_BYTES);
  });

  it("honours a per-call maxOutputBytes, while streaming callbacks still see every chunk", async () => {
    const adapter = await ready();
    const chunk = new Uint8Array(64 * 1024).fill(0x7a);
    adapter.behaviour = async (request) => {
      for (let index = 0; index < 320; index += 1) request.onStdout(chunk);
      return { exitCode: 0 };
    };
    let streamed = 0;
    const result = await adapter.execute("x", { maxOutputBytes: 1000, onStdout: (text) => (streamed += text.length) });
    expect(result.output).toBe("z".repeat(1000));
    expect(result.truncated).toBe(true);
    expect(streamed).toBe(20 * 1024 * 1024);
  });

  it("the adapter setting maxOutputBytes replaces the default", async () => {
    const adapter = await ready(undefined, { maxOutputBytes: 4 });
    adapter.behaviour = exits(0, "123456");
    expect(await adapter.execute("x")).toEqual({ output: "1234", exitCode: 0, truncated: true });
  });

  it("a COMMAND_TIMEOUT's partial output is capped and flagged too", async () => {
    const adapter = await ready();
    adapter.behaviour = hangs({ partial: "0123456789", afterKill: "resolve" });
    const error = await sandboxErrorOf(() => adapter.execute("x", { timeoutMs: 10, maxOutputBytes: 4 }));
    expect(error.output).toBe("0123");
    expect(error.truncated).toBe(true);
  });
});

describe("SandboxAdapter.execute: streaming", () => {
  it("delivers decoded text per stream, never splitting a multi-byte character", async () => {
    const adapter = await ready();
    const emoji = bytes("😀"); // f0 9f 98 80
    adapter.behaviour = async (request) => {
      request.onStdout(new Uint8Array([0x61, 0xc3]));
      request.onStderr(emoji.subarray(0, 2));
      request.onStdout(new Uint8Array([0xa9, 0x62]));
      request.onStderr(emoji.subarray(2, 3));
      request.onStderr(emoji.subarray(3));
      return { exitCode: 0 };
    };
    const stdout: string[] = [];
    const stderr: string[] = [];
    await adapter.execute("x", { onStdout: (text) => stdout.push(text), onStderr: (text) => stderr.push(text) });
    expect(stdout).toEqual(["a", "éb"]);
    expect(stderr).toEqual(["😀"]);
    for (const text of [...stdout, ...stderr]) expect(text).not.toContain("\uFFFD");
  });

  it("calls back while the command runs, before it ends", async () => {
    const adapter = await ready();
    const seen: string[] = [];
    adapter.behaviour = async (request) => {
      request.onStdout(bytes("first"));
      adapter.events.push(`seen-before-end:${seen.join("")}`);
      return { exitCode: 0 };
    };
    await adapter.execute("x", { onStdout: (text) => seen.push(text) });
    expect(adapter.events).toContain("seen-before-end:first");
  });

  it("a throwing callback does not stop the command; its error is rethrown after the command settles", async () => {
    const adapter = await ready();
    const boom = new Error("callback failed");
    adapter.behaviour = async (request) => {
      request.onStdout(bytes("one"));
      await new Promise((resolve) => setTimeout(resolve, 5));
      request.onStdout(bytes("two"));
      adapter.events.push("settled");
      return { exitCode: 0 };
    };
    const call = adapter.execute("x", {
      onStdout: () => {
        throw boom;
      },
    });
    await expect(call.finally(() => adapter.events.push("rejected"))).rejects.toBe(boom);
    expect(adapter.events.slice(-2)).toEqual(["settled", "rejected"]);
  });

  // KNOWN BUG (reported, minor): the streaming decoders are never flushed, so
  // trailing bytes of an incomplete character at the end of a stream reach
  // the result (as U+FFFD) but never the callback. Fix in sandbox-adapter.ts
  // execute(): keep the decoders and, once the run settled, deliver
  // `decoder.decode()` when it is non-empty.
  it("streamed text and the result agree when a stream ends mid-character", async () => {
    const adapter = await ready();
    adapter.behaviour = exits(0, new Uint8Array([0x61, 0xc3]));
    let streamed = "";
    const result = await adapter.execute("x", { onStdout: (text) => (streamed += text) });
    expect(result.output).toBe("a\uFFFD");
    expect(streamed).toBe(result.output);
  });
});

describe("SandboxAdapter files", () => {
  it("uploadFiles: invalid paths get invalid_path without reaching the provider; results in input order", async () => {
    const adapter = await ready();
    const content = bytes("x");
    const results = await adapter.uploadFiles([
      ["/a.txt", content],
      ["relative.txt", content],
      ["/dir/", content],
      ["/b/../etc/passwd", content],
      ["/not-bytes.txt", "text" as unknown as Uint8Array],
      ["/c.bin", content],
    ]);
    expect(results).toEqual([
      { path: "/a.txt", error: null },
      { path: "relative.txt", error: "invalid_path" },
      { path: "/dir/", error: "invalid_path" },
      { path: "/b/../etc/passwd", error: "invalid_path" },
      { path: "/not-bytes.txt", error: "invalid_path" },
      { path: "/c.bin", error: null },
    ]);
    expect(adapter.putCalls.map((call) => call.map(([path]) => path))).toEqual([["/a.txt", "/c.bin"]]);
  });

  it("uploadFiles: a path nested with an earlier one of the batch goes to the provider after it, in input order", async () => {
    const adapter = await ready();
    const paths = ["/d/a", "/x", "/d", "/d/b", "//e/./f", "/e/f/g", "/x", "/y"];
    const results = await adapter.uploadFiles(paths.map((path) => [path, bytes(path)]));
    expect(results.map((result) => result.path)).toEqual(paths);
    expect(adapter.putCalls.map((call) => call.map(([path]) => path))).toEqual([["/d/a", "/x"], ["/d"], ["/d/b", "//e/./f"], ["/e/f/g", "/x", "/y"]]);
  });

  it("uploadFiles: only invalid paths, or none, never calls the provider", async () => {
    const adapter = await ready();
    expect(await adapter.uploadFiles([["rel", bytes("x")]])).toEqual([{ path: "rel", error: "invalid_path" }]);
    expect(await adapter.uploadFiles([])).toEqual([]);
    expect(adapter.putCalls).toHaveLength(0);
  });

  it("uploadFiles: the provider's per-file errors land at their input positions", async () => {
    const adapter = await ready();
    adapter.putWith = async (files) => files.map(([path]) => ({ path, error: path === "/root/x" ? ("permission_denied" as const) : null }));
    const results = await adapter.uploadFiles([
      ["bad", bytes("1")],
      ["/root/x", bytes("2")],
      ["/tmp/y", bytes("3")],
    ]);
    expect(results.map((result) => result.error)).toEqual(["invalid_path", "permission_denied", null]);
  });

  it("downloadFiles: mixed valid and invalid paths, results in input order", async () => {
    const adapter = await ready();
    adapter.files.set("/a.txt", bytes("A"));
    const results = await adapter.downloadFiles(["/a.txt", "rel.txt", "/missing", "/x/../a.txt"]);
    expect(results).toEqual([
      { path: "/a.txt", content: bytes("A"), error: null },
      { path: "rel.txt", content: null, error: "invalid_path" },
      { path: "/missing", content: null, error: "file_not_found" },
      { path: "/x/../a.txt", content: null, error: "invalid_path" },
    ]);
    expect(adapter.getCalls).toEqual([["/a.txt", "/missing"]]);
  });

  it("a transfer exception is FILE_OPERATION_FAILED with the cause; a SandboxError passes through", async () => {
    const adapter = await ready();
    const failure = new Error("tar stream ended");
    adapter.putWith = async () => Promise.reject(failure);
    const error = await sandboxErrorOf(() => adapter.uploadFiles([["/a", bytes("x")]]));
    expect(error.code).toBe("FILE_OPERATION_FAILED");
    expect(error.cause).toBe(failure);
    const gone = new SandboxError("SANDBOX_NOT_FOUND", { provider: "memory" });
    adapter.getWith = async () => Promise.reject(gone);
    await expect(adapter.downloadFiles(["/a"])).rejects.toBe(gone);
  });

  it("a non-array argument is INVALID_ARGUMENT", async () => {
    const adapter = await ready();
    expect((await sandboxErrorOf(() => adapter.uploadFiles("/a" as never))).code).toBe("INVALID_ARGUMENT");
    expect((await sandboxErrorOf(() => adapter.downloadFiles("/a" as never))).code).toBe("INVALID_ARGUMENT");
  });

  it("deepagents' write (from BaseSandbox) goes through uploadFiles and its validation", async () => {
    const adapter = await ready();
    expect(await adapter.write("/notes/todo.txt", "buy milk")).toMatchObject({ path: "/notes/todo.txt" });
    expect(adapter.files.get("/notes/todo.txt")).toEqual(bytes("buy milk"));
    expect(await adapter.write("notes.txt", "x")).toEqual({ error: "Failed to write to notes.txt: invalid_path" });
  });
});

describe("SandboxAdapter secret scrubbing", () => {
  it("redacts known secrets from the message and from the cause's message", async () => {
    const adapter = await ready();
    adapter.addSecret("tok-live-5e6f7a8b");
    adapter.behaviour = async () => {
      throw new TypeError("provider said: 401 for token tok-live-5e6f7a8b");
    };
    const error = await sandboxErrorOf(() => adapter.execute("echo"));
    expect(error.code).toBe("COMMAND_FAILED");
    expect(error.message).not.toContain("tok-live-5e6f7a8b");
    expect(error.message).toContain("[redacted]");
    expect((error.cause as Error).message).toBe("provider said: 401 for token [redacted]");
    expect((error.cause as Error).name).toBe("TypeError");
  });
});

describe("SandboxAdapter errors come in the adapter's own class", () => {
  it("INVALID_OPTIONS from the constructor is the adapter's subclass", () => {
    const error = sandboxErrorThrownBy(() => new MemoryAdapter({ cpu: -1 }));
    expect(error).toBeInstanceOf(MemorySandboxError);
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.message).toBe('invalid option "cpu": must be a number of cores greater than 0 and at most 1024, got -1');
    expect(error.details).toEqual({ option: "cpu" });
  });

  it("INVALID_ARGUMENT from execute() validation is the adapter's subclass", async () => {
    const adapter = await ready();
    for (const options of [{ timeoutMs: 0 }, { maxOutputBytes: -1 }, { env: { "1BAD": "x" } }, { cwd: "relative" }]) {
      const error = await sandboxErrorOf(() => adapter.execute("echo", options));
      expect(error, JSON.stringify(options)).toBeInstanceOf(MemorySandboxError);
      expect(error.code).toBe("INVALID_ARGUMENT");
    }
  });

  it("a bad execute() option is named as passed: a string quoted (\"1000\" is no number), NaN as NaN, a cwd with '..' for its '..'", async () => {
    const adapter = await ready();
    const cases: Array<[ExecuteOptions, string]> = [
      [{ timeoutMs: "1000" as never }, 'invalid option "timeoutMs": must be a positive whole number, got "1000"'],
      [{ timeoutMs: Number.NaN }, 'invalid option "timeoutMs": must be a positive whole number, got NaN'],
      [{ maxOutputBytes: {} as never }, 'invalid option "maxOutputBytes": must be a positive whole number, got an object'],
      [{ cwd: 5 as never }, "invalid option \"cwd\": must be an absolute path without '..', got 5"],
      [{ cwd: "/work/../etc" }, 'invalid option "cwd": must be an absolute path without \'..\', got "/work/../etc"'],
    ];
    for (const [options, message] of cases) expect((await sandboxErrorOf(() => adapter.execute("echo", options))).message).toBe(message);
    expect(sandboxErrorThrownBy(() => new MemoryAdapter({ cpu: 2048 })).message).toBe(
      'invalid option "cpu": must be a number of cores greater than 0 and at most 1024, got 2048',
    );
  });

  it("hands the effective timeout to runCommand", async () => {
    const adapter = await ready(undefined, { commandTimeoutMs: 42_000 });
    await adapter.execute("echo");
    await adapter.execute("echo", { timeoutMs: 1_000 });
    expect(adapter.requests.map((request) => request.timeoutMs)).toEqual([42_000, 1_000]);
  });
});

describe("SandboxAdapter processes and ports: defaults fail loudly", () => {
  const calls: Array<[string, (adapter: MemoryAdapter) => Promise<unknown>, string]> = [
    ["spawn()", (adapter) => adapter.spawn("echo hi"), "processes"],
    ["listProcesses()", (adapter) => adapter.listProcesses(), "processReattach"],
    ["attachProcess()", (adapter) => adapter.attachProcess("p1"), "processReattach"],
    ["portUrl()", (adapter) => adapter.portUrl(8080), "ports"],
    ["exposePort()", (adapter) => adapter.exposePort(8080), "portsAtRuntime"],
  ];

  it.each(calls)("%s without the capability rejects UNSUPPORTED_CAPABILITY naming provider, call and capability", async (call, invoke, capability) => {
    const adapter = new MemoryAdapter(undefined, { capabilities: allCapabilities(false) });
    await adapter.initialize();
    const error = await invoke(adapter).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(SandboxError.isInstance(error) && error.code).toBe("UNSUPPORTED_CAPABILITY");
    expect((error as SandboxError).message).toContain('"memory"');
    expect((error as SandboxError).message).toContain(call);
    expect((error as SandboxError).details).toEqual({ call, capability });
  });

  it.each(calls)("%s declared but not implemented by the adapter still rejects UNSUPPORTED_CAPABILITY", async (_call, invoke) => {
    const adapter = new MemoryAdapter();
    await adapter.initialize();
    const error = await invoke(adapter).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(SandboxError.isInstance(error) && error.code).toBe("UNSUPPORTED_CAPABILITY");
  });

  it("spawn with a pty needs the pty capability", async () => {
    const adapter = new MemoryAdapter(undefined, { capabilities: { ...allCapabilities(true), pty: false } });
    await adapter.initialize();
    const error = await adapter.spawn("sh", { pty: { cols: 80, rows: 24 } }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect((error as SandboxError).details).toEqual({ call: "spawn() with a pty", capability: "pty" });
  });

  it.each([
    ["", {}],
    ["echo", { cwd: "relative" }],
    ["echo", { timeoutMs: 0 }],
    ["echo", { env: { "BAD NAME": "x" } }],
    ["echo", { pty: { cols: 0, rows: 24 } }],
  ] as const)("spawn(%j, %j) rejects INVALID_ARGUMENT", async (command, options) => {
    const adapter = new MemoryAdapter();
    await adapter.initialize();
    const error = await adapter.spawn(command, options as never).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(SandboxError.isInstance(error) && error.code).toBe("INVALID_ARGUMENT");
  });

  it("attachProcess rejects a negative offset and portUrl a non-port with INVALID_ARGUMENT", async () => {
    const adapter = new MemoryAdapter();
    await adapter.initialize();
    for (const action of [() => adapter.attachProcess("p1", { fromOffset: -1 }), () => adapter.portUrl(70_000)]) {
      const error = await action().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(SandboxError.isInstance(error) && error.code).toBe("INVALID_ARGUMENT");
    }
  });

  it.each([
    [Number.NaN, "NaN is not a TCP port"],
    [Number.POSITIVE_INFINITY, "Infinity is not a TCP port"],
    ["80", '"80" is not a TCP port'],
    [undefined, "undefined is not a TCP port"],
  ])("portUrl(%s) names the value as passed (JSON printed NaN and Infinity as null)", async (port, message) => {
    const adapter = new MemoryAdapter();
    await adapter.initialize();
    const error = await adapter.portUrl(port as number).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(SandboxError.isInstance(error) && error.message).toContain(message);
  });
});
