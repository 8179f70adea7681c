import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The emulator talks to Docker and speaks Modal's wire protocol; it must not
 * load deepagents or LangChain (ARCHITECTURE.md, "Dependencies and
 * packaging"). Each case loads the built entry in a fresh node process and
 * lists every module that process loaded. Needs `dist/` (turbo builds it
 * before `test`).
 */
const PACKAGE_DIRECTORY = fileURLToPath(new URL("..", import.meta.url));
const CHILD = fileURLToPath(new URL("../test/fixtures/load-and-list-modules.mjs", import.meta.url));
const LANGCHAIN_PATH = /[\\/]node_modules[\\/](?:\.pnpm[\\/][^\\/]*[\\/]node_modules[\\/])?(?:deepagents|langchain|@langchain|langsmith)[\\/]/;
const scratch = mkdtempSync(path.join(tmpdir(), "emulator-modules-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Loaded {
  milliseconds: number;
  exports: string[];
  modules: string[];
}

let runs = 0;
async function load(mode: "import" | "require", specifier: string): Promise<Loaded> {
  const log = path.join(scratch, `modules-${++runs}.log`);
  const { stdout } = await promisify(execFile)(process.execPath, [CHILD, mode, specifier, log], { cwd: PACKAGE_DIRECTORY });
  return JSON.parse(stdout) as Loaded;
}

function langchainModules(loaded: Loaded): string[] {
  return loaded.modules.filter((module) => LANGCHAIN_PATH.test(decodeURIComponent(module)));
}

describe("the emulator loads no LangChain code", () => {
  it.each(["import", "require"] as const)("%s of @sandbox/modal-emulator loads no deepagents, langchain, @langchain/* or langsmith module", async (mode) => {
    const loaded = await load(mode, "@sandbox/modal-emulator");
    expect(loaded.exports).toContain("startModalEmulator");
    // The check itself works: the engine layer and dockerode were seen loading.
    expect(loaded.modules.some((module) => module.includes("docker-engine"))).toBe(true);
    expect(loaded.modules.some((module) => module.includes("dockerode"))).toBe(true);
    expect(langchainModules(loaded)).toEqual([]);
  });

  it("the recorder does see LangChain when it is loaded (control: @sandbox/core's root entry)", async () => {
    const loaded = await load("import", "@sandbox/core");
    expect(langchainModules(loaded).length).toBeGreaterThan(0);
  });

  it("import time: @sandbox/docker-engine costs about what dockerode alone costs", async () => {
    const dockerode = await load("import", "dockerode");
    const engine = await load("import", "@sandbox/docker-engine");
    const emulator = await load("import", "@sandbox/modal-emulator");
    console.log(
      `import time (fresh node process): dockerode ${dockerode.milliseconds.toFixed(0)} ms, ` +
        `@sandbox/docker-engine ${engine.milliseconds.toFixed(0)} ms, @sandbox/modal-emulator ${emulator.milliseconds.toFixed(0)} ms`,
    );
    expect(langchainModules(engine)).toEqual([]);
  });
});
