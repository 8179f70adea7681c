import { randomUUID } from "node:crypto";
import {
  KILL_BY_MARKER_SCRIPT,
  type ProcessScriptHost,
  type SandboxError,
  type SandboxErrorCode,
  type SandboxErrorOptions,
  type ScriptStream,
} from "@sandbox/core";
import type { ContainerProcess, Sandbox } from "modal";
import { MODAL_EXEC_MARKER_VARIABLE } from "./sandbox-exec.js";

/**
 * Background processes on Modal. An SDK exec cannot be reattached from
 * another client with its output, so output is kept inside the sandbox by
 * core's process scripts (the same ones local-docker runs): `spawn` starts a
 * detached supervisor through one short exec, and every other call (read
 * from an offset, stdin, wait, kill, list) is another exec of a script. Any
 * handle in any OS process that reaches the sandbox (`fromId`) can therefore
 * list, replay and kill a process. The handles themselves are core's
 * (`startScriptProcess` and its siblings); this file says how a script runs.
 */

/** What the sandbox lends the process machinery. */
export interface ModalProcessHost {
  readonly instance: Sandbox;
  error(code: SandboxErrorCode, options?: SandboxErrorOptions): SandboxError;
  /** Maps an SDK failure of a call (a gone sandbox -> `SANDBOX_NOT_FOUND`). */
  commandError(error: unknown, context: string): SandboxError;
  /** Whether the sandbox still runs (false when it is gone). */
  isRunning(): Promise<boolean>;
}

/** SDK exec timeout of a short helper script (whole seconds: the SDK sends seconds). */
export const SCRIPT_TIMEOUT_MS = 60_000;

/** How core's process scripts run in a Modal sandbox: each call is an SDK exec. */
export function modalProcessScripts(host: ModalProcessHost): ProcessScriptHost {
  return {
    markerVariable: MODAL_EXEC_MARKER_VARIABLE,
    error: host.error,
    runScript: (script, args, options = {}) =>
      runScript(host, script, args, { input: options.input, env: options.env, timeoutMs: options.waits ? undefined : SCRIPT_TIMEOUT_MS }),
    streamScript: (script, args, onStderr, what) => streamScript(host, script, args, onStderr, what),
    assertAlive: () => assertAlive(host),
  };
}

/** Throws `SANDBOX_NOT_FOUND` when the sandbox is gone. */
export async function assertAlive(host: ModalProcessHost): Promise<void> {
  if (!(await host.isRunning().catch(() => false)))
    throw host.error("SANDBOX_NOT_FOUND", { message: "the sandbox is no longer running (expired or terminated)" });
}

/**
 * Yields `stream`'s chunks as the consumer asks (the SDK reads its gRPC
 * stream only then, so host memory stays bounded). A failed read is
 * `SANDBOX_NOT_FOUND` when the sandbox is gone, else `commandError(error, failed)`.
 */
export async function* pullChunks(host: ModalProcessHost, reader: ReadableStreamDefaultReader<Uint8Array>, failed: string): AsyncGenerator<Uint8Array> {
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch (error) {
      await assertAlive(host);
      throw host.commandError(error, failed);
    }
    if (next.value && next.value.byteLength > 0) yield next.value;
    if (next.done) return;
  }
}

/** Kills every process carrying the marker entry `marker` (`NAME=value`); resolves the script's exit code. */
export async function killByMarker(host: ModalProcessHost, marker: string, timeoutMs: number): Promise<number> {
  const killer = await host.instance.exec(["sh", "-c", KILL_BY_MARKER_SCRIPT, "sandbox-kill", marker], { stdout: "ignore", stderr: "ignore", timeoutMs });
  return killer.wait();
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Runs a helper script to completion (with `input` on its stdin when given) and collects its small output. */
async function runScript(
  host: ModalProcessHost,
  script: string,
  args: readonly string[],
  options: { input?: Uint8Array; env?: Record<string, string>; timeoutMs?: number },
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  try {
    const process: ContainerProcess<Uint8Array> = await host.instance.exec(["/bin/sh", "-c", script, "sandbox-process", ...args], {
      mode: "binary",
      stdout: "pipe",
      stderr: "pipe",
      ...(options.env && Object.keys(options.env).length > 0 ? { env: options.env } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    const writer = process.stdin.getWriter();
    const feeding = (async () => {
      if (options.input !== undefined && options.input.byteLength > 0) await writer.write(options.input);
      await writer.close();
    })().catch(() => undefined);
    const [stdout, stderr, exitCode] = await Promise.all([readAll(process.stdout), readAll(process.stderr), process.wait(), feeding]);
    return { exitCode, stdout, stderr };
  } catch (error) {
    throw host.commandError(error, "a process helper failed");
  }
}

/**
 * A streamed helper script, pulled chunk by chunk. A consumer that stops
 * early gets the script killed inside the sandbox by its own marker.
 */
async function streamScript(
  host: ModalProcessHost,
  script: string,
  args: readonly string[],
  onStderr: (text: string) => void,
  what: string,
): Promise<ScriptStream> {
  const readerMarker = `${MODAL_EXEC_MARKER_VARIABLE}=reader-${randomUUID()}`;
  let process: ContainerProcess<Uint8Array>;
  try {
    process = await host.instance.exec(["sh", "-c", `exec </dev/null; ${script}`, "sandbox-read", ...args], {
      mode: "binary",
      stdout: "pipe",
      stderr: "pipe",
      env: { [MODAL_EXEC_MARKER_VARIABLE]: readerMarker.slice(MODAL_EXEC_MARKER_VARIABLE.length + 1) },
    });
  } catch (error) {
    throw host.commandError(error, `could not read ${what}`);
  }
  const decoder = new TextDecoder();
  const noting = (async () => {
    for await (const chunk of process.stderr as unknown as AsyncIterable<Uint8Array>) onStderr(decoder.decode(chunk, { stream: true }));
  })();
  noting.catch(() => undefined);
  const reader = process.stdout.getReader();
  return {
    stdout: pullChunks(host, reader, `reading ${what} failed`),
    async exitCode() {
      try {
        const [exitCode] = await Promise.all([process.wait(), noting]);
        return exitCode;
      } catch (error) {
        throw host.commandError(error, `reading ${what} failed`);
      }
    },
    async stop() {
      await reader.cancel().catch(() => undefined);
      await killByMarker(host, readerMarker, SCRIPT_TIMEOUT_MS).catch(() => undefined);
    },
  };
}
