import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { SandboxBackend } from "@sandbox/core";
import { createDeepAgent } from "deepagents";
import { chooseImage } from "./choose-image.js";
import { chooseModel, type ModelChoice } from "./choose-model.js";
import { AGENT_RECURSION_LIMIT, SANDBOX_LIFETIME_MS } from "./demo-config.js";
import { createDemoRegistry } from "./demo-registry.js";
import { SYSTEM_PROMPT, TASK } from "./demo-task.js";
import { messageText } from "./scripted-chat-model.js";

/** One tool call as the model issued it. */
export interface DemoToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

/** What happened, in order, as it happens. Durations are wall-clock milliseconds. */
export type DemoEvent =
  | { type: "start"; provider: string; imageName: string; imageReason: string; modelKind: "scripted" | "anthropic" | "custom"; modelLabel: string }
  | { type: "pull-progress"; line: string }
  | { type: "sandbox-ready"; provider: string; sandboxId: string; durationMs: number }
  | { type: "model-turn"; text: string; toolCalls: DemoToolCall[]; durationMs: number }
  | { type: "tool-result"; toolCallId: string; name: string; text: string; isError: boolean; durationMs: number }
  | { type: "answer"; text: string }
  | { type: "sandbox-closed"; sandboxId: string; durationMs: number }
  | { type: "close-failed"; sandboxId: string; error: unknown };

/** Options of {@link runDemo}. Everything is optional: the defaults are the demo. */
export interface RunDemoOptions {
  /**
   * Registered provider name (`"local-docker"`, `"modal"`). Default: the
   * `SANDBOX_PROVIDER` environment variable, else `DEFAULT_PROVIDER`.
   */
  provider?: string;
  /** Sandbox image. Default: see `chooseImage` (`SANDBOX_IMAGE`, the offline python image, `python:3.12-slim`). */
  imageName?: string;
  /** `"auto"` (default), `"scripted"`, `"anthropic"`, or a chat model of your own. */
  model?: ModelChoice | BaseChatModel;
  /** The user message. Default: the demo task (write, run, fix and rerun a Python program). */
  task?: string;
  /** Environment to read (`SANDBOX_PROVIDER`, `SANDBOX_IMAGE`, `ANTHROPIC_API_KEY`, ...). Default `process.env`. */
  environment?: Record<string, string | undefined>;
  /** Aborting stops the agent; the sandbox is still closed before `runDemo` settles. */
  signal?: AbortSignal;
  /** Receives every {@link DemoEvent} as it happens. */
  onEvent?: (event: DemoEvent) => void;
  /**
   * Called after the agent finished and BEFORE the sandbox is closed, with
   * the live sandbox: for tests and curious users to look inside.
   */
  inspectSandbox?: (sandbox: SandboxBackend) => Promise<void>;
}

/** One tool call with its result. */
export interface DemoToolResult extends DemoToolCall {
  /** The ToolMessage text the model received. */
  text: string;
  isError: boolean;
  durationMs: number;
}

/** What {@link runDemo} resolves with once the sandbox is closed. */
export interface DemoResult {
  provider: string;
  sandboxId: string;
  imageName: string;
  modelKind: "scripted" | "anthropic" | "custom";
  /** Every message the agent produced (AI and tool messages), in order. */
  messages: BaseMessage[];
  /** Every tool call, in order, with the result the model received. */
  toolResults: DemoToolResult[];
  /** The final answer: the last model message without tool calls. */
  answer: string;
  timings: { createMs: number; agentMs: number; closeMs: number; totalMs: number };
}

/** Thrown when {@link RunDemoOptions.signal} aborts the run (after the sandbox is closed). */
export class DemoAbortedError extends Error {
  constructor(cause?: unknown) {
    super("the demo was interrupted", cause === undefined ? undefined : { cause });
    this.name = "DemoAbortedError";
  }
}

/** Node outputs in a `streamMode: "updates"` chunk: `{ node: { messages } }`, or a list of such updates. */
function messagesOf(update: unknown): BaseMessage[] {
  if (Array.isArray(update)) return update.flatMap(messagesOf);
  if (typeof update !== "object" || update === null) return [];
  const messages = (update as { messages?: unknown }).messages;
  return Array.isArray(messages) ? (messages as BaseMessage[]) : [];
}

/**
 * Runs the demo once: creates a sandbox through core's registry (the
 * provider is the only thing that differs between providers), gives it to
 * a deepagents agent as its backend, streams the agent's steps, and closes
 * the sandbox in `finally` (also on error and abort).
 */
export async function runDemo(options: RunDemoOptions = {}): Promise<DemoResult> {
  const startedAt = performance.now();
  const environment = options.environment ?? process.env;
  const emit = (event: DemoEvent): void => options.onEvent?.(event);
  const throwIfAborted = (): void => {
    if (options.signal?.aborted) throw new DemoAbortedError(options.signal.reason);
  };

  const registry = createDemoRegistry(environment);
  const provider = registry.resolveName(options.provider);
  // Load the provider now (modal's SDK only when chosen): an unknown name or an unbuilt adapter fails before anything starts.
  await registry.get(provider);
  const image = options.imageName ? { imageName: options.imageName, reason: "from runDemo options" } : await chooseImage(provider, environment);
  const chosen =
    typeof options.model === "object"
      ? { model: options.model, kind: "custom" as const, label: `custom model (${options.model.getName()})` }
      : await chooseModel(options.model ?? "auto", environment);
  emit({ type: "start", provider, imageName: image.imageName, imageReason: image.reason, modelKind: chosen.kind, modelLabel: chosen.label });
  throwIfAborted();

  const sandbox = await registry.create({
    provider,
    imageName: image.imageName,
    timeoutMs: SANDBOX_LIFETIME_MS,
    // Provider-specific extras; the common options above are the same for every provider.
    providerOptions: provider === "local-docker" ? { appName: "demo", onPullProgress: (line: string) => emit({ type: "pull-progress", line }) } : {},
  });
  const createdAt = performance.now();
  const sandboxId = sandbox.id;
  emit({ type: "sandbox-ready", provider, sandboxId, durationMs: createdAt - startedAt });

  const messages: BaseMessage[] = [];
  const toolResults: DemoToolResult[] = [];
  let answer = "";
  let agentMs = 0;
  let closeMs = 0;
  let failed = false;
  try {
    throwIfAborted();
    const agent = createDeepAgent({ model: chosen.model, systemPrompt: SYSTEM_PROMPT, backend: sandbox });
    const agentStartedAt = performance.now();
    let lastMark = agentStartedAt;
    const pending = new Map<string, { call: DemoToolCall; issuedAt: number }>();
    const seen = new WeakSet<object>();
    try {
      const stream = await agent.stream(
        { messages: [{ role: "user", content: options.task ?? TASK }] },
        { streamMode: "updates", recursionLimit: AGENT_RECURSION_LIMIT, signal: options.signal },
      );
      for await (const chunk of stream) {
        for (const update of Object.values(chunk as Record<string, unknown>)) {
          for (const message of messagesOf(update)) {
            if (seen.has(message)) continue;
            seen.add(message);
            const now = performance.now();
            if (AIMessage.isInstance(message)) {
              messages.push(message);
              const toolCalls = (message.tool_calls ?? []).map((call, index) => ({
                id: call.id ?? `call_${messages.length}_${index}`,
                name: call.name,
                args: call.args,
              }));
              emit({ type: "model-turn", text: messageText(message), toolCalls, durationMs: now - lastMark });
              lastMark = now;
              for (const call of toolCalls) pending.set(call.id, { call, issuedAt: now });
              if (toolCalls.length === 0) answer = messageText(message);
            } else if (ToolMessage.isInstance(message)) {
              messages.push(message);
              const issued = pending.get(message.tool_call_id);
              pending.delete(message.tool_call_id);
              const call = issued?.call ?? { id: message.tool_call_id, name: message.name ?? "tool", args: {} };
              const result: DemoToolResult = {
                ...call,
                text: messageText(message),
                isError: message.status === "error",
                durationMs: now - (issued?.issuedAt ?? lastMark),
              };
              toolResults.push(result);
              emit({ type: "tool-result", toolCallId: call.id, name: call.name, text: result.text, isError: result.isError, durationMs: result.durationMs });
              lastMark = now;
            }
          }
        }
      }
    } catch (error) {
      if (options.signal?.aborted) throw new DemoAbortedError(error);
      throw error;
    }
    agentMs = performance.now() - agentStartedAt;
    throwIfAborted();
    if (answer) emit({ type: "answer", text: answer });
    await options.inspectSandbox?.(sandbox);
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const closingAt = performance.now();
    try {
      await sandbox.close();
      closeMs = performance.now() - closingAt;
      emit({ type: "sandbox-closed", sandboxId, durationMs: closeMs });
    } catch (closeError) {
      // Never hide the error that brought us here behind a cleanup failure.
      // biome-ignore lint/correctness/noUnsafeFinally: deliberate: a close failure is the error when nothing else failed.
      if (!failed) throw closeError;
      emit({ type: "close-failed", sandboxId, error: closeError });
    }
  }

  return {
    provider,
    sandboxId,
    imageName: image.imageName,
    modelKind: chosen.kind,
    messages,
    toolResults,
    answer,
    timings: { createMs: createdAt - startedAt, agentMs, closeMs, totalMs: performance.now() - startedAt },
  };
}
