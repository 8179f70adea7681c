import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import { describe, expect, it } from "vitest";
import type { CommandOutcome, CommandRequest } from "../adapter/command-request.js";
import { SandboxAdapter } from "../adapter/sandbox-adapter.js";
import { allCapabilities } from "../contract/capabilities.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import type { ResolvedSandboxClaim } from "./sandbox-claim.js";
import { createSandboxPool } from "./sandbox-pool.js";

// Pool logic against an in-memory adapter; the real thing (containers, the
// lifetime watchdog) is covered by local-docker's pool tests.

let created = 0;

class MemorySandbox extends SandboxAdapter {
  readonly claims: ResolvedSandboxClaim[] = [];
  readonly files = new Map<string, Uint8Array>();
  constructor(
    options: SandboxOptions | undefined,
    private readonly claimable: boolean,
  ) {
    super(options, { provider: "memory", capabilities: allCapabilities(true) });
  }
  override get supportsClaim(): boolean {
    return this.claimable;
  }
  protected override async claimSandbox(claim: ResolvedSandboxClaim): Promise<void> {
    this.claims.push(claim);
  }
  get createdWith(): SandboxOptions {
    return this.options;
  }
  protected async provision(): Promise<string> {
    created += 1;
    return `mem-${created}`;
  }
  protected async runCommand(_request: CommandRequest): Promise<CommandOutcome> {
    return { exitCode: 0 };
  }
  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    return files.map(([path, content]) => {
      this.files.set(path, content);
      return { path, error: null };
    });
  }
  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    return paths.map((path) => ({ path, content: null, error: "file_not_found" as const }));
  }
  protected async checkRunning(): Promise<boolean> {
    return true;
  }
  protected async release(): Promise<void> {}
}

const make =
  (claimable = true) =>
  async (options: SandboxOptions) => {
    const sandbox = new MemorySandbox(options, claimable);
    await sandbox.initialize();
    return sandbox;
  };

describe("createSandboxPool", () => {
  it("starts pooled sandboxes with the pool's lifetime and no claim options, then applies the claim", async () => {
    const pool = createSandboxPool({ create: make(), options: { imageName: "img", env: { BASE: "1" }, workdir: "/base" }, size: 2, maxLifetimeMs: 600_000 });
    await pool.ready();
    const sandbox = await pool.claim({ env: { X: "y" }, initialFiles: { "/a.txt": "A" }, timeoutMs: 60_000 });
    expect(sandbox.createdWith).toEqual({ imageName: "img", timeoutMs: 600_000 });
    expect(sandbox.claims).toEqual([{ env: { X: "y" }, workdir: "/base", timeoutMs: 60_000 }]);
    expect(new TextDecoder().decode(sandbox.files.get("/a.txt"))).toBe("A");
    expect(pool.stats.warmClaims).toBe(1);
    await pool.close();
  });

  it("defaults the claimed lifetime to the default sandbox lifetime", async () => {
    const pool = createSandboxPool({ create: make(), size: 1 });
    await pool.ready();
    const sandbox = await pool.claim();
    expect(sandbox.claims[0]!.timeoutMs).toBe(300_000);
    await pool.close();
  });

  it("creates cold for incompatible requests, with the caller's options laid over the pool's", async () => {
    const pool = createSandboxPool({ create: make(), options: { imageName: "img" }, size: 1, maxLifetimeMs: 600_000 });
    await pool.ready();
    for (const request of [{ imageName: "other" }, { cpu: 1 }, { volumes: { "/v": "vol" } }, { name: "n" }, { timeoutMs: 1_200_000 }]) {
      const sandbox = await pool.claim(request);
      expect(sandbox.claims).toEqual([]);
      expect(sandbox.createdWith).toMatchObject({ imageName: "img", ...request });
    }
    expect(pool.stats).toMatchObject({ warmClaims: 0, coldCreates: 5, idle: 1 });
    expect(pool.isCompatible({ volumes: {} })).toBe(false);
    expect(pool.isCompatible({ imageName: "img", env: { A: "b" }, secrets: ["s"] })).toBe(true);
    await pool.close();
  });

  it("creates cold when the adapter cannot take claims, and stops keeping sandboxes", async () => {
    const pool = createSandboxPool({ create: make(false), size: 2 });
    await pool.ready();
    expect(pool.stats.idle).toBe(0);
    const sandbox = await pool.claim({ env: { A: "b" } });
    expect(sandbox.claims).toEqual([]);
    expect(pool.stats).toMatchObject({ warmClaims: 0, coldCreates: 1 });
    await pool.close();
  });

  it("closes the pooled sandbox and rethrows when a claim is invalid", async () => {
    const pool = createSandboxPool({ create: make(), size: 1 });
    await pool.ready();
    await expect(pool.claim({ env: { "1BAD": "x" } })).rejects.toMatchObject({ code: "INVALID_OPTIONS", provider: "memory" });
    await expect(pool.claim({ workdir: "relative" })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await pool.close();
  });

  it("applyClaim is refused by adapters without claim support, and on unknown keys", async () => {
    const plain = await make(false)({});
    await expect(plain.applyClaim({})).rejects.toMatchObject({ code: "UNSUPPORTED_CAPABILITY" });
    const claimable = await make(true)({});
    await expect(claimable.applyClaim({ cpu: 2 } as never)).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"cpu"') });
  });

  it("reports start failures, backs off, and rejects ready() with the error", async () => {
    const errors: unknown[] = [];
    const pool = createSandboxPool({
      create: async () => {
        throw new Error("engine down");
      },
      size: 1,
      onError: (error) => errors.push(error),
    });
    await expect(pool.ready()).rejects.toThrow("engine down");
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Backing off: not retried within 100 ms of the first failure.
    expect(errors).toHaveLength(1);
    await pool.close();
  });

  it("refuses bad settings naming the setting", () => {
    expect(() => createSandboxPool({ create: make(), size: 1.5 })).toThrow(/"size"/);
    expect(() => createSandboxPool({ create: make(), size: 1, maxLifetimeMs: 1_000 })).toThrow(/"maxLifetimeMs"/);
    expect(() => createSandboxPool({ create: make(), size: 1, maxConcurrentStarts: 0 })).toThrow(/"maxConcurrentStarts"/);
    expect(() => createSandboxPool({ create: make(), size: 1, options: { name: "x" } })).toThrow(/"options.name"/);
    expect(() => createSandboxPool({ create: "no" as never, size: 1 })).toThrow(/"create"/);
  });

  it("claims after close() reject with SANDBOX_CLOSED", async () => {
    const pool = createSandboxPool({ create: make(), size: 1 });
    await pool.close();
    await expect(pool.claim()).rejects.toMatchObject({ code: "SANDBOX_CLOSED" });
  });
});
