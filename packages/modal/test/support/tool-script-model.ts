import { BaseChatModel, type BaseChatModelParams, type BindToolsInput } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";

function lastToolResult(messages: BaseMessage[]): string {
  const last = messages.findLast((message) => message.getType() === "tool");
  if (!last) return "(none)";
  return typeof last.content === "string" ? last.content : JSON.stringify(last.content);
}

/** One tool call the model asks for: a tool name and its arguments. */
export interface ScriptedToolCall {
  name: string;
  args: Record<string, unknown>;
}

/**
 * An offline LangChain chat model for agent tests: on its n-th turn of an
 * invocation it asks for the tool calls of `steps[n]` (the turn is counted
 * from the AI messages already in the conversation), and once the steps are
 * used up it answers with a final text quoting the last tool result (so a
 * subagent's answer carries what its tools saw). deepagents binds its real tools to
 * it, so every tool call runs for real.
 */
export interface ToolScriptOptions extends BaseChatModelParams {
  /**
   * Other scripts, chosen when the conversation's last human message contains
   * the key: e.g. a subagent, whose conversation starts with its task text.
   */
  whenHumanIncludes?: Record<string, readonly ScriptedToolCall[][]>;
}

export class ToolScriptModel extends BaseChatModel {
  readonly steps: readonly ScriptedToolCall[][];
  readonly #options: ToolScriptOptions;

  constructor(steps: readonly ScriptedToolCall[][], options: ToolScriptOptions = {}) {
    super(options);
    this.steps = steps;
    this.#options = options;
  }

  static override lc_name(): string {
    return "ToolScriptModel";
  }

  _llmType(): string {
    return "tool-script";
  }

  override bindTools(_tools: BindToolsInput[]): ToolScriptModel {
    return new ToolScriptModel(this.steps, this.#options);
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    // Turns of this invocation: AI messages after the last human message.
    const lastHuman = messages.findLastIndex((message) => message.getType() === "human");
    const turn = messages.slice(lastHuman + 1).filter((message) => message.getType() === "ai").length;
    const human = lastHuman >= 0 ? String(messages[lastHuman]!.content) : "";
    const script = Object.entries(this.#options.whenHumanIncludes ?? {}).find(([key]) => human.includes(key))?.[1] ?? this.steps;
    const step = script[turn];
    const message = step
      ? new AIMessage({
          content: `[tool-script] step ${turn + 1}`,
          tool_calls: step.map((call, index) => ({
            id: `call_${turn}_${index}_${Math.random().toString(36).slice(2, 8)}`,
            name: call.name,
            args: call.args,
            type: "tool_call" as const,
          })),
        })
      : new AIMessage({ content: `[tool-script] done; last tool result: ${lastToolResult(messages)}` });
    return { generations: [{ text: String(message.content), message }] };
  }
}
