import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import { BaseChatModel, type BaseChatModelParams, type BindToolsInput } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";
import { BUGGY_LINE, BUGGY_PROGRAM, FIXED_LINE, PROGRAM_PATH, RUN_COMMAND } from "./demo-task.js";

/** Prefix of every message the scripted model writes, so nobody mistakes it for an LLM. */
export const SCRIPTED_LABEL = "[scripted model]";

/** A tool call the script asks for: deepagents' built-in tool name and its arguments. */
export interface ScriptedToolCall {
  name: "write_file" | "execute" | "read_file" | "edit_file" | "start_background_process";
  args: Record<string, unknown>;
}

/** The script's next turn: some text, plus at most one tool call (none means: final answer). */
export interface ScriptedTurn {
  text: string;
  toolCall?: ScriptedToolCall;
}

/** A tool call the agent made earlier in the conversation, with the tool's real result. */
interface CompletedCall {
  name: string;
  args: Record<string, unknown>;
  /** The ToolMessage text, exactly as deepagents returned it. */
  result: string;
}

/** The text of a message whose content may be a string or content blocks. */
export function messageText(message: BaseMessage): string {
  const content = message.content;
  if (typeof content === "string") return content;
  return content.map((block) => (typeof block === "string" ? block : block.type === "text" && typeof block.text === "string" ? block.text : "")).join("");
}

/** Splits deepagents' execute tool result into the command output and the exit code it appends. */
export function parseExecuteResult(result: string): { output: string; exitCode: number | undefined } {
  const match = /\n?\[Command (?:succeeded|failed) with exit code (-?\d+)\]/.exec(result);
  if (!match) return { output: result.trimEnd(), exitCode: undefined };
  return { output: result.slice(0, match.index).trimEnd(), exitCode: Number(match[1]) };
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

/** Pairs the AI tool calls in `messages` with the ToolMessages that answered them, in order. */
function completedCalls(messages: BaseMessage[]): CompletedCall[] {
  const results = new Map<string, string>();
  for (const message of messages) {
    if (ToolMessage.isInstance(message)) results.set(message.tool_call_id, messageText(message));
  }
  const calls: CompletedCall[] = [];
  for (const message of messages) {
    if (!AIMessage.isInstance(message)) continue;
    for (const call of message.tool_calls ?? []) {
      const result = call.id === undefined ? undefined : results.get(call.id);
      if (result !== undefined) calls.push({ name: call.name, args: call.args, result });
    }
  }
  return calls;
}

function finalAnswer(text: string): ScriptedTurn {
  return { text: `${SCRIPTED_LABEL} ${text}` };
}

/**
 * Decides the next turn from the conversation so far. Every decision after
 * the first reads the REAL result of the previous tool call (the sandbox's
 * output, deepagents' messages), so the answer quotes what actually happened;
 * when a result is not what the script expects, it stops and says so.
 *
 * The plan: write a program with a bug, run it, read it back, fix the bug
 * with `edit_file`, run it again, answer with the output.
 */
export function planNextTurn(messages: BaseMessage[]): ScriptedTurn {
  const calls = completedCalls(messages);
  const last = calls.at(-1);
  const step = calls.length;

  if (step === 0) {
    return {
      text: `${SCRIPTED_LABEL} Step 1/5: writing ${PROGRAM_PATH}.`,
      toolCall: { name: "write_file", args: { file_path: PROGRAM_PATH, content: BUGGY_PROGRAM } },
    };
  }
  if (!last) throw new Error("unreachable: a completed call exists when step > 0");

  if (step === 1) {
    if (!last.result.startsWith("Successfully wrote"))
      return finalAnswer(`Writing ${PROGRAM_PATH} failed, so I stop here. The tool said:\n${indent(last.result)}`);
    return {
      text: `${SCRIPTED_LABEL} Step 2/5: the file is written; running it.`,
      toolCall: { name: "execute", args: { command: RUN_COMMAND } },
    };
  }

  if (step === 2) {
    const run = parseExecuteResult(last.result);
    if (run.exitCode === 0) {
      return finalAnswer(`The program ran on the first try (exit code 0), so there is nothing to fix. Its output:\n${indent(run.output)}`);
    }
    const errorLine =
      run.output
        .split("\n")
        .filter((line) => line.trim() !== "")
        .at(-1) ?? "(no output)";
    return {
      text: `${SCRIPTED_LABEL} Step 3/5: the run failed (exit code ${run.exitCode ?? "unknown"}) with "${errorLine.trim()}". Reading the file back to find the line.`,
      toolCall: { name: "read_file", args: { file_path: PROGRAM_PATH } },
    };
  }

  if (step === 3) {
    const fileText = last.result;
    const numbered = fileText.split("\n").find((line) => line.includes(BUGGY_LINE.trim()));
    if (!numbered) {
      return finalAnswer(
        `I expected the line "${BUGGY_LINE.trim()}" in ${PROGRAM_PATH} but read_file returned:\n${indent(fileText)}\nI stop here rather than guess.`,
      );
    }
    const lineNumber = /^\s*(\d+)/.exec(numbered)?.[1];
    return {
      text:
        `${SCRIPTED_LABEL} Step 4/5: ${lineNumber ? `line ${lineNumber}` : "the loop"} reads "${BUGGY_LINE.trim()}"; ` +
        "dict.get returns None for a word seen for the first time, and None + 1 fails. Fixing it with edit_file.",
      toolCall: { name: "edit_file", args: { file_path: PROGRAM_PATH, old_string: BUGGY_LINE, new_string: FIXED_LINE } },
    };
  }

  if (step === 4) {
    if (!last.result.startsWith("Successfully replaced")) return finalAnswer(`The edit failed, so I stop here. The tool said:\n${indent(last.result)}`);
    return {
      text: `${SCRIPTED_LABEL} Step 5/5: edited ("${last.result}"); running it again.`,
      toolCall: { name: "execute", args: { command: RUN_COMMAND } },
    };
  }

  const run = parseExecuteResult(last.result);
  if (run.exitCode !== 0) {
    return finalAnswer(`The fix did not work: the second run exited with code ${run.exitCode ?? "unknown"}. Its output:\n${indent(run.output)}`);
  }
  return finalAnswer(
    `Fixed: ${PROGRAM_PATH} used counts.get(word) where it needed counts.get(word, 0). ` +
      `After the fix it runs (exit code 0). Its output, quoted from the last execute result:\n${indent(run.output)}`,
  );
}

function pause(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, milliseconds);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function toolName(tool: BindToolsInput): string | undefined {
  const candidate = tool as { name?: unknown; function?: { name?: unknown } };
  if (typeof candidate.name === "string") return candidate.name;
  if (typeof candidate.function?.name === "string") return candidate.function.name;
  return undefined;
}

/** Constructor fields of {@link ScriptedChatModel}. */
export interface ScriptedChatModelFields extends BaseChatModelParams {
  /** Names of the tools bound by `bindTools` (set by `bindTools`, not by callers). */
  boundToolNames?: readonly string[];
  /**
   * Pause before each reply, in milliseconds, to watch the run live (and to
   * have time to press Ctrl-C). Default 0. An abort ends the pause at once.
   */
  replyDelayMs?: number;
  /** The plan: decides each turn from the conversation. Default {@link planNextTurn} (the main scenario). */
  plan?: (messages: BaseMessage[]) => ScriptedTurn;
}

/**
 * An offline stand-in for an LLM: a real LangChain chat model (it supports
 * `bindTools`, so deepagents binds its built-in tools to it) that emits real
 * tool calls in a fixed order, deciding each step from the actual tool
 * results in the conversation (see {@link planNextTurn}). Every tool call
 * runs in the sandbox through deepagents' tools; nothing is simulated except
 * the model's choice of what to do next.
 *
 * It refuses to call a tool deepagents did not bind, so a renamed built-in
 * tool fails loudly instead of being invented.
 */
export class ScriptedChatModel extends BaseChatModel {
  readonly boundToolNames: readonly string[];
  readonly replyDelayMs: number;
  readonly plan: (messages: BaseMessage[]) => ScriptedTurn;

  constructor(fields: ScriptedChatModelFields = {}) {
    super(fields);
    this.boundToolNames = fields.boundToolNames ?? [];
    this.replyDelayMs = fields.replyDelayMs ?? 0;
    this.plan = fields.plan ?? planNextTurn;
  }

  static override lc_name(): string {
    return "ScriptedChatModel";
  }

  _llmType(): string {
    return "scripted";
  }

  override bindTools(tools: BindToolsInput[]): ScriptedChatModel {
    const names = tools.map(toolName).filter((name): name is string => name !== undefined);
    return new ScriptedChatModel({ boundToolNames: [...new Set([...this.boundToolNames, ...names])], replyDelayMs: this.replyDelayMs, plan: this.plan });
  }

  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"], _runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    if (this.replyDelayMs > 0) await pause(this.replyDelayMs, options.signal);
    const turn = this.plan(messages);
    if (turn.toolCall && !this.boundToolNames.includes(turn.toolCall.name)) {
      throw new Error(
        `${SCRIPTED_LABEL} deepagents did not bind the "${turn.toolCall.name}" tool (bound: ${this.boundToolNames.join(", ") || "none"}); ` +
          "the script only uses deepagents' built-in tools, so their names must have changed",
      );
    }
    const callIndex = messages.filter((message) => AIMessage.isInstance(message)).length + 1;
    const message = new AIMessage({
      content: turn.text,
      tool_calls: turn.toolCall
        ? [{ id: `scripted_${callIndex}_${turn.toolCall.name}`, name: turn.toolCall.name, args: turn.toolCall.args, type: "tool_call" }]
        : [],
    });
    return { generations: [{ text: turn.text, message }] };
  }
}
