import { BaseChatModel, type BaseChatModelParams, type BindToolsInput } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";

/**
 * The command the scripted model asks deepagents' `execute` tool to run: pi
 * with Python, in the sandbox. (The seed's prompt also says "install numpy";
 * the emulator's sandboxes have no network, so the script sticks to the
 * standard library.)
 */
export const PI_COMMAND = `python3 -c "import math; print(math.pi)"`;

/** What the scripted model saw: every tool result deepagents handed back. */
export const observedToolResults: Array<{ name: string; content: string }> = [];

function text(message: BaseMessage): string {
  return typeof message.content === "string" ? message.content : JSON.stringify(message.content);
}

function toolName(tool: BindToolsInput): string | undefined {
  const candidate = tool as { name?: unknown; function?: { name?: unknown } };
  if (typeof candidate.name === "string") return candidate.name;
  if (typeof candidate.function?.name === "string") return candidate.function.name;
  return undefined;
}

/**
 * An offline stand-in for `ChatAnthropic` in the seed's deepagents snippet,
 * and only for the model: a real LangChain chat model (deepagents binds its
 * tools to it) that first calls the real `execute` tool, which runs in the
 * real sandbox, then answers with the output it got back. Accepts the same
 * `{ model }` field so the snippet's `new ChatAnthropic({ model: ... })` line
 * stays as written.
 *
 * Kept apart from the demo's `ScriptedChatModel` (runtime code of that app,
 * scripting a different, multi-step task; the two share no code). Not
 * `@langchain/core/utils/testing`'s fakes: `FakeStreamingChatModel` answers
 * every turn with its first response, so an agent given a tool call never
 * stops, and `FakeListChatModel` cannot emit tool calls.
 */
export class ScriptedChatModel extends BaseChatModel {
  readonly boundToolNames: readonly string[];

  constructor(fields: BaseChatModelParams & { model?: string; boundToolNames?: readonly string[] } = {}) {
    super(fields);
    this.boundToolNames = fields.boundToolNames ?? [];
  }

  static override lc_name(): string {
    return "ScriptedChatModel";
  }

  _llmType(): string {
    return "scripted";
  }

  override bindTools(tools: BindToolsInput[]): ScriptedChatModel {
    const names = tools.map(toolName).filter((name): name is string => name !== undefined);
    return new ScriptedChatModel({ boundToolNames: [...new Set([...this.boundToolNames, ...names])] });
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const results = messages.filter((message) => ToolMessage.isInstance(message));
    let message: AIMessage;
    if (results.length === 0) {
      if (!this.boundToolNames.includes("execute")) throw new Error(`deepagents did not bind "execute" (bound: ${this.boundToolNames.join(", ")})`);
      message = new AIMessage({
        content: "[scripted model] Calculating pi in the sandbox.",
        tool_calls: [{ id: "scripted_execute_1", name: "execute", args: { command: PI_COMMAND }, type: "tool_call" }],
      });
    } else {
      const last = results.at(-1)!;
      observedToolResults.push({ name: (last as ToolMessage).name ?? "", content: text(last) });
      message = new AIMessage({ content: `[scripted model] The sandbox printed: ${text(last)}` });
    }
    return { generations: [{ text: text(message), message }] };
  }
}
