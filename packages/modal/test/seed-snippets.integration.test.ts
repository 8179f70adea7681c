import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ModalClient } from "modal";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { ModalSandbox, ModalSandboxError } from "../src/index.js";
import { run as accessingTheSdk } from "./seed-snippets/accessing-the-sdk.snippet.js";
import { run as authentication } from "./seed-snippets/authentication.snippet.js";
import { run as deepagentsUsage } from "./seed-snippets/deepagents.snippet.js";
import { run as errorHandling } from "./seed-snippets/error-handling.snippet.js";
import { run as factories } from "./seed-snippets/factories.snippet.js";
import { run as gpuSupport } from "./seed-snippets/gpu.snippet.js";
import { run as initialFiles } from "./seed-snippets/initial-files.snippet.js";
import { run as reconnecting } from "./seed-snippets/reconnecting.snippet.js";
import { run as standalone } from "./seed-snippets/standalone.snippet.js";
import { run as volumesAndSecrets } from "./seed-snippets/volumes-and-secrets.snippet.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";
import { observedToolResults, PI_COMMAND } from "./support/pi-chat-model.js";
import { runSupportScript } from "./support/run-child.js";

/*
 * Every snippet of the documented API page (test/seed-snippets/seed-page.txt,
 * a copy of the @langchain/modal page this package implements) compiles and
 * runs against @sandbox/modal-emulator. Each *.snippet.ts file holds the
 * snippet between `// <seed>` markers exactly as on the page except for the
 * package name (checked below); only the deepagents snippet swaps the model
 * (ChatAnthropic -> a scripted offline model). Everything else is real: the
 * modal@0.11.1 SDK, gRPC, the emulator in its own process, Docker containers.
 * No vi.mock.
 *
 * The emulator is started with the token pair the Authentication snippet
 * spells out ("your-token-id" / "your-token-secret"), so that snippet runs
 * as written.
 */

const SNIPPETS = fileURLToPath(new URL("./seed-snippets/", import.meta.url));
const PAGE = readFileSync(`${SNIPPETS}seed-page.txt`, "utf8");
const TOKEN_ID = "your-token-id";
const TOKEN_SECRET = "your-token-secret";
const SECRETS = {
  "my-api-keys": { API_KEY: "api-key-from-the-my-api-keys-secret" },
  "database-credentials": { DATABASE_URL: "postgres://seed:example@db/app" },
};

const withDocker = await dockerAvailable();

/** The `// <seed>` regions of a snippet file, de-marked. */
function seedRegions(source: string): string[] {
  const regions: string[] = [];
  let current: string[] | undefined;
  for (const line of source.split("\n")) {
    if (line.trim() === "// <seed>") current = [];
    else if (line.trim() === "// </seed>") {
      regions.push(current!.join("\n"));
      current = undefined;
    } else current?.push(line);
  }
  return regions;
}

const snippetFiles = readdirSync(SNIPPETS).filter((name) => name.endsWith(".snippet.ts"));

describe("the seed page's snippets, as files", () => {
  it.each(snippetFiles)("%s is on the page word for word (package name aside), region by region, in order", (file) => {
    const regions = seedRegions(readFileSync(`${SNIPPETS}${file}`, "utf8"));
    expect(regions.length).toBeGreaterThan(0);
    let from = 0;
    for (const region of regions) {
      const asPublished = region.replaceAll('"@sandbox/modal"', '"@langchain/modal"');
      const at = PAGE.indexOf(asPublished, from);
      expect(at, `not on the seed page (after offset ${from}):\n${asPublished}`).toBeGreaterThanOrEqual(0);
      from = at + asPublished.length;
    }
  });

  it("covers every code snippet of the page: ten files", () => {
    expect(snippetFiles.sort()).toEqual(
      [
        "accessing-the-sdk",
        "authentication",
        "deepagents",
        "error-handling",
        "factories",
        "gpu",
        "initial-files",
        "reconnecting",
        "standalone",
        "volumes-and-secrets",
      ].map((name) => `${name}.snippet.ts`),
    );
  });

  it("every snippet type-checks under the package's tsconfig (strict)", { timeout: 120_000 }, () => {
    const configPath = fileURLToPath(new URL("../tsconfig.json", import.meta.url));
    const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    const program = ts.createProgram(
      snippetFiles.map((file) => `${SNIPPETS}${file}`),
      { ...config!.options, noEmit: true },
    );
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(problems).toEqual([]);
  });
});

describe.runIf(withDocker)("the seed page's snippets run against @sandbox/modal-emulator (needs a Docker engine)", () => {
  const session = useEmulatorSession({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, secrets: SECRETS });
  const cleanup: ModalSandbox[] = [];
  const track = <T extends ModalSandbox>(sandbox: T): T => {
    cleanup.push(sandbox);
    return sandbox;
  };
  // Registered after the session's hooks, so it runs before the emulator stops.
  afterAll(async () => {
    await Promise.all(cleanup.map((sandbox) => sandbox.close().catch(() => undefined)));
  }, 120_000);

  it("Authentication: the auth option reaches the client (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET unset)", async () => {
    const saved = { id: process.env.MODAL_TOKEN_ID, secret: process.env.MODAL_TOKEN_SECRET };
    delete process.env.MODAL_TOKEN_ID;
    delete process.env.MODAL_TOKEN_SECRET;
    try {
      const sandbox = track(await authentication());
      expect(sandbox.client.profile.tokenId).toBe(TOKEN_ID);
      expect((await sandbox.execute("echo authenticated")).output).toBe("authenticated\n");
      await sandbox.close();
    } finally {
      process.env.MODAL_TOKEN_ID = saved.id;
      process.env.MODAL_TOKEN_SECRET = saved.secret;
    }
  });

  it("Usage with deepagents: the agent's execute tool runs in the sandbox, and the snippet closes it", async () => {
    observedToolResults.length = 0;
    const { sandbox, result } = await deepagentsUsage();
    const toolText = observedToolResults.map((entry) => entry.content).join("\n");
    expect(toolText, `the model never saw the sandbox's answer to ${PI_COMMAND}`).toContain("3.14159");
    expect(toolText).toContain("[Command succeeded with exit code 0]");
    expect(JSON.stringify(result.messages)).toContain("3.14159");
    expect(sandbox.state).toBe("closed");
    const running = (await session().sandboxes()).filter((entry) => entry.result === undefined);
    expect(running, "the snippet's finally { close() } left a sandbox running").toEqual([]);
  });

  it("Standalone usage: prints the Python version, then close() terminates the sandbox", async () => {
    const printed: unknown[] = [];
    const before = new Set((await session().sandboxes()).map((entry) => entry.sandboxId));
    const { sandbox, result } = await standalone({ log: (...values: unknown[]) => void printed.push(...values) });
    expect(result).toMatchObject({ exitCode: 0, truncated: false });
    expect(String(printed[0])).toMatch(/^Python 3\.\d+\.\d+/);
    expect(sandbox.state).toBe("closed");
    const created = (await session().sandboxes()).filter((entry) => !before.has(entry.sandboxId));
    expect(created, "the snippet creates exactly one sandbox").toHaveLength(1);
    // GenericResult status 3: TERMINATED, what close() asks for.
    expect(created[0]!.result?.status, "close() must terminate the snippet's sandbox").toBe(3);
  });

  it("Standalone usage in its own process: after close() the process exits by itself (the client is released)", { timeout: 90_000 }, async () => {
    const { code: exit, stdout, stderr } = await runSupportScript(new URL("./support/run-standalone-snippet.ts", import.meta.url));
    expect(exit, `the snippet's process did not exit on its own after close(); stderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^Python 3\.\d+\.\d+/);
  });

  it("GPU support: the emulator has no GPU, so creation fails loudly with RESOURCE_LIMIT_EXCEEDED naming the gpu", async () => {
    const before = (await session().sandboxes()).length;
    const error = await gpuSupport().then(
      (sandbox) => {
        track(sandbox);
        return undefined;
      },
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect((error as ModalSandboxError).code).toBe("RESOURCE_LIMIT_EXCEEDED");
    expect((error as ModalSandboxError).message).toContain('gpu "T4"');
    const running = (await session().sandboxes()).slice(before).filter((entry) => entry.result === undefined);
    expect(running).toEqual([]);
  });

  it("Volumes and secrets: mounted volumes persist across sandboxes, secrets arrive as environment variables", async () => {
    for (const name of ["my-data-volume", "my-models-volume"]) await session().rawClient.volumes.fromName(name, { createIfMissing: true });
    const sandbox = track(await volumesAndSecrets());
    expect((await sandbox.execute("echo $API_KEY")).output).toBe(`${SECRETS["my-api-keys"].API_KEY}\n`);
    expect((await sandbox.execute("echo $DATABASE_URL")).output).toBe(`${SECRETS["database-credentials"].DATABASE_URL}\n`);
    expect((await sandbox.execute("cat /data/test.txt")).output).toBe("Hello\n");
    await sandbox.close();
    const next = track(await ModalSandbox.create({ volumes: { "/data": "my-data-volume" } }));
    expect((await next.execute("cat /data/test.txt")).output).toBe("Hello\n");
    await next.close();
  });

  it("Initial files: main.py runs, config.json is there", async () => {
    const { sandbox, result } = await initialFiles();
    track(sandbox);
    expect(result).toEqual({ output: "Hello from Python!\n", exitCode: 0, truncated: false });
    const [config] = await sandbox.downloadFiles(["/app/config.json"]);
    expect(JSON.parse(new TextDecoder().decode(config!.content!))).toEqual({ name: "my-app" });
    await sandbox.close();
  });

  it("Accessing the Modal SDK: client and instance are the SDK's; the direct exec runs", async () => {
    const { modalSandbox, client, instance, process: started } = await accessingTheSdk();
    track(modalSandbox);
    expect(client).toBeInstanceOf(ModalClient);
    expect(instance.sandboxId).toBe(modalSandbox.id);
    const [stdout, stderr, exitCode] = await Promise.all([started.stdout.readText(), started.stderr.readText(), started.wait()]);
    // The snippet uses the default image, alpine:3.21 (busybox in the
    // emulator), which has no python, exactly like alpine:3.21 on Modal: the
    // exec really ran and reports that (126/127 and a message naming python).
    expect([126, 127]).toContain(exitCode);
    expect(`${stdout}${stderr}`).toMatch(/python.*not found|not found.*python/);
    await modalSandbox.close();
  });

  it("Reconnecting: fromId and fromName return live handles on the same sandbox", async () => {
    const original = track(await ModalSandbox.create({ appName: "my-app", name: "my-sandbox" }));
    await original.uploadFiles([["/tmp/reconnect.txt", new TextEncoder().encode("same sandbox")]]);
    const { reconnected, reconnected2 } = await reconnecting(original.id);
    expect(reconnected.id).toBe(original.id);
    expect(reconnected2.id).toBe(original.id);
    expect((await reconnected.execute("cat /tmp/reconnect.txt")).output).toBe("same sandbox");
    expect((await reconnected2.execute("cat /tmp/reconnect.txt")).output).toBe("same sandbox");
    await reconnected.detach();
    await reconnected2.detach();
    expect(original.isRunning).toBe(true);
    expect(await original.isAlive()).toBe(true);
    const id = original.id;
    await original.close();
    await expect(ModalSandbox.fromId(id)).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
  });

  it('Factory functions: every factory() call creates a new sandbox ("Create new sandbox per invocation"); the reuse factory returns the given one', async () => {
    const before = (await session().sandboxes()).length;
    const { factory, sandbox, reuseFactory } = await factories();
    track(sandbox);
    const made = (await Promise.all([factory(), factory()])).map(track);
    expect(made[0]).not.toBe(made[1]);
    expect(made[0]!.id).not.toBe(made[1]!.id);
    expect(await reuseFactory()).toBe(sandbox);
    expect(await reuseFactory()).toBe(sandbox);
    expect((await session().sandboxes()).length - before, "one sandbox for the snippet's create() plus one per factory() call").toBe(3);
    await Promise.all(made.map((each) => each.close()));
    await sandbox.close();
  });

  it("Error handling: NOT_INITIALIZED is caught as documented and initialize() makes the sandbox usable", async () => {
    const sandbox = track(new ModalSandbox());
    const complaints: unknown[] = [];
    await errorHandling(sandbox, { error: (...values: unknown[]) => void complaints.push(...values) });
    expect(sandbox.isInitialized).toBe(true);
    expect((await sandbox.execute("echo ready")).output).toBe("ready\n");
    expect(complaints).toEqual([]);
    await sandbox.close();
  });
});
