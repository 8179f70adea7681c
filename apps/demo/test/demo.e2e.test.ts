import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { LOCAL_DOCKER_LABELS, localDockerSandboxExists } from "@sandbox/local-docker";
import { DockerEngine } from "@sandbox/local-docker/engine";
import { dockerEngineProblem, isCI } from "@sandbox/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_OUTPUT, FIXED_PROGRAM, PROGRAM_PATH } from "../src/demo-task.js";
import { type DemoEvent, type DemoResult, runDemo } from "../src/run-demo.js";
import { messageText, SCRIPTED_LABEL } from "../src/scripted-chat-model.js";

/*
 * The demo end to end: the demo's own `runDemo` entry, the scripted model,
 * deepagents' real tools, a real sandbox. Nothing is mocked. The local and
 * the Modal runs differ by ONE configuration value, SANDBOX_PROVIDER, exactly
 * as for a user; Modal runs against the offline emulator (real modal SDK,
 * real gRPC, real containers).
 *
 * Timeouts are passed to every test and hook so the file behaves the same
 * under this package's vitest config and under the root `vitest run`.
 */

const DEMO_DIRECTORY = fileURLToPath(new URL("..", import.meta.url));
const OWNER_PID_LABEL = LOCAL_DOCKER_LABELS.ownerPid;
const RUN_TIMEOUT_MS = 180_000;
const underCI = isCI();

const engine = new DockerEngine();
const engineProblem = await dockerEngineProblem();
const engineReachable = engineProblem === undefined;

/** Whether the Modal adapter and the emulator are built and loadable (they are workspace packages). */
const modalProblem = await Promise.all([import("@sandbox/modal"), import("@sandbox/modal-emulator")]).then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message : String(error)),
);

/** The engine layer's message already says what to do (start one, or set DOCKER_HOST). */
const SKIP_NO_ENGINE = `SKIPPED: ${engineProblem}`;

interface ScriptedRun {
  result: DemoResult;
  events: DemoEvent[];
  /** The program as downloaded from the sandbox through the backend, before close. */
  fileInSandbox: string | undefined;
  /** A fresh `python3` run of that file inside the sandbox, before close. */
  rerunOutput: string | undefined;
}

/**
 * The one scenario both providers run. `provider` is what a user would put
 * in SANDBOX_PROVIDER (undefined: not set, the default applies).
 */
async function runScriptedDemo(provider: string | undefined): Promise<ScriptedRun> {
  const events: DemoEvent[] = [];
  let fileInSandbox: string | undefined;
  let rerunOutput: string | undefined;
  const result = await runDemo({
    model: "scripted",
    environment: { ...process.env, SANDBOX_PROVIDER: provider },
    onEvent: (event) => events.push(event),
    inspectSandbox: async (sandbox) => {
      // Every adapter implements downloadFiles, but core's SandboxBackend type inherits deepagents' optional signature.
      if (!sandbox.downloadFiles) throw new Error(`the ${sandbox.provider} backend has no downloadFiles`);
      const [download] = await sandbox.downloadFiles([PROGRAM_PATH]);
      if (download?.content) fileInSandbox = Buffer.from(download.content).toString("utf8");
      else throw new Error(`downloading ${PROGRAM_PATH} from the sandbox failed: ${download?.error ?? "no response"}`);
      rerunOutput = (await sandbox.execute(`python3 ${PROGRAM_PATH}`)).output;
    },
  });
  return { result, events, fileInSandbox, rerunOutput };
}

/** What must hold whatever the provider. */
function expectTheAgentFixedTheProgram(run: ScriptedRun, provider: string): void {
  const { result } = run;
  expect(result.provider).toBe(provider);
  expect(result.modelKind).toBe("scripted");

  // The file the agent wrote and edited exists in the sandbox, with the fix.
  expect(run.fileInSandbox).toBe(FIXED_PROGRAM);
  expect(run.rerunOutput?.trim()).toBe(EXPECTED_OUTPUT);

  // deepagents' built-in tools, in the scripted order, all really executed.
  expect(result.toolResults.map((entry) => entry.name)).toEqual(["write_file", "execute", "read_file", "edit_file", "execute"]);
  const [write, firstRun, read, edit, secondRun] = result.toolResults;
  expect(write?.text).toBe(`Successfully wrote to '${PROGRAM_PATH}'`);
  expect(firstRun?.text).toContain("TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'");
  expect(firstRun?.text).toContain("[Command failed with exit code 1]");
  expect(read?.text).toContain("counts.get(word) + 1");
  expect(edit?.text).toBe(`Successfully replaced 1 occurrence(s) in '${PROGRAM_PATH}'`);

  // The program's real output reached the agent as a ToolMessage...
  const toolMessages = result.messages.filter((message) => ToolMessage.isInstance(message));
  expect(toolMessages).toHaveLength(5);
  const lastToolText = messageText(toolMessages.at(-1)!);
  expect(lastToolText).toContain(EXPECTED_OUTPUT);
  expect(lastToolText).toContain("[Command succeeded with exit code 0]");
  expect(secondRun?.text).toBe(lastToolText);

  // ...and the final answer quotes it, labelled as scripted.
  const finalMessage = result.messages.filter((message) => AIMessage.isInstance(message)).at(-1)!;
  expect(messageText(finalMessage)).toBe(result.answer);
  expect(result.answer.startsWith(SCRIPTED_LABEL)).toBe(true);
  const dedentedAnswer = result.answer
    .split("\n")
    .map((line) => line.trim())
    .join("\n");
  expect(dedentedAnswer).toContain(EXPECTED_OUTPUT);

  // The person watching saw every step as it happened, with durations, and the close.
  const kinds = run.events.map((event) => event.type);
  expect(kinds[0]).toBe("start");
  expect(kinds).toContain("sandbox-ready");
  expect(kinds.filter((kind) => kind === "tool-result")).toHaveLength(5);
  expect(kinds.at(-1)).toBe("sandbox-closed");
  for (const event of run.events) if ("durationMs" in event) expect(event.durationMs).toBeGreaterThanOrEqual(0);
}

const containerGone = async (id: string) => !(await localDockerSandboxExists(id));

describe("prerequisites", () => {
  it.runIf(underCI)("a Docker engine answers (CI=true: the end-to-end tests must run, not skip)", () => {
    expect(engineProblem, "no Docker engine answers under CI=true; start it with bash scripts/start-docker-engine.sh").toBeUndefined();
  });
  it.runIf(underCI)("@sandbox/modal and @sandbox/modal-emulator load (CI=true: the Modal end-to-end test must run, not skip)", () => {
    expect(modalProblem, "the Modal adapter or the emulator could not be loaded under CI=true; build them (pnpm build)").toBeUndefined();
  });
});

describe.runIf(engineReachable)(
  engineReachable ? "demo on local-docker (SANDBOX_PROVIDER unset: the default)" : `demo on local-docker: ${SKIP_NO_ENGINE}`,
  () => {
    afterAll(async () => {
      // Nothing this process created is left behind (other processes' sandboxes are not ours to judge).
      const left = await engine.listContainers({ [OWNER_PID_LABEL]: String(process.pid) });
      expect(left.map((container) => container.id)).toEqual([]);
    }, 30_000);

    it(
      "the scripted agent writes, runs, reads, fixes and reruns a program in a real container",
      async () => {
        const run = await runScriptedDemo(undefined);
        expectTheAgentFixedTheProgram(run, "local-docker");
        expect(await containerGone(run.result.sandboxId)).toBe(true);
      },
      RUN_TIMEOUT_MS,
    );

    it(
      "the real command line (what scripts/demo.sh runs) finishes with exit 0 and leaves no container",
      async () => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
          cwd: DEMO_DIRECTORY,
          env: { ...process.env, SANDBOX_PROVIDER: "local-docker", DEMO_MODEL: "scripted", NO_COLOR: "1" },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        const code = await new Promise<number | null>((resolve) => child.on("exit", (exitCode) => resolve(exitCode)));
        expect(code, output).toBe(0);
        expect(output).toContain("Answer:");
        expect(output).toContain("total words: 11");
        expect(output).toMatch(/done: \d+ tool calls on local-docker/);
        expect(await engine.listContainers({ [OWNER_PID_LABEL]: String(child.pid) })).toEqual([]);
      },
      RUN_TIMEOUT_MS,
    );

    it(
      "Ctrl-C closes the sandbox and exits 130 (the real command line, SIGINT while the agent runs)",
      async () => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
          cwd: DEMO_DIRECTORY,
          env: { ...process.env, SANDBOX_PROVIDER: "local-docker", DEMO_MODEL: "scripted", DEMO_SCRIPTED_DELAY_MS: "5000", NO_COLOR: "1" },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        try {
          const deadline = Date.now() + 120_000;
          while (!output.includes("sandbox ready") && Date.now() < deadline && child.exitCode === null)
            await new Promise((resolve) => setTimeout(resolve, 100));
          expect(output, output).toContain("sandbox ready");
          // The sandbox exists now, owned by the child.
          expect(await engine.listContainers({ [OWNER_PID_LABEL]: String(child.pid) })).toHaveLength(1);
          child.kill("SIGINT");
          expect(await exited, output).toBe(130);
        } finally {
          if (child.exitCode === null) child.kill("SIGKILL");
        }
        expect(output).toContain("SIGINT: stopping the agent and closing the sandbox");
        expect(output).toContain("sandbox closed");
        expect(output).not.toContain("Answer:");
        expect(await engine.listContainers({ [OWNER_PID_LABEL]: String(child.pid) })).toEqual([]);
      },
      RUN_TIMEOUT_MS,
    );
  },
);

const modalReady = engineReachable && modalProblem === undefined;
const modalTitle = modalReady
  ? "demo on Modal through the offline emulator (SANDBOX_PROVIDER=modal: the one changed value)"
  : `demo on Modal through the offline emulator: ${engineReachable ? `SKIPPED: @sandbox/modal or @sandbox/modal-emulator cannot be loaded (${modalProblem}); build them with pnpm turbo run build --filter @sandbox/demo...` : SKIP_NO_ENGINE}`;

describe.runIf(modalReady)(modalTitle, () => {
  type Emulator = Awaited<ReturnType<typeof import("@sandbox/modal-emulator").startModalEmulator>>;
  let emulator: Emulator;
  const savedEnvironment: Record<string, string | undefined> = {};

  beforeAll(async () => {
    const { startModalEmulator } = await import("@sandbox/modal-emulator");
    emulator = await startModalEmulator({ tokenId: "ak-demo-e2e", tokenSecret: "as-demo-e2e-secret" });
    // Where Modal is, and the token: what a user exports once; the modal SDK reads them from the environment.
    for (const [name, value] of Object.entries(emulator.environment)) {
      savedEnvironment[name] = process.env[name];
      process.env[name] = value;
    }
  }, 120_000);

  afterAll(async () => {
    for (const [name, value] of Object.entries(savedEnvironment)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (!emulator) return;
    const { INSTANCE_LABEL } = await import("@sandbox/modal-emulator");
    const instance = emulator.labels[INSTANCE_LABEL]!;
    await emulator.stop();
    expect(await engine.listContainers({ [INSTANCE_LABEL]: instance })).toEqual([]);
  }, 60_000);

  it(
    "the same scripted agent, unchanged, runs in a Modal sandbox",
    async () => {
      const run = await runScriptedDemo("modal");
      expectTheAgentFixedTheProgram(run, "modal");
      expect(run.result.sandboxId).toMatch(/^sb-/);

      // It really went through Modal's API: the emulator created that sandbox, ran the execs, and it is terminated now.
      const summary = emulator.inspect.sandboxes().find((sandbox) => sandbox.sandboxId === run.result.sandboxId);
      expect(summary, "the emulator never saw the sandbox").toBeDefined();
      expect(summary!.result).toBeDefined();
      // At least the agent's two python runs and the test's own rerun.
      expect(emulator.inspect.execStarts().length).toBeGreaterThanOrEqual(3);
      expect(emulator.inspect.unimplementedCalls()).toEqual([]);
      expect(await containerGone(summary!.containerId)).toBe(true);
    },
    RUN_TIMEOUT_MS,
  );
});
