import { setTimeout as sleep } from "node:timers/promises";
import type { EngineContainer } from "@sandbox/docker-engine";

/** A sandbox's `readinessProbe`, as the create request carries it (`Probe`). */
export interface ProbeDefinition {
  tcpPort?: number | undefined;
  execCommand?: { argv?: string[] } | undefined;
  intervalMs?: number | undefined;
}

/** The SDK's default probe interval (`Probe.withTcp` / `withExec`). */
const DEFAULT_INTERVAL_MS = 100;
/** TCP socket state "LISTEN" in `/proc/net/tcp[6]`. */
const TCP_LISTEN_STATE = "0A";

/** Runs `argv` in the container; resolves with its exit code (null when it could not start). */
async function exitCodeOf(container: EngineContainer, argv: string[], onStdout?: (chunk: Buffer) => void): Promise<number | null> {
  try {
    const exec = await container.exec(argv, onStdout ? { onStdout } : {});
    return (await exec.done).exitCode;
  } catch {
    return null;
  }
}

/**
 * True when a socket in the sandbox's network namespace listens on `port`,
 * read from the kernel's `/proc/net/tcp` and `/proc/net/tcp6` inside the
 * sandbox. Why not connect from the host: the sandbox may have no network the
 * host can reach (`blockNetwork`), while its own kernel always knows.
 */
export async function tcpPortListening(container: EngineContainer, port: number): Promise<boolean> {
  const chunks: Buffer[] = [];
  await exitCodeOf(container, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], (chunk) => chunks.push(chunk));
  const wanted = port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of Buffer.concat(chunks).toString("utf8").split("\n")) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st ...
    const local = fields[1] ?? "";
    if (fields[3] === TCP_LISTEN_STATE && local.slice(local.lastIndexOf(":") + 1).toUpperCase() === wanted) return true;
  }
  return false;
}

/**
 * Runs a readiness probe every `intervalMs` until it passes or `signal`
 * aborts: a TCP probe passes when the port listens in the sandbox, an exec
 * probe when its command exits 0. Resolves with the time it passed (epoch
 * seconds), or `undefined` when aborted first.
 */
export async function runReadinessProbe(container: EngineContainer, probe: ProbeDefinition, signal: AbortSignal): Promise<number | undefined> {
  const intervalMs = probe.intervalMs && probe.intervalMs > 0 ? probe.intervalMs : DEFAULT_INTERVAL_MS;
  const argv = probe.execCommand?.argv ?? [];
  while (!signal.aborted) {
    const passed =
      probe.tcpPort !== undefined && probe.tcpPort > 0
        ? await tcpPortListening(container, probe.tcpPort)
        : argv.length > 0 && (await exitCodeOf(container, argv)) === 0;
    if (passed && !signal.aborted) return Date.now() / 1000;
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
  return undefined;
}
