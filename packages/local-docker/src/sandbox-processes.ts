import type { Duplex } from "node:stream";
import {
  EXEC_MARKER_VARIABLE,
  type ProcessScriptHost,
  type SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type ScriptResult,
  type ScriptStream,
} from "@sandbox/core";
import type { EngineContainer, EngineExec } from "@sandbox/docker-engine";
import { PacedChunks } from "./paced-chunks.js";

/** What the sandbox lends the process machinery. */
export interface ProcessHost {
  readonly container: EngineContainer;
  error(code: SandboxErrorCode, options?: SandboxErrorOptions): SandboxError;
  /** Maps an engine failure of a call (gone container -> `SANDBOX_NOT_FOUND`). */
  commandError(error: unknown): SandboxError;
}

/**
 * How core's process scripts run in a container: each call is an engine exec
 * (background processes themselves are core's `startScriptProcess` and its
 * siblings).
 */
export function dockerProcessScripts(host: ProcessHost): ProcessScriptHost {
  return {
    markerVariable: EXEC_MARKER_VARIABLE,
    error: host.error,
    runScript: (script, args, options = {}) => runScript(host, script, args, options.input, options.env),
    streamScript: (script, args, onStderr) => streamScript(host, script, args, onStderr),
    assertAlive: () => assertAlive(host),
  };
}

/** Runs a helper script to completion and collects its (small) output. */
async function runScript(host: ProcessHost, script: string, args: readonly string[], input?: Uint8Array, env?: Record<string, string>): Promise<ScriptResult> {
  let stdout = "";
  let stderr = "";
  let exec: EngineExec;
  try {
    exec = await host.container.exec(["/bin/sh", "-c", script, "sandbox-process", ...args], {
      stdin: input !== undefined,
      env,
      onStdout: (chunk) => (stdout += chunk.toString("utf8")),
      onStderr: (chunk) => (stderr += chunk.toString("utf8")),
    });
  } catch (error) {
    throw host.commandError(error);
  }
  if (input !== undefined && exec.stdin) {
    const stdin = exec.stdin;
    await new Promise<void>((resolve, reject) => {
      stdin.write(Buffer.from(input), (error) => (error ? reject(error) : resolve()));
    }).catch(() => undefined);
    // Half-close: the script's stdin reads end-of-file, its output still flows.
    (stdin as Duplex).end();
  }
  try {
    const { exitCode } = await exec.done;
    return { exitCode, stdout, stderr };
  } catch (error) {
    throw host.commandError(error);
  }
}

/** How long a failed call keeps asking whether the container is stopping before blaming the call itself. */
const STOPPING_GRACE_MS = 2_000;

/**
 * Throws `SANDBOX_NOT_FOUND` when the container is gone. A container killed
 * from outside fails its execs (exit 126) a moment before the engine reports
 * it stopped, so the engine is asked again for a short while first.
 */
async function assertAlive(host: ProcessHost): Promise<void> {
  const deadline = Date.now() + STOPPING_GRACE_MS;
  for (;;) {
    const running = await host.container.isRunning().catch(() => false);
    if (!running) throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A streamed helper script: an exec whose connection is paused while the
 * consumer lags (host memory stays at about `HIGH_WATER_BYTES`), killed in the
 * sandbox when the consumer stops early.
 */
async function streamScript(host: ProcessHost, script: string, args: readonly string[], onStderr: (text: string) => void): Promise<ScriptStream> {
  const output = new PacedChunks();
  const decoder = new TextDecoder();
  let exec: EngineExec;
  try {
    exec = await host.container.exec(["sh", "-c", script, "sandbox-read", ...args], {
      onStdout: (chunk) => output.push(chunk),
      onStderr: (chunk) => onStderr(decoder.decode(chunk, { stream: true })),
    });
  } catch (error) {
    throw host.commandError(error);
  }
  output.connection = exec.stream;
  let outcome: { exitCode: number | null } | undefined;
  let failure: unknown;
  exec.done.then(
    (result) => {
      outcome = result;
      output.wake();
    },
    (error: unknown) => {
      failure = error ?? new Error("read failed");
      output.wake();
    },
  );
  return {
    stdout: output.drain(() => outcome !== undefined || failure !== undefined),
    async exitCode() {
      if (failure !== undefined) throw host.commandError(failure);
      return outcome!.exitCode;
    },
    stop: () => exec.kill().catch(() => undefined),
  };
}
