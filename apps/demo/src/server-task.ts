import type { BaseMessage } from "@langchain/core/messages";
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { messageText, SCRIPTED_LABEL, type ScriptedTurn } from "./scripted-chat-model.js";

/**
 * The second scenario: the agent starts a small web server in the sandbox as
 * a background process; the demo then fetches it through the sandbox's port.
 */

/** The port the server listens on inside the sandbox, declared when the sandbox is created. */
export const SERVER_PORT = 8000;

/** Where the page lives inside the sandbox. */
export const SITE_DIRECTORY = "/workspace/site";

/** The page the agent writes (the demo prints what the server answers for it). */
export const PAGE_BODY = "<h1>Hello from the sandbox</h1>\n<p>Served by a background process the agent started with spawn().</p>\n";

/** The background command: python's built-in HTTP server for the site directory. */
export const SERVER_COMMAND = `exec python3 -m http.server ${SERVER_PORT} --bind 0.0.0.0 --directory ${SITE_DIRECTORY}`;

/** Name of the demo's own tool (deepagents has no background-process tool): it calls `sandbox.spawn()`. */
export const START_PROCESS_TOOL = "start_background_process";

/** The user message of the server scenario. */
export const SERVER_TASK = [
  `Write a small HTML page to ${SITE_DIRECTORY}/index.html, then start a web server for that directory on port ${SERVER_PORT}`,
  `(for example "${SERVER_COMMAND}") with the ${START_PROCESS_TOOL} tool, so it keeps running after your turn.`,
  "Do not wait for it with execute: it never exits. Finish by saying which process id serves the page.",
].join(" ");

function lastToolResult(messages: BaseMessage[]): string | undefined {
  const last = messages.filter((message) => ToolMessage.isInstance(message)).at(-1);
  return last === undefined ? undefined : messageText(last);
}

/**
 * The scripted model's plan for the server scenario: write the page, start
 * the server with {@link START_PROCESS_TOOL}, answer with the process id the
 * tool reported. Each step reads the real result of the previous one.
 */
export function planServerTurn(messages: BaseMessage[]): ScriptedTurn {
  const step = messages.filter((message) => AIMessage.isInstance(message) && (message.tool_calls?.length ?? 0) > 0).length;
  const last = lastToolResult(messages);
  if (step === 0) {
    return {
      text: `${SCRIPTED_LABEL} Step 1/2: writing the page ${SITE_DIRECTORY}/index.html.`,
      toolCall: { name: "write_file", args: { file_path: `${SITE_DIRECTORY}/index.html`, content: PAGE_BODY } },
    };
  }
  if (step === 1) {
    if (!last?.startsWith("Successfully wrote"))
      return { text: `${SCRIPTED_LABEL} Writing the page failed, so I stop here. The tool said: ${last ?? "(nothing)"}` };
    return {
      text: `${SCRIPTED_LABEL} Step 2/2: starting the web server on port ${SERVER_PORT} as a background process.`,
      toolCall: { name: START_PROCESS_TOOL, args: { command: SERVER_COMMAND } },
    };
  }
  return { text: `${SCRIPTED_LABEL} ${last ?? "The server tool returned nothing."}` };
}
