import { AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import { FakeBuiltModel } from "@langchain/core/testing";

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

/**
 * An offline stand-in for `ChatAnthropic` in the seed's deepagents snippet,
 * and only for the model: `@langchain/core/testing`'s scripted fake chat
 * model (deepagents binds its tools to it), queued to call the real
 * `execute` tool once, which runs in the real sandbox, then to answer with
 * the output it got back. Accepts the `{ model }` field so the snippet's
 * `new ChatAnthropic({ model: ... })` line stays as written.
 */
export class PiChatModel extends FakeBuiltModel {
  constructor(_fields: { model?: string } = {}) {
    super();
    this.respondWithTools([{ name: "execute", args: { command: PI_COMMAND } }]).respond((messages) => {
      const last = messages.findLast((message) => ToolMessage.isInstance(message));
      if (!last) return new Error("the scripted model got no tool result back");
      observedToolResults.push({ name: (last as ToolMessage).name ?? "", content: text(last) });
      return new AIMessage({ content: `[scripted model] The sandbox printed: ${text(last)}` });
    });
  }
}
