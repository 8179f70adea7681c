import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { BUGGY_LINE, BUGGY_PROGRAM, FIXED_LINE, PROGRAM_PATH, RUN_COMMAND, TASK } from "./demo-task.js";
import { parseExecuteResult, planNextTurn, SCRIPTED_LABEL, ScriptedChatModel } from "./scripted-chat-model.js";

/** A conversation where each scripted call got `results[i]` back, as deepagents would return it. */
function conversation(results: Array<string | ToolMessage["content"]>): BaseMessage[] {
  const messages: BaseMessage[] = [new HumanMessage(TASK)];
  for (const result of results) {
    const turn = planNextTurn(messages);
    if (!turn.toolCall) throw new Error(`the script ended early: ${turn.text}`);
    const id = `call_${messages.length}`;
    messages.push(new AIMessage({ content: turn.text, tool_calls: [{ id, name: turn.toolCall.name, args: turn.toolCall.args, type: "tool_call" }] }));
    messages.push(new ToolMessage({ content: result, tool_call_id: id, name: turn.toolCall.name }));
  }
  return messages;
}

const WROTE = `Successfully wrote to '${PROGRAM_PATH}'`;
const FAILED_RUN =
  "Traceback (most recent call last):\nTypeError: unsupported operand type(s) for +: 'NoneType' and 'int'\n\n[Command failed with exit code 1]";
const READ_BACK = [
  { type: "text" as const, text: `@@ lines 1-17 of 17 @@\n     8\t    for word in text.split():\n     9\t${BUGGY_LINE}\n    10\t    return counts` },
];
const EDITED = `Successfully replaced 1 occurrence(s) in '${PROGRAM_PATH}'`;

describe("planNextTurn: the script, driven by real tool results", () => {
  it("writes, runs, reads, edits and reruns, with deepagents' tool names and argument shapes", () => {
    const results = [WROTE, FAILED_RUN, READ_BACK, EDITED];
    const calls = [0, 1, 2, 3, 4].map((done) => planNextTurn(conversation(results.slice(0, done))).toolCall);
    expect(calls).toEqual([
      { name: "write_file", args: { file_path: PROGRAM_PATH, content: BUGGY_PROGRAM } },
      { name: "execute", args: { command: RUN_COMMAND } },
      { name: "read_file", args: { file_path: PROGRAM_PATH } },
      { name: "edit_file", args: { file_path: PROGRAM_PATH, old_string: BUGGY_LINE, new_string: FIXED_LINE } },
      { name: "execute", args: { command: RUN_COMMAND } },
    ]);
  });

  it("quotes the error it actually got, and the line number read_file actually showed", () => {
    const afterRun = planNextTurn(conversation([WROTE, FAILED_RUN]));
    expect(afterRun.text).toContain(`"TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'"`);
    const afterRead = planNextTurn(conversation([WROTE, FAILED_RUN, READ_BACK]));
    expect(afterRead.text).toContain("line 9 reads");
  });

  it("answers with whatever the last execute printed, not a canned text", () => {
    const answer = planNextTurn(conversation([WROTE, FAILED_RUN, READ_BACK, EDITED, "zebra: 42\ntotal words: 99\n\n[Command succeeded with exit code 0]"]));
    expect(answer.toolCall).toBeUndefined();
    expect(answer.text.startsWith(SCRIPTED_LABEL)).toBe(true);
    expect(answer.text).toContain("    zebra: 42\n    total words: 99");
  });

  it("stops and reports instead of pretending when a step did not do what the script expects", () => {
    expect(planNextTurn(conversation(["Error: permission denied"])).toolCall).toBeUndefined();
    expect(planNextTurn(conversation(["Error: permission denied"])).text).toContain("Error: permission denied");
    const firstTry = planNextTurn(conversation([WROTE, "all good\n[Command succeeded with exit code 0]"]));
    expect(firstTry.toolCall).toBeUndefined();
    expect(firstTry.text).toContain("nothing to fix");
    const unexpectedFile = planNextTurn(conversation([WROTE, FAILED_RUN, "print('something else')"]));
    expect(unexpectedFile.toolCall).toBeUndefined();
    const failedEdit = planNextTurn(conversation([WROTE, FAILED_RUN, READ_BACK, "Error: String not found in file"]));
    expect(failedEdit.text).toContain("Error: String not found in file");
    const stillBroken = planNextTurn(conversation([WROTE, FAILED_RUN, READ_BACK, EDITED, "boom\n[Command failed with exit code 2]"]));
    expect(stillBroken.text).toContain("exited with code 2");
  });
});

describe("parseExecuteResult", () => {
  it("separates the output from the exit code deepagents appends", () => {
    expect(parseExecuteResult("hi\n\n[Command succeeded with exit code 0]")).toEqual({ output: "hi", exitCode: 0 });
    expect(parseExecuteResult("[Command failed with exit code 127]")).toEqual({ output: "", exitCode: 127 });
    expect(parseExecuteResult("no status")).toEqual({ output: "no status", exitCode: undefined });
  });
});

describe("ScriptedChatModel", () => {
  // The OpenAI-style tool definition shape bindTools also accepts; deepagents passes its real tools.
  const fakeTool = (name: string) => ({ type: "function" as const, function: { name, description: name, parameters: { type: "object", properties: {} } } });

  it("is a chat model: bindTools returns a model that emits the planned tool call", async () => {
    const model = new ScriptedChatModel().bindTools(["write_file", "execute", "read_file", "edit_file"].map(fakeTool));
    const reply = await model.invoke([new HumanMessage(TASK)]);
    expect(reply.tool_calls).toEqual([
      { id: expect.any(String), name: "write_file", args: { file_path: PROGRAM_PATH, content: BUGGY_PROGRAM }, type: "tool_call" },
    ]);
    expect(reply.content).toContain(SCRIPTED_LABEL);
  });

  it("refuses to call a tool that was not bound, instead of inventing it", async () => {
    const model = new ScriptedChatModel().bindTools([fakeTool("ls")]);
    await expect(model.invoke([new HumanMessage(TASK)])).rejects.toThrow(/did not bind the "write_file" tool \(bound: ls\)/);
  });

  it("honours an abort during its reply delay", async () => {
    const model = new ScriptedChatModel({ replyDelayMs: 60_000 }).bindTools([fakeTool("write_file")]);
    const controller = new AbortController();
    const reply = model.invoke([new HumanMessage(TASK)], { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(reply).rejects.toThrow();
  });
});
