import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { DEFAULT_ANTHROPIC_MODEL } from "./demo-config.js";
import { ScriptedChatModel, type ScriptedChatModelFields } from "./scripted-chat-model.js";

/** Which model drives the agent. `auto`: Anthropic when `ANTHROPIC_API_KEY` is set, else scripted. */
export type ModelChoice = "auto" | "scripted" | "anthropic";

/** The model a run uses, and how the transcript names it. */
export interface ChosenModel {
  model: BaseChatModel;
  kind: "scripted" | "anthropic";
  /** One line for the transcript. */
  label: string;
}

/**
 * Resolves the model. `DEMO_MODEL=scripted` forces the scripted model even
 * when a key is set. The Anthropic SDK is imported only when used.
 */
export async function chooseModel(
  choice: ModelChoice = "auto",
  environment: Record<string, string | undefined> = process.env,
  plan?: ScriptedChatModelFields["plan"],
): Promise<ChosenModel> {
  const fromEnvironment = environment.DEMO_MODEL?.trim() || "auto";
  if (!["auto", "scripted", "anthropic"].includes(fromEnvironment)) {
    throw new Error(`DEMO_MODEL must be "scripted", "anthropic" or "auto", not "${fromEnvironment}"`);
  }
  const requested = choice === "auto" ? (fromEnvironment as ModelChoice) : choice;
  const apiKey = environment.ANTHROPIC_API_KEY?.trim();
  const useAnthropic = requested === "anthropic" || (requested === "auto" && Boolean(apiKey));
  if (!useAnthropic) {
    const delay = environment.DEMO_SCRIPTED_DELAY_MS?.trim();
    const replyDelayMs = delay ? Number(delay) : 0;
    if (!Number.isInteger(replyDelayMs) || replyDelayMs < 0) throw new Error(`DEMO_SCRIPTED_DELAY_MS must be a whole number of milliseconds, not "${delay}"`);
    return {
      model: new ScriptedChatModel({ replyDelayMs, ...(plan ? { plan } : {}) }),
      kind: "scripted",
      label:
        "SCRIPTED (offline stand-in for an LLM: fixed plan, decisions read the real tool results; " +
        "every tool call really runs in the sandbox). Set ANTHROPIC_API_KEY to use Claude.",
    };
  }
  if (!apiKey) throw new Error("the Anthropic model was requested but ANTHROPIC_API_KEY is not set");
  const { ChatAnthropic } = await import("@langchain/anthropic");
  const modelName = environment.ANTHROPIC_MODEL?.trim() || DEFAULT_ANTHROPIC_MODEL;
  return {
    model: new ChatAnthropic({ model: modelName, apiKey, maxRetries: 2 }),
    kind: "anthropic",
    label: `Anthropic ${modelName} (ANTHROPIC_API_KEY is set; DEMO_MODEL=scripted forces the offline model)`,
  };
}
