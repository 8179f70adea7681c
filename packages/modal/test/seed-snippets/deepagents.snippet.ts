// Seed page, "Usage with deepagents". The only line that differs besides the
// package name is the model's import: ChatAnthropic is a scripted offline
// model here (the sandbox part is real).
// <seed>
import { createDeepAgent } from "deepagents";
// </seed>
import { PiChatModel as ChatAnthropic } from "../support/pi-chat-model.js";
// <seed>
import { ModalSandbox } from "@sandbox/modal";
// </seed>

export async function run(): Promise<{ sandbox: ModalSandbox; result: { messages: unknown[] } }> {
// <seed>
const sandbox = await ModalSandbox.create({
  imageName: "python:3.12-slim",
  timeoutMs: 600_000, // 10 minutes
});

try {
  const agent = createDeepAgent({
    model: new ChatAnthropic({ model: "claude-sonnet-4-20250514" }),
    systemPrompt: "You are a coding assistant with sandbox access.",
    backend: sandbox,
  });

  const result = await agent.invoke({
    messages: [{ role: "user", content: "Install numpy and calculate pi" }],
  });
// </seed>
  return { sandbox, result };
// <seed>
} finally {
  await sandbox.close();
}
// </seed>
}
