import { randomBytes } from "node:crypto";
import { mkdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import type { CommandOutcome, CommandRequest, SandboxCapabilities, SandboxErrorCode, SandboxErrorOptions, SandboxOptions } from "@sandbox/core";
import { allCapabilities, cwdProblemIn, DEFAULT_SANDBOX_TIMEOUT_MS, initialized, SandboxAdapter, SandboxError } from "@sandbox/core";
import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import { CHROOT_PROVIDER, ChrootSandboxError } from "./chroot-error.js";
import { processesRootedAt } from "./host-processes.js";
import { assertStaticBusybox, DEFAULT_BUSYBOX, type HostTools, hostTools, STANDARD_PATH } from "./host-tools.js";
import { getFilesInRoot, makeDirectoryInRoot, putFilesInRoot } from "./root-files.js";
import { exitCodeOfSignal, runInSandbox } from "./run-command.js";
import { isKeeperAlive, startKeeper, stopKeeper } from "./sandbox-keeper.js";
import { BUILTIN_IMAGE, buildSandboxRoot, copyImageRoot } from "./sandbox-root.js";

/** Options of {@link ChrootSandbox}: the common options plus where sandboxes live. */
export interface ChrootSandboxOptions extends SandboxOptions {
  /**
   * The registry directory: one sub-directory per sandbox, named by its id.
   * Default `$CHROOT_SANDBOX_DIR`, else `<os tmpdir>/chroot-sandboxes`.
   * `fromId` must be given the same directory as `create`.
   */
  baseDir?: string;
  /**
   * Where images other than the built-in `"busybox"` live: `imageName: "x"`
   * copies the root file system in `<imagesDir>/x` (for instance one made by
   * `debootstrap --variant=minbase bookworm <imagesDir>/bookworm`).
   * Default `$CHROOT_SANDBOX_IMAGES`, else `/var/lib/chroot-sandbox/images`.
   */
  imagesDir?: string;
  /** Static busybox the built-in image is made of. Default `/bin/busybox` (Debian's `busybox-static`). */
  busyboxPath?: string;
  /** Default per-command timeout in ms. Default `DEFAULT_COMMAND_TIMEOUT_MS` (5 min). */
  commandTimeoutMs?: number;
  /** Default output cap per command in bytes. Default `DEFAULT_MAX_OUTPUT_BYTES` (1 MiB). */
  maxOutputBytes?: number;
}

/** Options accepted by {@link ChrootSandbox.fromId}. */
export type ChrootReconnectOptions = Pick<ChrootSandboxOptions, "baseDir" | "commandTimeoutMs" | "maxOutputBytes">;

const EXTRA_OPTION_KEYS = ["baseDir", "imagesDir", "busyboxPath", "commandTimeoutMs", "maxOutputBytes"] as const;
const SANDBOX_ID = /^chroot-[0-9a-f]{12}$/;

/**
 * What this adapter can honour, stated honestly; the conformance suite skips
 * the cases of every `false` and checks that asking for it fails loudly.
 */
export const CHROOT_CAPABILITIES: SandboxCapabilities = Object.freeze({
  ...allCapabilities(false),
  blockNetwork: true, // the sandbox gets its own network namespace with only loopback
  reconnectById: true, // the id is a directory name; any process can find it again
  lifetime: true, // a sleep inside the sandbox is its pid 1's lifetime; the host may die meanwhile
  streaming: true, // output is read from pipes as it comes
  processKill: true, // each command is a pid namespace, killed whole
  // gpu, volumes, secrets, resourceLimits (cpu, memoryMiB), reconnectByName
  // (name), processes, processReattach, pty, ports and portsAtRuntime are not implemented: asking for them throws UNSUPPORTED_CAPABILITY.
});

/** What a sandbox directory records for handles created later by `fromId`. */
interface SandboxRecord {
  initPid: number;
  workdir: string;
  env: Record<string, string>;
  expiresAt: string;
}

/**
 * The registry directory, as an absolute path without symlinks (processes
 * are matched by their root's exact path). Created with the first sandbox and
 * removed with the last, so nothing stays behind.
 */
async function registryDirectory(baseDir: string | undefined): Promise<string> {
  const directory = baseDir ?? process.env.CHROOT_SANDBOX_DIR ?? join(tmpdir(), "chroot-sandboxes");
  return join(await realpath(dirname(directory)), basename(directory));
}

/**
 * A sandbox that is a directory on this Linux host: a static busybox root,
 * entered with chroot inside its own pid and mount namespaces (and network
 * namespace with `blockNetwork`). Needs root, util-linux and
 * `busybox-static`. An example to learn from and to copy, not a security
 * boundary: code running as root inside can leave a chroot.
 *
 * @example
 * ```ts
 * const sandbox = await ChrootSandbox.create({ blockNetwork: true });
 * try {
 *   console.log((await sandbox.execute("echo hello from $(hostname)")).output);
 * } finally {
 *   await sandbox.close();
 * }
 * ```
 */
export class ChrootSandbox extends SandboxAdapter<ChrootSandboxOptions> {
  #tools: HostTools | undefined;
  #dir = "";
  #record: SandboxRecord | undefined;

  /** Validates options (throws `INVALID_OPTIONS` / `UNSUPPORTED_CAPABILITY` at once); `initialize()` creates. */
  constructor(options: ChrootSandboxOptions = {}) {
    super(options, {
      provider: CHROOT_PROVIDER,
      capabilities: CHROOT_CAPABILITIES,
      extraOptionKeys: EXTRA_OPTION_KEYS,
      commandTimeoutMs: options?.commandTimeoutMs,
      maxOutputBytes: options?.maxOutputBytes,
    });
    for (const option of ["baseDir", "imagesDir", "busyboxPath"] as const) {
      const value = this.options[option];
      if (value !== undefined && (typeof value !== "string" || !isAbsolute(value))) {
        throw this.error("INVALID_OPTIONS", { message: `invalid option "${option}": must be an absolute path`, details: { option } });
      }
    }
  }

  /** Creates and initializes a sandbox. */
  static async create(options: ChrootSandboxOptions = {}): Promise<ChrootSandbox> {
    return initialized(new ChrootSandbox(options));
  }

  /**
   * A live handle on an existing sandbox, from this or another process.
   * @throws `SANDBOX_NOT_FOUND` when no running sandbox has this id.
   */
  static async fromId(id: string, options: ChrootReconnectOptions = {}): Promise<ChrootSandbox> {
    const sandbox = new ChrootSandbox(options);
    await sandbox.start(async () => {
      if (typeof id !== "string" || !SANDBOX_ID.test(id)) {
        throw sandbox.error("SANDBOX_NOT_FOUND", { message: `no sandbox with id ${JSON.stringify(id)}` });
      }
      sandbox.#tools = hostTools();
      sandbox.#dir = join(await registryDirectory(options.baseDir), id);
      const record = await readFile(join(sandbox.#dir, "sandbox.json"), "utf8").then(
        (text) => JSON.parse(text) as SandboxRecord,
        () => undefined,
      );
      if (!record || !isKeeperAlive(record.initPid, sandbox.root)) {
        throw sandbox.error("SANDBOX_NOT_FOUND", { message: `no running sandbox with id "${id}" in ${sandbox.#dir}` });
      }
      sandbox.#record = record;
      return id;
    });
    return sandbox;
  }

  /** The sandbox's root directory on the host. @throws `NOT_INITIALIZED` before initialization. */
  get rootDirectory(): string {
    this.assertReady();
    return this.root;
  }

  private get root(): string {
    return join(this.#dir, "root");
  }

  protected override error(code: SandboxErrorCode, options: SandboxErrorOptions = {}): SandboxError {
    return new ChrootSandboxError(code, this.scrub(options));
  }

  // ---- the six primitives ----------------------------------------------------

  protected async provision(): Promise<string> {
    const tools = hostTools();
    const fillRoot = await this.imageFiller();
    const id = `chroot-${randomBytes(6).toString("hex")}`;
    const lifetimeMs = this.options.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS;
    const workdir = this.options.workdir ?? "/";
    let initPid: number | undefined;
    try {
      this.#dir = join(await registryDirectory(this.options.baseDir), id);
      await mkdir(this.#dir, { recursive: true, mode: 0o700 }); // and the registry directory
      await mkdir(this.root);
      await fillRoot(this.root);
      await makeDirectoryInRoot(this.root, workdir);
      initPid = await startKeeper({ dir: this.#dir, lifetimeSeconds: lifetimeMs / 1000, blockNetwork: this.options.blockNetwork === true });
      const record: SandboxRecord = { initPid, workdir, env: { ...(this.options.env ?? {}) }, expiresAt: new Date(Date.now() + lifetimeMs).toISOString() };
      await writeFile(join(this.#dir, "sandbox.json"), JSON.stringify(record), { mode: 0o600 });
      this.#tools = tools;
      this.#record = record;
      return id;
    } catch (error) {
      if (this.#dir !== "") await stopKeeper(initPid, this.#dir).catch(() => undefined);
      if (SandboxError.isInstance(error)) throw error;
      throw this.error("SANDBOX_CREATION_FAILED", { message: `could not create the sandbox root: ${String(error)}`, cause: error });
    }
  }

  /**
   * How to fill a new root with the requested image, checked before anything
   * is created: the built-in busybox, or a copy of `<imagesDir>/<imageName>`.
   * @throws `SANDBOX_CREATION_FAILED` naming the image when it is not there.
   */
  private async imageFiller(): Promise<(root: string) => Promise<void>> {
    const imageName = this.options.imageName ?? BUILTIN_IMAGE;
    if (imageName === BUILTIN_IMAGE) {
      const busybox = this.options.busyboxPath ?? DEFAULT_BUSYBOX;
      assertStaticBusybox(busybox);
      return (root) => buildSandboxRoot(root, busybox);
    }
    const imagesDir = this.options.imagesDir ?? process.env.CHROOT_SANDBOX_IMAGES ?? "/var/lib/chroot-sandbox/images";
    const image = join(imagesDir, imageName);
    const problem: unknown = relative(imagesDir, image).startsWith("..")
      ? new Error("the name leaves the images directory")
      : await stat(image).then(
          (info) => (info.isDirectory() ? undefined : new Error(`${image} is not a directory`)),
          (error: unknown) => error,
        );
    if (problem !== undefined) {
      throw this.error("SANDBOX_CREATION_FAILED", {
        message: `image "${imageName}" is neither "${BUILTIN_IMAGE}" nor a root file system in ${imagesDir}: ${problem instanceof Error ? problem.message : String(problem)}`,
        cause: problem,
        details: { imageName },
      });
    }
    return (root) => copyImageRoot(image, root);
  }

  protected async runCommand(request: CommandRequest): Promise<CommandOutcome> {
    const record = this.#record!;
    this.assertAlive();
    const end = await runInSandbox(request, {
      tools: this.#tools!,
      initPid: record.initPid,
      root: this.root,
      cwd: request.cwd ?? record.workdir,
      env: { PATH: STANDARD_PATH, HOME: "/root", ...record.env, ...request.env },
    });
    // Killed on our request: core turns this into COMMAND_TIMEOUT.
    if (request.signal.aborted) return { exitCode: null };
    // The cwd could not be entered: core rejects with INVALID_ARGUMENT naming it.
    const cwdProblem = end.exitCode === 126 ? cwdProblemIn(end.toolErrors) : undefined;
    if (cwdProblem !== undefined) return { exitCode: 126, cwdProblem };
    if (end.toolErrors !== "" || end.signal !== null) {
      this.assertAlive(); // The sandbox ended under the command (close elsewhere, lifetime).
      if (end.toolErrors !== "") {
        throw this.error("COMMAND_FAILED", { message: `could not run the command: ${end.toolErrors}`, details: { exitCode: end.exitCode } });
      }
      return { exitCode: exitCodeOfSignal(end.signal!) };
    }
    return { exitCode: end.exitCode };
  }

  protected async putFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    this.assertAlive();
    return putFilesInRoot(this.root, files);
  }

  protected async getFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    this.assertAlive();
    return getFilesInRoot(this.root, paths);
  }

  protected async checkRunning(): Promise<boolean> {
    return isKeeperAlive(this.#record!.initPid, this.root);
  }

  protected async release(terminate: boolean): Promise<void> {
    // detach() leaves the sandbox running until its lifetime ends.
    if (!terminate || this.#dir === "") return;
    await stopKeeper(this.#record?.initPid, this.#dir);
  }

  /** @throws `SANDBOX_NOT_FOUND` once the sandbox ended (closed through another handle, or expired). */
  private assertAlive(): void {
    if (!isKeeperAlive(this.#record!.initPid, this.root)) {
      throw this.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (its lifetime ended or it was closed)" });
    }
  }
}

/**
 * Provider probe that does not go through a handle: does anything of the
 * sandbox `id` remain on this host, files or processes? Used by the
 * conformance suite to prove that `close()` and the lifetime leave nothing.
 */
export async function chrootSandboxExists(id: string, baseDir?: string): Promise<boolean> {
  const dir = join(await registryDirectory(baseDir), id);
  const files = await stat(dir).then(
    () => true,
    () => false,
  );
  return files || processesRootedAt(join(dir, "root")).length > 0;
}
