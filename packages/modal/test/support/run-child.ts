import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** How a child process ended: its exit code (or "hung" when it was still running at the bound and was killed), when, and what it printed. */
export interface ChildExit {
  code: number | "hung";
  /** `Date.now()` when it exited (or was given up on). */
  atMs: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript script (`new URL("./support/x.ts", import.meta.url)`) in
 * its own Node process (through tsx, from the package's directory, with this
 * process's environment) and
 * waits for it to exit by itself; past `boundMs` it is SIGKILLed and reported
 * as "hung". What a test of "the process exits on its own" needs.
 */
export function runSupportScript(script: URL, args: string[] = [], boundMs = 60_000): Promise<ChildExit> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(script), ...args], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    env: { ...process.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ code: "hung", atMs: Date.now(), stdout, stderr });
    }, boundMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, atMs: Date.now(), stdout, stderr });
    });
  });
}
