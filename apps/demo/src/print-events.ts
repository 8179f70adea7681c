import { SandboxError } from "@sandbox/core";
import type { DemoEvent, DemoResult } from "./run-demo.js";

/** Where and how the transcript is written. */
export interface TranscriptOptions {
  write?: (text: string) => void;
  /** ANSI colours. Default: when stdout is a terminal and `NO_COLOR` is unset. */
  color?: boolean;
}

const MAX_BLOCK_LINES = 40;

function seconds(milliseconds: number): string {
  return milliseconds < 1000 ? `${Math.round(milliseconds)} ms` : `${(milliseconds / 1000).toFixed(1)} s`;
}

/**
 * Prints {@link DemoEvent}s as a human-readable transcript: each tool call
 * when the model issues it, each result when the sandbox answers, with the
 * time since start and how long the step took.
 */
export function createTranscript(options: TranscriptOptions = {}) {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const paint = (code: string) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const dim = paint("2");
  const bold = paint("1");
  const cyan = paint("36");
  const yellow = paint("33");
  const green = paint("32");
  const red = paint("31");
  const startedAt = performance.now();
  const stamp = () => dim(`[${((performance.now() - startedAt) / 1000).toFixed(1).padStart(5)}s]`);
  const line = (text = "") => write(`${text}\n`);
  const block = (text: string, prefix = "          | ") => {
    const lines = text.replace(/\n+$/, "").split("\n");
    const shown = lines.slice(0, MAX_BLOCK_LINES);
    for (const entry of shown) line(dim(prefix) + entry);
    if (lines.length > shown.length) line(dim(`${prefix}... (${lines.length - shown.length} more lines)`));
  };
  const formatArgs = (args: Record<string, unknown>): { inline: string; blocks: Array<[string, string]> } => {
    const inline: string[] = [];
    const blocks: Array<[string, string]> = [];
    for (const [key, value] of Object.entries(args)) {
      if (typeof value === "string" && value.includes("\n")) blocks.push([key, value]);
      else inline.push(`${key}=${JSON.stringify(value)}`);
    }
    return { inline: inline.join(" "), blocks };
  };

  return {
    onEvent(event: DemoEvent): void {
      switch (event.type) {
        case "start":
          line(bold("deepagents + sandbox demo"));
          line(`  provider  ${cyan(event.provider)}   ${dim("(one line switches it: SANDBOX_PROVIDER=local-docker | modal)")}`);
          line(`  image     ${event.imageName}   ${dim(`(${event.imageReason})`)}`);
          line(`  model     ${event.modelKind === "scripted" ? yellow(event.modelLabel) : event.modelLabel}`);
          line();
          line(`${stamp()} creating the sandbox...`);
          return;
        case "pull-progress":
          line(dim(`          pull: ${event.line}`));
          return;
        case "sandbox-ready":
          line(`${stamp()} sandbox ready: ${cyan(event.provider)} ${event.sandboxId.slice(0, 24)} ${dim(`(${seconds(event.durationMs)})`)}`);
          return;
        case "model-turn": {
          line(
            `${stamp()} ${bold("model")} ${dim(`(${seconds(event.durationMs)})`)}${event.text ? ` ${event.toolCalls.length === 0 ? "final answer below" : event.text}` : ""}`,
          );
          for (const call of event.toolCalls) {
            const { inline, blocks } = formatArgs(call.args);
            line(`          ${cyan("->")} ${bold(call.name)} ${inline}`);
            for (const [key, value] of blocks) {
              line(dim(`          ${key}:`));
              block(value);
            }
          }
          return;
        }
        case "tool-result": {
          const failed = event.isError || /\[Command failed with exit code/.test(event.text);
          const marker = failed ? red("<-") : green("<-");
          line(`${stamp()} ${marker} ${bold(event.name)} ${dim(`(${seconds(event.durationMs)} in the sandbox)`)}`);
          block(event.text || "(empty)");
          return;
        }
        case "answer":
          line();
          line(bold("Answer:"));
          block(event.text, "  ");
          line();
          return;
        case "sandbox-closed":
          line(`${stamp()} sandbox closed ${dim(`(${seconds(event.durationMs)})`)}`);
          return;
        case "close-failed":
          line(
            red(
              `${stamp()} closing the sandbox failed: ${SandboxError.isInstance(event.error) ? `[${event.error.provider}] ${event.error.message}` : event.error instanceof Error ? event.error.message : String(event.error)}`,
            ),
          );
          return;
      }
    },

    /** The closing summary of a successful run. */
    summary(result: DemoResult): void {
      const toolMs = result.toolResults.reduce((sum, entry) => sum + entry.durationMs, 0);
      line(
        `done: ${result.toolResults.length} tool calls on ${result.provider}; ` +
          `create ${seconds(result.timings.createMs)}, agent ${seconds(result.timings.agentMs)} ` +
          `(tools ${seconds(toolMs)}, model and graph ${seconds(result.timings.agentMs - toolMs)}), ` +
          `close ${seconds(result.timings.closeMs)}, total ${seconds(result.timings.totalMs)}`,
      );
    },
  };
}
