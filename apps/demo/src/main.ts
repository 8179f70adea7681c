/**
 * The demo's command line: `pnpm --filter @sandbox/demo start` (or
 * `bash scripts/demo.sh`, which also prepares the machine).
 *
 * Exit codes: 0 done, 1 failed (one sentence on stderr says what to do),
 * 130 interrupted by Ctrl-C or SIGTERM (after the sandbox was closed).
 */
import { DEFAULT_PROVIDER, PROVIDER_VARIABLE } from "./demo-config.js";
import { errorChain, explainError, type FailureContext } from "./explain-error.js";
import { createTranscript } from "./print-events.js";
import { type DemoEvent, runDemo } from "./run-demo.js";
import { runServerDemo } from "./run-server-demo.js";

/** `DEMO_SCENARIO=server` (or `--server`) runs the second scenario: a web server started by the agent, reached through its port. */
const SCENARIO_VARIABLE = "DEMO_SCENARIO";

async function serverScenario(): Promise<number> {
  const context: FailureContext = { provider: process.env[PROVIDER_VARIABLE]?.trim() || DEFAULT_PROVIDER, environment: process.env };
  // A fetch waiting on a socket does not keep Node's event loop alive by itself: hold it open until the scenario settles.
  const keepAlive = setInterval(() => undefined, 1_000);
  try {
    const result = await runServerDemo({ onLine: (line) => process.stdout.write(`${line}\n`) });
    return result.killConfirmed ? 0 : 1;
  } catch (error) {
    process.stderr.write(`\nerror: ${explainError(error, context)}\n`);
    return 1;
  } finally {
    clearInterval(keepAlive);
  }
}

const EXIT_INTERRUPTED = 130;
/** After a first Ctrl-C, how long cleanup may take before we give up waiting. */
const CLEANUP_GRACE_MS = 30_000;

async function main(): Promise<number> {
  if (process.env[SCENARIO_VARIABLE]?.trim() === "server" || process.argv.includes("--server")) return serverScenario();
  const transcript = createTranscript();
  const controller = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  // Refined by the "start" event; used to word the one-sentence error.
  const context: FailureContext = { provider: process.env[PROVIDER_VARIABLE]?.trim() || DEFAULT_PROVIDER, environment: process.env };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptedBy) {
      process.stderr.write(`\n${signal} again: exiting without waiting; the sandbox still ends by itself when its lifetime runs out.\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    interruptedBy = signal;
    process.stderr.write(`\n${signal}: stopping the agent and closing the sandbox (press Ctrl-C again to exit at once)...\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
    setTimeout(() => {
      process.stderr.write("cleanup is taking too long; exiting. The sandbox ends by itself when its lifetime runs out.\n");
      process.exit(EXIT_INTERRUPTED);
    }, CLEANUP_GRACE_MS).unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const onEvent = (event: DemoEvent): void => {
    if (event.type === "start") Object.assign(context, { provider: event.provider, imageName: event.imageName });
    transcript.onEvent(event);
  };

  try {
    const result = await runDemo({ signal: controller.signal, onEvent });
    transcript.summary(result);
    return 0;
  } catch (error) {
    if (interruptedBy) {
      process.stderr.write(`interrupted by ${interruptedBy}; the sandbox was closed.\n`);
      return EXIT_INTERRUPTED;
    }
    process.stderr.write(`\nerror: ${explainError(error, context)}\n`);
    if (process.env.DEMO_DEBUG) process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n${describeCause(error)}`);
    return 1;
  }
}

/** The causes, one line each, skipping the identical wrappers LangChain adds per middleware. */
function describeCause(error: unknown): string {
  const lines: string[] = [];
  for (const cause of errorChain(error).slice(1)) {
    const line = `caused by: ${cause instanceof Error ? `${cause.constructor.name}: ${cause.message}` : String(cause)}`;
    if (lines.at(-1) !== line) lines.push(line);
  }
  return lines.map((line) => `${line}\n`).join("");
}

// Exit explicitly: SDK clients (HTTP keep-alive agents, gRPC channels) must not keep a finished demo alive.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${explainError(error)}\n`);
    process.exit(1);
  },
);
