import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createDemoRegistry } from "./demo-registry.js";

const DEMO_DIRECTORY = fileURLToPath(new URL("..", import.meta.url));

describe("createDemoRegistry", () => {
  it("picks the provider from SANDBOX_PROVIDER, else local-docker", () => {
    expect(createDemoRegistry({}).resolveName()).toBe("local-docker");
    expect(createDemoRegistry({ SANDBOX_PROVIDER: "modal" }).resolveName()).toBe("modal");
    expect(createDemoRegistry({ SANDBOX_PROVIDER: "modal" }).resolveName("local-docker")).toBe("local-docker");
    expect(createDemoRegistry({}).names()).toEqual(["local-docker", "modal"]);
  });

  it("never loads the Modal SDK on the local default (a fresh process, every module resolution logged)", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "demo-lazy-"));
    try {
      const hooks = path.join(directory, "hooks.mjs");
      await writeFile(
        hooks,
        "export async function resolve(specifier, context, next) {\n" +
          "  const result = await next(specifier, context);\n" +
          "  process.stderr.write(`RESOLVED ${result.url}\\n`);\n" +
          "  return result;\n" +
          "}\n",
      );
      const register = path.join(directory, "register.mjs");
      await writeFile(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
      const script =
        'await import("./src/run-demo.ts"); const { createDemoRegistry } = await import("./src/demo-registry.ts");' +
        ' const provider = await createDemoRegistry({}).get(); if (provider.name !== "local-docker") throw new Error(provider.name);';
      const { stderr } = await promisify(execFile)(process.execPath, ["--import", register, "--import", "tsx", "--input-type=module", "-e", script], {
        cwd: DEMO_DIRECTORY,
        env: { ...process.env, SANDBOX_PROVIDER: "" },
      });
      const resolved = stderr.split("\n").filter((line) => line.startsWith("RESOLVED "));
      expect(resolved.some((line) => line.includes("/@sandbox/local-docker/") || line.includes("/packages/local-docker/"))).toBe(true);
      expect(resolved.filter((line) => /\/node_modules\/modal\/|\/packages\/modal\/|\/nice-grpc\//.test(line))).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 60_000);
});
