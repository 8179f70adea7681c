import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import type { SandboxBackend } from "@sandbox/core";
import { createDeepAgent } from "deepagents";
import { chooseImage } from "./choose-image.js";
import { chooseModel } from "./choose-model.js";
import { AGENT_RECURSION_LIMIT, SANDBOX_LIFETIME_MS } from "./demo-config.js";
import { createDemoRegistry } from "./demo-registry.js";
import { SYSTEM_PROMPT } from "./demo-task.js";
import { messageText } from "./scripted-chat-model.js";
import { planServerTurn, SERVER_PORT, SERVER_TASK, START_PROCESS_TOOL } from "./server-task.js";

/** Options of {@link runServerDemo}. */
export interface RunServerDemoOptions {
  /** Registered provider name; default `SANDBOX_PROVIDER`, else local-docker. */
  provider?: string;
  /** Sandbox image; default as the main demo (a python image). */
  imageName?: string;
  /** Environment to read. Default `process.env`. */
  environment?: Record<string, string | undefined>;
  /** Receives one line per step, as it happens. */
  onLine?: (line: string) => void;
  /** Called with the live sandbox after the processes were killed and before it is closed. */
  inspectSandbox?: (sandbox: SandboxBackend) => Promise<void>;
}

/** What {@link runServerDemo} resolves with once everything is killed and the sandbox is closed. */
export interface ServerDemoResult {
  provider: string;
  sandboxId: string;
  /** The URL the sandbox's port was reached at. */
  url: string;
  /** What the server in the sandbox answered. */
  response: { status: number; body: string };
  /** Ids of the processes the agent started. */
  processIds: string[];
  /** Whether every process was confirmed killed (whole trees). */
  killConfirmed: boolean;
}

/** How long the demo waits for the server to answer. */
const SERVE_TIMEOUT_MS = 30_000;

async function fetchWhenServed(url: string): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + SERVE_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
      return { status: response.status, body: await response.text() };
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
  throw new Error(`the server in the sandbox never answered at ${url} within ${SERVE_TIMEOUT_MS / 1000} s (${String(last)})`);
}

/**
 * The second scenario: a sandbox with port {@link SERVER_PORT} declared, an
 * agent that writes a page and starts a web server as a background process
 * (the demo's `start_background_process` tool calls `sandbox.spawn()`), the
 * demo fetching the page through `portUrl()` and printing the answer, then
 * every process killed (confirmed, whole trees) and the sandbox closed.
 */
export async function runServerDemo(options: RunServerDemoOptions = {}): Promise<ServerDemoResult> {
  const environment = options.environment ?? process.env;
  const say = (line: string) => options.onLine?.(line);
  const registry = createDemoRegistry(environment);
  const provider = registry.resolveName(options.provider);
  await registry.get(provider);
  const image = options.imageName ? { imageName: options.imageName } : await chooseImage(provider, environment);
  const chosen = await chooseModel("auto", environment, planServerTurn);
  say(`server scenario: provider ${provider}, image ${image.imageName}, model ${chosen.kind}`);

  const sandbox = await registry.create({
    provider,
    imageName: image.imageName,
    timeoutMs: SANDBOX_LIFETIME_MS,
    ports: [SERVER_PORT],
    providerOptions: provider === "local-docker" ? { appName: "demo" } : {},
  });
  const sandboxId = sandbox.id;
  say(`sandbox ready: ${provider} ${sandboxId} (port ${SERVER_PORT} declared)`);
  const processIds: string[] = [];
  try {
    const startProcess = tool(
      async ({ command }: { command: string }) => {
        const process = await sandbox.spawn(command);
        processIds.push(process.id);
        return `started background process ${process.id}: ${command}`;
      },
      {
        name: START_PROCESS_TOOL,
        description:
          "Starts a shell command in the sandbox as a background process that keeps running after this call (a server, a watcher). Returns its process id.",
        schema: { type: "object", properties: { command: { type: "string", description: "the shell command" } }, required: ["command"] },
      },
    );
    const agent = createDeepAgent({ model: chosen.model, systemPrompt: SYSTEM_PROMPT, backend: sandbox, tools: [startProcess] });
    const state = (await agent.invoke({ messages: [{ role: "user", content: SERVER_TASK }] }, { recursionLimit: AGENT_RECURSION_LIMIT })) as {
      messages: BaseMessage[];
    };
    for (const message of state.messages) {
      if (AIMessage.isInstance(message)) {
        say(`model: ${messageText(message).split("\n")[0]}`);
        for (const call of message.tool_calls ?? []) say(`  -> ${call.name}`);
      } else if (ToolMessage.isInstance(message)) {
        say(`  <- ${message.name ?? "tool"}: ${messageText(message).split("\n")[0]}`);
      }
    }
    if (processIds.length === 0) throw new Error("the agent did not start a background process");

    const url = await sandbox.portUrl(SERVER_PORT);
    say(`fetching ${url} (port ${SERVER_PORT} of the sandbox)`);
    const response = await fetchWhenServed(url);
    say(`HTTP ${response.status}:`);
    for (const line of response.body.trimEnd().split("\n")) say(`  | ${line}`);

    let killConfirmed = true;
    for (const info of await sandbox.listProcesses()) {
      if (!info.running) continue;
      const result = await (await sandbox.attachProcess(info.id)).kill();
      killConfirmed &&= result.killConfirmed;
      say(`killed process ${info.id} (${info.command}): ${result.killConfirmed ? "confirmed, whole tree" : "NOT confirmed"}`);
    }
    const stillRunning = (await sandbox.listProcesses()).filter((info) => info.running);
    if (stillRunning.length > 0) throw new Error(`processes still running after the kill: ${stillRunning.map((info) => info.id).join(", ")}`);
    await options.inspectSandbox?.(sandbox);
    return { provider, sandboxId, url, response, processIds, killConfirmed };
  } finally {
    await sandbox.close();
    say(`sandbox ${sandboxId} closed: nothing is left`);
  }
}
