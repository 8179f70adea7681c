import { describe, expect, it } from "vitest";
import { memoizedSandboxFactory } from "./memoized-factory.js";

describe("memoizedSandboxFactory", () => {
  it("creates once and returns the same sandbox to every caller, concurrent ones included", async () => {
    let created = 0;
    const factory = memoizedSandboxFactory(async () => ({ id: ++created, isInitialized: true }));
    const [first, second] = await Promise.all([factory(), factory()]);
    expect(first).toBe(second);
    expect(await factory()).toBe(first);
    expect(created).toBe(1);
  });

  it("retries after a failed creation instead of caching the failure", async () => {
    let attempts = 0;
    const factory = memoizedSandboxFactory(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error("capacity");
      return { attempts, isInitialized: true };
    });
    await expect(factory()).rejects.toThrow("capacity");
    expect(await factory()).toEqual({ attempts: 2, isInitialized: true });
    expect(await factory()).toEqual({ attempts: 2, isInitialized: true });
  });

  it("replaces a sandbox that was closed instead of handing it out dead", async () => {
    let created = 0;
    const factory = memoizedSandboxFactory(async () => ({ id: ++created, isInitialized: true as boolean }));
    const first = await factory();
    first.isInitialized = false;
    const second = await factory();
    expect(second).not.toBe(first);
    expect(second.id).toBe(2);
    expect(await factory()).toBe(second);
  });
});
