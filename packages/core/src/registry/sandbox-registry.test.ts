import { describe, expect, it, vi } from "vitest";
import { sandboxErrorOf, sandboxErrorThrownBy } from "../conformance/expect-sandbox-error.js";
import { allCapabilities } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SANDBOX_SPECIFICATION_VERSION } from "../contract/specification-version.js";
import { SandboxError } from "../errors/sandbox-error.js";
import { createSandboxRegistry, type SandboxProvider } from "./sandbox-registry.js";

/** A provider stub that records the options each `create` got. */
function fakeProvider(name: string) {
  const calls: unknown[] = [];
  const provider: SandboxProvider = {
    name,
    specificationVersion: SANDBOX_SPECIFICATION_VERSION,
    description: `${name} for tests`,
    capabilities: allCapabilities(false),
    async create(options) {
      calls.push(options);
      return { provider: name, specificationVersion: SANDBOX_SPECIFICATION_VERSION } as unknown as SandboxBackend;
    },
  };
  return { provider, calls };
}

describe("createSandboxRegistry: one-line switching", () => {
  function setup(environment: Record<string, string | undefined> = {}) {
    const local = fakeProvider("local-docker");
    const modal = fakeProvider("modal");
    const registry = createSandboxRegistry({ "local-docker": local.provider, modal: modal.provider }, { defaultProvider: "local-docker", environment });
    return { registry, local, modal };
  }

  it("uses the default provider when nothing else names one", async () => {
    const { registry, local, modal } = setup();
    const sandbox = await registry.create({ imageName: "python:3.12-slim" });
    expect(sandbox.provider).toBe("local-docker");
    expect(local.calls).toEqual([{ imageName: "python:3.12-slim" }]);
    expect(modal.calls).toEqual([]);
  });

  it("switches with the `provider` key, keeping the same options", async () => {
    const { registry, local, modal } = setup();
    const sandbox = await registry.create({ provider: "modal", imageName: "python:3.12-slim", timeoutMs: 600_000 });
    expect(sandbox.provider).toBe("modal");
    expect(modal.calls).toEqual([{ imageName: "python:3.12-slim", timeoutMs: 600_000 }]);
    expect(local.calls).toEqual([]);
  });

  it("switches with the SANDBOX_PROVIDER environment variable", async () => {
    const { registry, modal } = setup({ SANDBOX_PROVIDER: "modal" });
    expect(registry.resolveName()).toBe("modal");
    expect((await registry.create({ imageName: "alpine:3.21" })).provider).toBe("modal");
    expect(modal.calls).toEqual([{ imageName: "alpine:3.21" }]);
  });

  it("prefers explicit over environment over default", () => {
    expect(setup({ SANDBOX_PROVIDER: "modal" }).registry.resolveName("local-docker")).toBe("local-docker");
    expect(setup({ SANDBOX_PROVIDER: "modal" }).registry.resolveName()).toBe("modal");
    expect(setup({}).registry.resolveName()).toBe("local-docker");
  });

  it("ignores an empty or blank environment variable and trims a padded one", () => {
    expect(setup({ SANDBOX_PROVIDER: "" }).registry.resolveName()).toBe("local-docker");
    expect(setup({ SANDBOX_PROVIDER: "   " }).registry.resolveName()).toBe("local-docker");
    expect(setup({ SANDBOX_PROVIDER: " modal\n" }).registry.resolveName()).toBe("modal");
  });

  it("reads a custom environment variable when configured", () => {
    const registry = createSandboxRegistry(
      { modal: fakeProvider("modal").provider },
      { environmentVariable: "MY_APP_SANDBOX", environment: { MY_APP_SANDBOX: "modal", SANDBOX_PROVIDER: "other" } },
    );
    expect(registry.resolveName()).toBe("modal");
  });

  it("passes providerOptions through to the provider, without the registry's own keys", async () => {
    const { registry, modal } = setup();
    await registry.create({ provider: "modal", imageName: "alpine:3.21", providerOptions: { appName: "demo", auth: { tokenId: "id" } } });
    expect(modal.calls).toEqual([{ imageName: "alpine:3.21", appName: "demo", auth: { tokenId: "id" } }]);
  });

  it("reads process.env when no environment is given", async () => {
    const local = fakeProvider("local-docker");
    const registry = createSandboxRegistry({ "local-docker": local.provider });
    vi.stubEnv("SANDBOX_PROVIDER", "local-docker");
    try {
      expect(registry.resolveName()).toBe("local-docker");
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("createSandboxRegistry: unknown and missing providers", () => {
  it("rejects an unknown provider with UNKNOWN_PROVIDER listing the registered names", async () => {
    const registry = createSandboxRegistry(
      { modal: fakeProvider("modal").provider, "local-docker": fakeProvider("local-docker").provider },
      { environment: {} },
    );
    const error = await sandboxErrorOf(() => registry.create({ provider: "e2b" }));
    expect(error.code).toBe("UNKNOWN_PROVIDER");
    expect(error.message).toContain('"e2b"');
    expect(error.message).toContain("registered providers: local-docker, modal");
    expect(error.details).toEqual({ provider: "e2b", registered: ["local-docker", "modal"] });
  });

  it("names the environment variable's value when that is what is unknown", async () => {
    const registry = createSandboxRegistry({ modal: fakeProvider("modal").provider }, { environment: { SANDBOX_PROVIDER: "modall" } });
    const error = await sandboxErrorOf(() => registry.get());
    expect(error.code).toBe("UNKNOWN_PROVIDER");
    expect(error.message).toContain('"modall"');
    expect(error.message).toContain("modal");
  });

  it("rejects with UNKNOWN_PROVIDER when nothing chooses a provider, saying how to choose", () => {
    const registry = createSandboxRegistry({ modal: fakeProvider("modal").provider }, { environment: {} });
    const error = sandboxErrorThrownBy(() => registry.resolveName());
    expect(error.code).toBe("UNKNOWN_PROVIDER");
    expect(error.message).toContain("SANDBOX_PROVIDER");
    expect(error.message).toContain("registered providers: modal");
  });
});

describe("createSandboxRegistry: registration", () => {
  it("starts empty: importing core registers nothing", async () => {
    const registry = createSandboxRegistry({}, { environment: { SANDBOX_PROVIDER: "local-docker" } });
    expect(registry.names()).toEqual([]);
    const error = await sandboxErrorOf(() => registry.get());
    expect(error.code).toBe("UNKNOWN_PROVIDER");
    expect(error.message).toContain("registered providers: none");
  });

  it("the package entry exports no pre-filled registry", async () => {
    const core = await import("../index.js");
    const registries = Object.entries(core).filter(([, value]) => typeof value === "object" && value !== null && "names" in value && "register" in value);
    expect(registries).toEqual([]);
  });

  it("registers under the provider's own name and returns the registry for chaining", () => {
    const registry = createSandboxRegistry({}, { environment: {} });
    expect(registry.register(fakeProvider("modal").provider).register(fakeProvider("b").provider)).toBe(registry);
    expect(registry.names()).toEqual(["b", "modal"]);
  });

  it("registers under an explicit name", async () => {
    const modal = fakeProvider("modal");
    const registry = createSandboxRegistry({}, { environment: {} }).register(modal.provider, "cloud");
    expect(registry.names()).toEqual(["cloud"]);
    expect(await registry.get("cloud")).toBe(modal.provider);
  });

  it("throws on a duplicate name", () => {
    const registry = createSandboxRegistry({ modal: fakeProvider("modal").provider }, { environment: {} });
    const error = sandboxErrorThrownBy(() => registry.register(fakeProvider("modal").provider));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain('"modal" is already registered');
    expect(() => registry.register(() => fakeProvider("x").provider, "modal")).toThrow(/already registered/);
  });

  it("requires a name for a lazily loaded provider", () => {
    const registry = createSandboxRegistry({}, { environment: {} });
    expect(sandboxErrorThrownBy(() => registry.register(() => fakeProvider("modal").provider)).code).toBe("INVALID_ARGUMENT");
  });
});

describe("createSandboxRegistry: lazy entries", () => {
  it("loads a lazy provider only when it is chosen", async () => {
    const modal = fakeProvider("modal");
    const local = fakeProvider("local-docker");
    const loadModal = vi.fn(async () => modal.provider);
    const registry = createSandboxRegistry({ "local-docker": local.provider, modal: loadModal }, { defaultProvider: "local-docker", environment: {} });

    expect(registry.names()).toEqual(["local-docker", "modal"]);
    expect(loadModal).not.toHaveBeenCalled();
    await registry.create({ imageName: "alpine:3.21" });
    expect(loadModal).not.toHaveBeenCalled();

    await registry.create({ provider: "modal", imageName: "alpine:3.21" });
    expect(loadModal).toHaveBeenCalledTimes(1);
    expect(modal.calls).toEqual([{ imageName: "alpine:3.21" }]);
  });

  it("loads a lazy provider once, and retries a load that failed", async () => {
    const modal = fakeProvider("modal");
    let attempts = 0;
    const registry = createSandboxRegistry(
      {
        modal: async () => {
          attempts += 1;
          if (attempts === 1) throw new Error("transient");
          return modal.provider;
        },
      },
      { environment: {} },
    );
    await expect(registry.get("modal")).rejects.toThrow("transient");
    expect(await registry.get("modal")).toBe(modal.provider);
    expect(await registry.get("modal")).toBe(modal.provider);
    expect(attempts).toBe(2);
  });

  it("refuses providerOptions that repeat a common option", async () => {
    const local = fakeProvider("local-docker");
    const registry = createSandboxRegistry({ "local-docker": local.provider }, { defaultProvider: "local-docker", environment: {} });
    await expect(registry.create({ imageName: "a:1", providerOptions: { imageName: "b:2" } })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    expect(local.calls).toEqual([]);
  });

  it("accepts a synchronous loader", async () => {
    const modal = fakeProvider("modal");
    const registry = createSandboxRegistry({ modal: () => modal.provider }, { environment: { SANDBOX_PROVIDER: "modal" } });
    expect(await registry.get()).toBe(modal.provider);
  });

  it("lets a SandboxError from the loader through unchanged (it is the adapter's error)", async () => {
    const failure = new SandboxError("AUTHENTICATION_FAILED", { provider: "modal" });
    const registry = createSandboxRegistry({ modal: async () => Promise.reject(failure) }, { environment: {} });
    await expect(registry.get("modal")).rejects.toBe(failure);
  });
});

describe("createSandboxRegistry: specificationVersion", () => {
  /** A provider written for another contract version (or none), as an old or foreign adapter would be. */
  function providerStating(specificationVersion: unknown): SandboxProvider {
    return { ...fakeProvider("old").provider, specificationVersion } as unknown as SandboxProvider;
  }

  it("the contract version is the literal sandbox-v1", () => {
    expect(SANDBOX_SPECIFICATION_VERSION).toBe("sandbox-v1");
  });

  it.each([["sandbox-v0"], ["sandbox-v2"], [undefined]])(
    "refuses a provider stating %s when it is registered, with INVALID_ARGUMENT naming both versions",
    (stated) => {
      const error = sandboxErrorThrownBy(() => createSandboxRegistry({ old: providerStating(stated) }));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain('provider "old"');
      expect(error.message).toContain(stated === undefined ? "no specificationVersion" : `"${stated}"`);
      expect(error.message).toContain('"sandbox-v1"');
      expect(error.details).toEqual({ provider: "old", specificationVersion: stated, expected: "sandbox-v1" });
    },
  );

  it("refuses a lazily loaded provider of another version when it is loaded, and creates nothing", async () => {
    const old = providerStating("sandbox-v0");
    const create = vi.spyOn(old, "create");
    const registry = createSandboxRegistry({ old: async () => old }, { environment: {} });
    const error = await sandboxErrorOf(() => registry.create({ provider: "old" }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.details.specificationVersion).toBe("sandbox-v0");
    expect(create).not.toHaveBeenCalled();
  });

  it("closes and refuses a sandbox that states another version", async () => {
    const close = vi.fn(async () => undefined);
    const provider: SandboxProvider = {
      ...fakeProvider("odd").provider,
      create: async () => ({ provider: "odd", specificationVersion: "sandbox-v9", close }) as unknown as SandboxBackend,
    };
    const registry = createSandboxRegistry({ odd: provider }, { environment: {} });
    const error = await sandboxErrorOf(() => registry.create({ provider: "odd" }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain('the sandbox of provider "odd" states specificationVersion "sandbox-v9"');
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe("createSandboxRegistry: malformed calls get typed errors", () => {
  const registry = () => createSandboxRegistry({ local: fakeProvider("local").provider }, { defaultProvider: "local", environment: {} });

  it.each([
    ["null options", null, "options"],
    ["a string as the options", "imageName=alpine", "options"],
    ["an array as the options", [], "options"],
    ["a string as providerOptions", { providerOptions: "abc" }, "providerOptions"],
    ["null providerOptions", { providerOptions: null }, "providerOptions"],
  ])("create() with %s rejects with INVALID_OPTIONS naming it", async (_label, options, option) => {
    const error = await sandboxErrorOf(() => registry().create(options as never));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.details.option).toBe(option);
    expect(error.message).toContain(`"${option}"`);
  });

  it.each([
    ["null", null],
    ["a string", "local"],
    ["undefined", undefined],
  ])("register(%s) throws INVALID_ARGUMENT", (_label, entry) => {
    const error = sandboxErrorThrownBy(() => registry().register(entry as never, "other"));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("register() needs a provider");
  });

  it("a lazy entry whose loader throws rejects with PROVIDER_UNAVAILABLE naming the provider, the loader's error as cause, and loads again next time", async () => {
    const failure = new Error("Cannot find package '@sandbox/modal'");
    const loader = vi.fn().mockRejectedValueOnce(failure).mockResolvedValueOnce(fakeProvider("modal").provider);
    const lazy = createSandboxRegistry({}, { environment: {} }).register(loader, "modal");
    const error = await sandboxErrorOf(() => lazy.get("modal"));
    expect(error.code).toBe("PROVIDER_UNAVAILABLE");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('could not load provider "modal"');
    expect(error.cause).toBe(failure);
    expect((await lazy.get("modal")).name).toBe("modal");
  });
});
