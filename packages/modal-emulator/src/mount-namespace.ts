import { execFile, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import type { EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";

const execFileAsync = promisify(execFile);
/** Exit status of a shell when a command is not installed, and what `nsenter` says then. */
const COMMAND_NOT_FOUND = 127;

/**
 * Why this process cannot enter a sandbox's mount namespace, or `undefined`
 * when it can: that needs root on the machine that runs the containers, a
 * local engine (the namespace is entered by the container's pid) and `nsenter`.
 */
export async function mountNamespaceUnsupportedReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "it must run as root to enter a sandbox's mount namespace";
  const dockerHost = process.env.DOCKER_HOST ?? "";
  if (dockerHost !== "" && !dockerHost.startsWith("unix://")) return `the Docker engine (${dockerHost}) is not on this machine`;
  const found = await execFileAsync("sh", ["-c", "command -v nsenter"]).then(
    () => true,
    () => false,
  );
  return found ? undefined : "`nsenter` is not installed";
}

/** The pid (on this host) of a running container's first process. */
export async function containerPid(container: EngineContainer): Promise<number> {
  const pid = (await container.inspect()).State?.Pid;
  if (!pid) fail(Status.FAILED_PRECONDITION, "the sandbox's container is not running");
  return pid;
}

/** What one command run in a container's mount namespace gave. */
export interface NamespaceCommandResult {
  exitCode: number;
  stderr: string;
}

/**
 * Runs `argv` inside the mount namespace of the container whose first process
 * is `pid` (`nsenter -t <pid> -m`): paths and the programs run are the
 * container's, with this process's privileges (root, all capabilities), so
 * `mount` works although the sandbox itself may not mount anything.
 * `stdin` is piped in; `onStdout` receives the output stream.
 */
export function runInMountNamespace(
  pid: number,
  argv: string[],
  options: { stdin?: Readable; onStdout?: (stdout: Readable) => void; timeoutMs: number },
): Promise<NamespaceCommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", ["-t", String(pid), "-m", "--", ...argv], {
      stdio: [options.stdin ? "pipe" : "ignore", options.onStdout ? "pipe" : "ignore", "pipe"],
    });
    const stderr: Buffer[] = [];
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < 64) stderr.push(chunk);
    });
    if (options.stdin && child.stdin) {
      child.stdin.on("error", () => undefined);
      options.stdin.on("error", (error) => {
        child.kill("SIGKILL");
        reject(error);
      });
      options.stdin.pipe(child.stdin);
    }
    if (options.onStdout && child.stdout) options.onStdout(child.stdout);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(stderr).toString("utf8").trim();
      resolve({ exitCode: code ?? (signal === "SIGKILL" ? 137 : 128), stderr: signal === "SIGKILL" && code === null ? `timed out; ${text}` : text });
    });
  });
}

/**
 * Fails with FAILED_PRECONDITION when the container has no `program`
 * (nsenter could not execute it), else with INTERNAL: `action` ("mount the
 * image") and what `program` said.
 */
export function failNamespaceCommand(result: NamespaceCommandResult, program: string, action: string): never {
  if (result.exitCode === COMMAND_NOT_FOUND && /nsenter: failed to execute/.test(result.stderr)) {
    fail(Status.FAILED_PRECONDITION, `modal-emulator runs the sandbox image's own \`${program}\` to ${action}, and the image has none`);
  }
  fail(Status.INTERNAL, `modal-emulator could not ${action}: ${program} said ${JSON.stringify(result.stderr || `exit ${result.exitCode}`)}`);
}
