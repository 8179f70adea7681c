import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createCommandRouterHandlers } from "./command-router-service.js";
import { createControlPlaneHandlers } from "./control-plane-service.js";
import { loadModalSdkDefinitions } from "./modal-sdk-definitions.js";

/*
 * Keeps the README's coverage tables honest against the pinned SDK's own
 * definitions: a sandbox-related RPC or a SandboxCreateParams option without a
 * row fails here, and so does a row for something the SDK does not have, or
 * an "implemented" RPC the emulator has no handler for.
 */

const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
const STATUSES = new Set(["implemented", "refused", "differs"]);
/** Control-plane methods outside `Sandbox*` that sandbox code of the SDK calls. */
const SANDBOX_SUPPORT_METHOD =
  /^(Image|Volume|Secret|AuthTokenGet$|AppGetOrCreate$|AppFetchLogs$|AppCountLogs$|EnvironmentGetOrCreate$|TaskGetCommandRouterAccess$|ProxyGet$)/;

function tableRows(marker: string): string[][] {
  const start = readme.indexOf(`<!-- ${marker}:start`);
  const end = readme.indexOf(`<!-- ${marker}:end -->`);
  expect(start, `README has a ${marker} block`).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return readme
    .slice(start, end)
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| ---") && !/^\| (service|option) \|/.test(line))
    .map((line) =>
      line
        .slice(2, -2)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, "");

describe("README coverage tables", () => {
  it("has one row per sandbox-related RPC of the SDK's definitions, each implemented, refused (why) or differs (how)", () => {
    const definitions = loadModalSdkDefinitions();
    const bundle = readFileSync(createRequire(import.meta.url).resolve("modal"), "utf8");
    const expected = new Map<string, string>();
    for (const [key, method] of Object.entries(definitions.controlPlane.methods)) {
      const calledBySdk = new RegExp(`\\.${key}\\(`).test(bundle);
      if (method.name.startsWith("Sandbox") || (calledBySdk && SANDBOX_SUPPORT_METHOD.test(method.name))) {
        expected.set(`${definitions.controlPlane.fullName}/${method.name}`, key);
      }
    }
    for (const [key, method] of Object.entries(definitions.commandRouter.methods)) {
      expected.set(`${definitions.commandRouter.fullName}/${method.name}`, key);
    }
    const rows = tableRows("rpc-table");
    const seen = new Set<string>();
    for (const [service = "", rpc = "", status = "", why = ""] of rows) {
      const name = `${unquote(service)}/${unquote(rpc)}`;
      expect(expected.has(name), `README row ${name} names no sandbox-related RPC of the SDK`).toBe(true);
      expect(seen.has(name), `README has two rows for ${name}`).toBe(false);
      seen.add(name);
      expect(STATUSES.has(status), `${name}: status '${status}'`).toBe(true);
      if (status !== "implemented") expect(why, `${name} is ${status} without saying why/how`).not.toBe("");
    }
    const missing = [...expected.keys()].filter((name) => !seen.has(name));
    expect(missing, "RPCs of the SDK without a README row").toEqual([]);
  });

  it("marks implemented only RPCs the emulator has handlers for", () => {
    const controlPlane = createControlPlaneHandlers({ state: {} as never, tokens: {} as never, routerUrl: () => "" });
    const router = createCommandRouterHandlers({} as never);
    const definitions = loadModalSdkDefinitions();
    for (const [service = "", rpc = "", status = ""] of tableRows("rpc-table")) {
      if (status !== "implemented") continue;
      const isRouter = unquote(service) === definitions.commandRouter.fullName;
      const methods = isRouter ? definitions.commandRouter.methods : definitions.controlPlane.methods;
      const key = Object.entries(methods).find(([, method]) => method.name === unquote(rpc))?.[0] ?? "";
      expect(key in (isRouter ? router : controlPlane), `${unquote(rpc)} is marked implemented but has no handler`).toBe(true);
    }
  });

  it("has one row per SandboxCreateParams option of the SDK", () => {
    const declarations = readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve("modal")), "index.d.ts"), "utf8");
    const start = declarations.indexOf("type SandboxCreateParams = {");
    expect(start, "the SDK declares SandboxCreateParams").toBeGreaterThanOrEqual(0);
    const body = declarations.slice(start, declarations.indexOf("\n};", start));
    const options = [...body.matchAll(/^ {4}([A-Za-z0-9]+)\??:/gm)].map((match) => match[1]!);
    expect(options.length).toBeGreaterThan(20);
    const rows = tableRows("options-table");
    const named = rows.map(([option = ""]) => unquote(option));
    for (const [option = "", status = "", why = ""] of rows) {
      expect(options, `README option row '${option}' is not a SandboxCreateParams option`).toContain(unquote(option));
      expect(STATUSES.has(status), `${option}: status '${status}'`).toBe(true);
      if (status !== "implemented") expect(why, `${option} is ${status} without saying why/how`).not.toBe("");
    }
    expect(
      options.filter((option) => !named.includes(option)),
      "SandboxCreateParams options without a README row",
    ).toEqual([]);
    expect(new Set(named).size).toBe(named.length);
  });
});
