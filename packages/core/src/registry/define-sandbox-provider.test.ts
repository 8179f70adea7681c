import { describe, expect, it } from "vitest";
import { allCapabilities } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SANDBOX_SPECIFICATION_VERSION } from "../contract/specification-version.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import { defineSandboxProvider } from "./define-sandbox-provider.js";
import { createSandboxRegistry } from "./sandbox-registry.js";

interface FakeSandbox extends SandboxBackend {
  readonly madeBy: string;
}

const calls: unknown[][] = [];

/** An adapter class's static side; its methods use `this`, as a class's static methods may. */
const FakeAdapter = {
  label: "fake-adapter",
  make(): FakeSandbox {
    return { provider: "fake", specificationVersion: SANDBOX_SPECIFICATION_VERSION, madeBy: this.label } as unknown as FakeSandbox;
  },
  async create(options: SandboxOptions & { flavour?: string } = {}): Promise<FakeSandbox> {
    calls.push(["create", options]);
    return this.make();
  },
  async fromId(id: string, extra: unknown = "default"): Promise<FakeSandbox> {
    calls.push(["fromId", id, extra]);
    return this.make();
  },
};

describe("defineSandboxProvider", () => {
  it("builds a registry entry from the adapter class, with this core's specificationVersion", async () => {
    const provider = defineSandboxProvider({ name: "fake", description: "a fake", capabilities: allCapabilities(false), sandbox: FakeAdapter });
    expect(provider).toMatchObject({ name: "fake", specificationVersion: SANDBOX_SPECIFICATION_VERSION, description: "a fake" });
    expect(provider.capabilities).toEqual(allCapabilities(false));
    const registry = createSandboxRegistry({ fake: provider }, { defaultProvider: "fake", environment: {} });
    expect(((await registry.create({ timeoutMs: 60_000 })) as FakeSandbox).madeBy).toBe("fake-adapter");
    expect(calls.at(-1)).toEqual(["create", { timeoutMs: 60_000 }]);
  });

  it("calls the class's methods on the class, passing only the registry's arguments", async () => {
    const provider = defineSandboxProvider({ name: "fake", sandbox: FakeAdapter });
    await provider.fromId!("sb-1", ...(["extra"] as unknown as []));
    expect(calls.at(-1)).toEqual(["fromId", "sb-1", "default"]);
  });

  it("offers fromName only when the class has it, and leaves out what was not given", () => {
    const provider = defineSandboxProvider({ name: "fake", sandbox: FakeAdapter });
    expect(provider.fromId).toBeTypeOf("function");
    expect("fromName" in provider).toBe(false);
    expect("description" in provider).toBe(false);
    expect("capabilities" in provider).toBe(false);
  });
});
