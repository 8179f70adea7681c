import { execFile } from "node:child_process";
import { open } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";

const execFileAsync = promisify(execFile);
/** Exit statuses of a command that is not installed / cannot run. */
const NOT_RUNNABLE = new Set([126, 127]);
/** How long one privileged mount / umount may take. */
const MOUNT_COMMAND_TIMEOUT_MS = 15_000;

/**
 * The statically linked busybox on the host that performs mounts inside a
 * sandbox's mount namespace. It must be the host's, never the sandbox's:
 * that process holds every capability on the host, and a binary the sandbox
 * could replace would be a way out of it.
 */
function staticBusyboxPath(): string {
  return process.env.MODAL_EMULATOR_STATIC_BUSYBOX ?? "/bin/busybox";
}

/** True when the file is an ELF executable without a program interpreter (statically linked). */
async function isStaticExecutable(path: string): Promise<boolean> {
  const file = await open(path, "r").catch(() => undefined);
  if (!file) return false;
  try {
    const head = Buffer.alloc(8192);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    return bytes.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && !bytes.includes("/ld-linux") && !bytes.includes("/ld-musl");
  } finally {
    await file.close();
  }
}

/**
 * Why this process cannot mount inside a sandbox, or `undefined` when it
 * can: that needs root on the machine that runs the containers, a local
 * engine (the namespace is entered by the container's pid), `nsenter`, and a
 * statically linked busybox (`/bin/busybox`, or `MODAL_EMULATOR_STATIC_BUSYBOX`).
 */
export async function mountNamespaceUnsupportedReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "it must run as root to mount inside a sandbox's mount namespace";
  const dockerHost = process.env.DOCKER_HOST ?? "";
  if (dockerHost !== "" && !dockerHost.startsWith("unix://")) return `the Docker engine (${dockerHost}) is not on this machine`;
  const found = await execFileAsync("sh", ["-c", "command -v nsenter"]).then(
    () => true,
    () => false,
  );
  if (!found) return "`nsenter` is not installed";
  const busybox = staticBusyboxPath();
  if (!basename(busybox).startsWith("busybox") || !(await isStaticExecutable(busybox))) {
    return `there is no statically linked busybox at ${busybox} (set MODAL_EMULATOR_STATIC_BUSYBOX)`;
  }
  return undefined;
}

/** The pid (on this host) of a running container's first process. */
export async function containerPid(container: EngineContainer): Promise<number> {
  const pid = (await container.inspect()).State?.Pid;
  if (!pid) fail(Status.FAILED_PRECONDITION, "the sandbox's container is not running");
  return pid;
}

/**
 * Runs the host's static busybox `applet` (`mount`, `umount`) in the mount
 * namespace of the container whose first process is `pid`. Its root is the
 * busybox's host directory and its working directory the container's root,
 * so `relativePath` (no leading `/`) is looked up in the container's tree,
 * while an absolute symlink planted by the sandbox leads into that host
 * directory, which is not in the namespace: the kernel refuses to mount there.
 */
export async function runMountApplet(pid: number, applet: "mount" | "umount", args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const busybox = staticBusyboxPath();
  const argv = ["-t", String(pid), "-m", `--root=${dirname(busybox)}`, `--wd=/proc/${pid}/root`, "--", `/${basename(busybox)}`, applet, ...args];
  return execFileAsync("nsenter", argv, { timeout: MOUNT_COMMAND_TIMEOUT_MS }).then(
    () => ({ exitCode: 0, stderr: "" }),
    (error: { code?: number; stderr?: string; message: string }) => ({
      exitCode: typeof error.code === "number" ? error.code : 1,
      stderr: (error.stderr ?? error.message).trim(),
    }),
  );
}

/** What one command run in the sandbox gave. */
export interface SandboxCommandResult {
  exitCode: number;
  stderr: string;
}

/**
 * Runs `argv` in the sandbox as an ordinary exec (the sandbox's own tools
 * and privileges: nothing it could not do itself). `stdin` is piped in;
 * stdout goes to `stdout`, with flow control.
 */
export async function runInSandbox(
  container: EngineContainer,
  argv: string[],
  options: { stdin?: Readable; stdout?: Writable } = {},
): Promise<SandboxCommandResult> {
  const stderr: Buffer[] = [];
  let stream: { pause(): void; resume(): void } | undefined;
  const exec = await container.exec(argv, {
    stdin: options.stdin !== undefined,
    onStdout: (chunk) => {
      if (options.stdout && !options.stdout.write(chunk)) {
        stream?.pause();
        options.stdout.once("drain", () => stream?.resume());
      }
    },
    onStderr: (chunk) => {
      if (stderr.length < 64) stderr.push(chunk);
    },
  });
  stream = exec.stream;
  if (options.stdin && exec.stdin) {
    exec.stdin.on("error", () => undefined);
    options.stdin.pipe(exec.stdin);
  }
  const { exitCode } = await exec.done;
  return { exitCode: exitCode ?? 137, stderr: Buffer.concat(stderr).toString("utf8").trim() };
}

/**
 * Fails with FAILED_PRECONDITION when the sandbox has no `program`, else with
 * INTERNAL: `action` ("copy the image into /x") and what `program` said.
 */
export function failSandboxCommand(result: SandboxCommandResult, program: string, action: string): never {
  if (NOT_RUNNABLE.has(result.exitCode)) {
    fail(Status.FAILED_PRECONDITION, `modal-emulator runs the sandbox image's own \`${program}\` to ${action}, and the image has none`);
  }
  fail(Status.INTERNAL, `modal-emulator could not ${action}: ${program} said ${JSON.stringify(result.stderr || `exit ${result.exitCode}`)}`);
}
