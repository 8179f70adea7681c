import { sandboxErrorOf } from "@sandbox/core/conformance";
import { createDeepAgent } from "deepagents";
import { afterEach, describe, expect, it } from "vitest";
import { createModalSandboxFactory, MODAL_TAGS, ModalSandbox, ModalSandboxError, type ModalSandboxFactory } from "../src/index.js";
import { dockerAvailable, EMULATOR_TOKEN_ID, useEmulatorSession } from "./support/emulator.js";
import { type ScriptedToolCall, ToolScriptModel } from "./support/tool-script-model.js";

/*
 * The @langchain/modal behaviours a migrating user relies on, against the
 * real modal SDK and @sandbox/modal-emulator (Docker containers), with real
 * deepagents agents driven by an offline scripted model. No vi.mock.
 */

const withDocker = await dockerAvailable();
const appName = `dropin-${process.pid}`;
const IMAGE = "sandbox-busybox:latest";

const failure = (promise: Promise<unknown>) => sandboxErrorOf(() => promise, ModalSandboxError);

/**
 * deepagents 1.14.1 awaits a backend factory (its `resolveBackend`), but
 * `createDeepAgent`'s parameter type only admits synchronous factories (its
 * `createFilesystemMiddleware` admits async ones): the cast bridges that gap
 * in the types only.
 */
const asDeepAgentBackend = (factory: ModalSandboxFactory) => factory as unknown as NonNullable<Parameters<typeof createDeepAgent>[0]>["backend"];

/** Text of every tool result in an agent's final state, in order. */
function toolOutputs(result: { messages: Array<{ getType?: () => string; content?: unknown }> }): string[] {
  return result.messages
    .filter((message) => message.getType?.() === "tool")
    .map((message) => (typeof message.content === "string" ? message.content : JSON.stringify(message.content)));
}

describe.runIf(withDocker)("@langchain/modal drop-in behaviour against @sandbox/modal-emulator (needs a Docker engine)", () => {
  const session = useEmulatorSession();
  const opened: ModalSandbox[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((sandbox) => sandbox.close().catch(() => undefined)));
  });
  const track = <T extends ModalSandbox>(sandbox: T): T => {
    opened.push(sandbox);
    return sandbox;
  };
  const create = async () => track(await ModalSandbox.create({ appName, imageName: IMAGE }));

  describe("terminate(), stop(), poll(), wait()", () => {
    it("poll() is null while the sandbox runs; terminate() ends it at Modal, closes the handle, and poll()/wait() then resolve its exit code", {
      timeout: 120_000,
    }, async () => {
      const sandbox = await create();
      const id = sandbox.id;
      expect(await sandbox.poll()).toBeNull();
      expect(sandbox.isRunning).toBe(true);
      await sandbox.terminate();
      expect(await session().exists(id), "terminate() left the sandbox at Modal").toBe(false);
      expect(sandbox.state).toBe("closed");
      expect(sandbox.isRunning).toBe(false);
      const code = await sandbox.poll();
      expect(typeof code).toBe("number");
      expect(await sandbox.wait()).toBe(code);
      expect((await failure(sandbox.execute("true"))).code).toBe("SANDBOX_CLOSED");
      await sandbox.terminate(); // idempotent
      const record = (await session().sandboxes()).find((entry) => entry.sandboxId === id);
      if (record?.result) expect(record.result.status).toBeGreaterThan(0);
    });

    it("stop() ends the sandbox like terminate() (a Modal sandbox cannot be paused)", { timeout: 120_000 }, async () => {
      const sandbox = await create();
      const id = sandbox.id;
      await sandbox.stop();
      expect(await session().exists(id)).toBe(false);
      expect(sandbox.state).toBe("closed");
      expect(sandbox.isRunning).toBe(false);
    });

    it("poll() reports a sandbox that was ended elsewhere, and wait() resolves its exit code", { timeout: 120_000 }, async () => {
      const sandbox = await create();
      const raw = await session().rawClient.sandboxes.fromId(sandbox.id);
      await raw.terminate();
      raw.detach();
      expect(sandbox.isRunning, "nothing has told the handle yet").toBe(true);
      const code = await sandbox.wait();
      expect(typeof code).toBe("number");
      expect(sandbox.isRunning, "wait() resolved an exit code: the sandbox has ended").toBe(false);
      expect(await sandbox.poll()).toBe(code);
      expect(sandbox.isInitialized, "the handle stays open until close()").toBe(true);
      await sandbox.close();
    });

    it("after close() (no exit code known) poll() and wait() throw SANDBOX_CLOSED", { timeout: 120_000 }, async () => {
      const sandbox = await create();
      await sandbox.close();
      expect((await failure(sandbox.poll())).code).toBe("SANDBOX_CLOSED");
      expect((await failure(sandbox.wait())).code).toBe("SANDBOX_CLOSED");
    });
  });

  describe("auth fields are individually optional", () => {
    it("auth with only tokenId takes the secret from MODAL_TOKEN_SECRET", { timeout: 120_000 }, async () => {
      const sandbox = track(await ModalSandbox.create({ appName, imageName: IMAGE, auth: { tokenId: EMULATOR_TOKEN_ID } }));
      expect((await sandbox.execute("echo authed")).output).toBe("authed\n");
    });

    it("a given tokenId wins over MODAL_TOKEN_ID: a wrong one is refused with AUTHENTICATION_FAILED", { timeout: 60_000 }, async () => {
      const error = await failure(ModalSandbox.create({ appName, imageName: IMAGE, auth: { tokenId: "ak-not-the-emulators" } }));
      expect(error.code).toBe("AUTHENTICATION_FAILED");
      expect(error.message).not.toContain(process.env.MODAL_TOKEN_SECRET!);
    });
  });

  describe("createDeepAgent({ backend: new ModalSandbox(options) }) before initialize()", () => {
    it("builds the agent with the provisional id, and after initialize() the agent runs its tools in the sandbox", { timeout: 180_000 }, async () => {
      const sandbox = track(new ModalSandbox({ appName, imageName: IMAGE }));
      const provisional = sandbox.id;
      expect(provisional).toMatch(/^modal-pending-/);
      const model = new ToolScriptModel([[{ name: "execute", args: { command: "echo from-the-sandbox; hostname" } }]]);
      const agent = createDeepAgent({ model, backend: sandbox });
      await sandbox.initialize();
      expect(sandbox.id).not.toBe(provisional);
      expect(sandbox.id).toMatch(/^sb-/);
      expect(sandbox.isRunning).toBe(true);
      const result = await agent.invoke({ messages: [{ role: "user", content: "run it" }] });
      const outputs = toolOutputs(result as never);
      expect(outputs.join("\n")).toContain("from-the-sandbox");
    });
  });

  describe("createModalSandboxFactory as a deepagents backend", () => {
    let factory: ModalSandboxFactory | undefined;
    let runs = 0;
    /** A Modal App of its own per test, so sandboxes are counted by their app tag (finished ones leave the emulator's list after a while). */
    const freshApp = () => `${appName}-factory-${++runs}`;
    const sandboxesOf = async (app: string) => (await session().sandboxes()).filter((entry) => entry.tags[MODAL_TAGS.app] === app);
    afterEach(async () => {
      await factory?.close();
      factory = undefined;
    });

    const SCRIPT: ScriptedToolCall[][] = [
      [{ name: "write_file", args: { file_path: "/tmp/notes.txt", content: "written by the first tool call" } }],
      [{ name: "execute", args: { command: "cat /tmp/notes.txt; echo; echo second > /tmp/second.txt" } }],
      [{ name: "read_file", args: { file_path: "/tmp/second.txt" } }],
      [{ name: "execute", args: { command: "ls /tmp" } }],
    ];

    it("one invocation with several tool calls uses exactly one sandbox, files persist between the calls; a second invocation gets a new one; close() ends them all", {
      timeout: 300_000,
    }, async () => {
      const app = freshApp();
      factory = createModalSandboxFactory({ appName: app, imageName: IMAGE, timeoutMs: 300_000 });
      const agent = createDeepAgent({ model: new ToolScriptModel(SCRIPT), backend: asDeepAgentBackend(factory) });

      const first = await agent.invoke({ messages: [{ role: "user", content: "first" }] });
      const outputs = toolOutputs(first as never);
      expect(outputs.length, "every scripted tool call ran").toBe(4);
      expect(outputs[1], "execute saw the file write_file wrote").toContain("written by the first tool call");
      expect(outputs[2], "read_file saw the file execute wrote").toContain("second");
      expect((await sandboxesOf(app)).length, "one invocation, one sandbox").toBe(1);
      expect(factory.sandboxes.length).toBe(1);

      await agent.invoke({ messages: [{ role: "user", content: "second" }] }, { configurable: { thread_id: "another-run" } });
      expect((await sandboxesOf(app)).length, "two invocations, two sandboxes").toBe(2);
      const ids = factory.sandboxes.map((sandbox) => sandbox.id);
      expect(new Set(ids).size).toBe(2);

      await factory.close();
      expect(factory.sandboxes).toEqual([]);
      for (const id of ids) expect(await session().exists(id), `factory.close() left ${id}`).toBe(false);
    });

    it("a subagent started through the task tool works in the invocation's sandbox", { timeout: 300_000 }, async () => {
      const app = freshApp();
      factory = createModalSandboxFactory({ appName: app, imageName: IMAGE });
      // The subagent runs on the same scripted model; its conversation starts with the task description.
      const model = new ToolScriptModel(
        [
          [{ name: "write_file", args: { file_path: "/tmp/handover.txt", content: "left by the main agent" } }],
          [{ name: "task", args: { description: "SUBAGENT: read the handover file", subagent_type: "general-purpose" } }],
        ],
        { whenHumanIncludes: { SUBAGENT: [[{ name: "execute", args: { command: "cat /tmp/handover.txt" } }]] } },
      );
      const agent = createDeepAgent({ model, backend: asDeepAgentBackend(factory) });
      const result = await agent.invoke({ messages: [{ role: "user", content: "hand over" }] });
      expect(toolOutputs(result as never).join("\n"), "the subagent's result carries the file the main agent wrote").toContain("left by the main agent");
      expect((await sandboxesOf(app)).length, "main agent and subagent share one sandbox").toBe(1);
    });

    it("two invocations on the same thread id still get a sandbox each", { timeout: 300_000 }, async () => {
      const app = freshApp();
      factory = createModalSandboxFactory({ appName: app, imageName: IMAGE });
      const agent = createDeepAgent({
        model: new ToolScriptModel([[{ name: "execute", args: { command: "echo one" } }], [{ name: "execute", args: { command: "echo two" } }]]),
        backend: asDeepAgentBackend(factory),
      });
      await agent.invoke({ messages: [{ role: "user", content: "a" }] }, { configurable: { thread_id: "same" } });
      expect((await sandboxesOf(app)).length).toBe(1);
      await agent.invoke({ messages: [{ role: "user", content: "b" }] }, { configurable: { thread_id: "same" } });
      expect((await sandboxesOf(app)).length).toBe(2);
    });

    it("without factory.close(), the sandboxes end at their timeoutMs lifetime", { timeout: 180_000 }, async () => {
      factory = createModalSandboxFactory({ appName, imageName: IMAGE, timeoutMs: 10_000 });
      const agent = createDeepAgent({
        model: new ToolScriptModel([[{ name: "execute", args: { command: "echo short-lived" } }]]),
        backend: asDeepAgentBackend(factory),
      });
      await agent.invoke({ messages: [{ role: "user", content: "go" }] });
      const [sandbox] = factory.sandboxes;
      expect(sandbox).toBeDefined();
      const id = sandbox!.id;
      const deadline = Date.now() + 90_000;
      while ((await session().exists(id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await session().exists(id), "the sandbox outlived its 10 s lifetime").toBe(false);
    });

    it("await factory() outside an agent creates a new sandbox on every call", { timeout: 180_000 }, async () => {
      factory = createModalSandboxFactory({ appName, imageName: IMAGE });
      const [one, two] = await Promise.all([factory(), factory()]);
      expect(one).not.toBe(two);
      expect(one!.id).not.toBe(two!.id);
      expect(factory.sandboxes.length).toBe(2);
    });
  });
});
