import { KILL_CONFIRMATION_GRACE_MS } from "../contract/defaults.js";
import type { CommandOutcome } from "./command-request.js";

/** The rejection {@link raceKillGrace} gives when the grace ran out: a kill nobody confirmed, not a provider failure. */
export class KillNotConfirmed extends Error {}

/**
 * Waits for the adapter's run to settle; once the signal is aborted, waits at
 * most the kill grace for it, so a provider that cannot confirm the kill still
 * gives the caller a prompt `COMMAND_TIMEOUT`.
 */
export function raceKillGrace(run: Promise<CommandOutcome>, signal: AbortSignal): Promise<CommandOutcome> {
  return new Promise((resolve, reject) => {
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const startGrace = () => {
      graceTimer = setTimeout(() => reject(new KillNotConfirmed("kill not confirmed")), KILL_CONFIRMATION_GRACE_MS);
    };
    const settle = () => {
      clearTimeout(graceTimer);
      signal.removeEventListener("abort", startGrace);
    };
    if (signal.aborted) startGrace();
    else signal.addEventListener("abort", startGrace, { once: true });
    run.then(
      (outcome) => {
        settle();
        resolve(outcome);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}
