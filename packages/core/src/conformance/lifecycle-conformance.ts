import { describe, expect, it } from "vitest";
import { SANDBOX_CAPABILITY_NAMES } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import type { SandboxError } from "../errors/sandbox-error.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { assertSandboxError, DID_NOT_THROW, describeThrown, expectSandboxError, outcomeOf } from "./expect-sandbox-error.js";
import { downloadFiles, uploadFiles, uploadOne } from "./file-transfer.js";
import { shellQuote, uniqueSleepSeconds } from "./sandbox-probes.js";
import { delay, randomSuffix, SuiteContext, waitFor, withTimeout } from "./suite-context.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Lifecycle: create, id, isRunning (a boolean) and isAlive(), the two-step path and its errors,
 * idempotent close, use after close, reconnect by id and by name, not-found,
 * the lifetime, and the provider probe showing nothing left after close.
 */
export function lifecycleConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "lifecycle"), () => {
    const context = new SuiteContext(target, "lifecycle");
    const { provider } = context;
    const shared = () => context.shared();

    it("create() resolves an initialized sandbox with its provider name and a complete capability map", { timeout: context.budget(1) }, async () => {
      const sandbox = await shared();
      expect(sandbox.isInitialized, "isInitialized must be true on a sandbox returned by create()").toBe(true);
      expect(sandbox.provider, "provider must be the same on every handle of the adapter").toBe(provider);
      for (const name of SANDBOX_CAPABILITY_NAMES) {
        expect(typeof sandbox.capabilities[name], `capabilities.${name} must be a boolean`).toBe("boolean");
      }
    });

    it("id is a non-empty string, stable across reads and commands", { timeout: context.budget(1) }, async () => {
      const sandbox = await shared();
      const id = sandbox.id;
      expect(typeof id, "id must be a string").toBe("string");
      expect(id.length, "id must not be empty (deepagents disables the execute tool for an empty id)").toBeGreaterThan(0);
      expect(id.trim(), "id must not have surrounding whitespace").toBe(id);
      await sandbox.execute("true");
      expect(sandbox.id, "id changed after running a command").toBe(id);
      expect(sandbox.id, "id changed between two reads").toBe(id);
    });

    it("two sandboxes get different ids", { timeout: context.budget(2) }, async () => {
      const first = await shared();
      const second = await context.create();
      try {
        expect(second.id, "two live sandboxes share one id").not.toBe(first.id);
      } finally {
        await second.close();
      }
    });

    it("isRunning is a boolean property (LangChain's shape), true while the sandbox lives; isAlive() asks the provider", {
      timeout: context.budget(1),
    }, async () => {
      const sandbox = await shared();
      expect(
        typeof sandbox.isRunning,
        "isRunning must be a boolean property (a getter), not a method: `if (!sandbox.isRunning)` would never be true for a function",
      ).toBe("boolean");
      expect(sandbox.isRunning, "isRunning was false for a sandbox that was just created").toBe(true);
      expect(await sandbox.isAlive(), "isAlive() returned false for a sandbox that was just created").toBe(true);
      expect(sandbox.isRunning, "isAlive() answering true must leave isRunning true").toBe(true);
    });

    it("has the instance shape LangChain's sandbox tests expect: id, isRunning, execute, uploadFiles, downloadFiles, initialize, close", {
      timeout: context.budget(1),
    }, async () => {
      const sandbox = await shared();
      expect(sandbox.isRunning === true, "an external suite checks `sandbox.isRunning === true`").toBe(true);
      expect(typeof sandbox.id).toBe("string");
      for (const method of ["execute", "uploadFiles", "downloadFiles", "initialize", "close", "isAlive"] as const) {
        expect(typeof sandbox[method], `${method} must be a method`).toBe("function");
      }
      const result = await sandbox.execute("echo shape");
      expect(result).toMatchObject({ output: "shape\n", exitCode: 0, truncated: false });
    });

    it("the target's exists(id) probe sees a live sandbox (sanity check of the probe itself)", { timeout: context.budget(1) }, async () => {
      const sandbox = await shared();
      expect(
        await context.exists(sandbox.id),
        "exists(id) returned false for a live sandbox: the target's probe is wrong, so the leak checks of this suite would prove nothing",
      ).toBe(true);
    });

    // The cases of each block below make their own sandboxes (or handles) and share nothing, so
    // they run concurrently: most of their time is spent waiting for a create, a close or a
    // lifetime to end, and those waits overlap.
    describe("two-step construct() + initialize()", { concurrent: true }, () => {
      it("before initialize(): isInitialized and isRunning are false, id and every call fail with NOT_INITIALIZED", { timeout: 30_000 }, async () => {
        const handle = context.construct();
        expect(handle.isInitialized, "isInitialized must be false before initialize()").toBe(false);
        expect(handle.isRunning, "isRunning must be false (a boolean) before initialize()").toBe(false);
        expect(await handle.isAlive(), "isAlive() must be false before initialize()").toBe(false);
        if (target.idBeforeInitialize === "provisional") {
          const provisional = handle.id;
          expect(typeof provisional === "string" && provisional.length > 0, "a provisional id must be a non-empty string").toBe(true);
          expect(handle.id, "the provisional id changed between two reads").toBe(provisional);
        } else {
          await expectSandboxError(() => handle.id, "NOT_INITIALIZED", provider, "reading id before initialize()");
        }
        await expectSandboxError(() => handle.execute("echo never"), "NOT_INITIALIZED", provider, "execute() before initialize()");
        await expectTransfersRejected(handle, "NOT_INITIALIZED", provider, "before initialize()");
      });

      it("initialize() makes the handle usable", { timeout: context.budget(1) }, async () => {
        const handle = context.construct();
        const provisional = target.idBeforeInitialize === "provisional" ? handle.id : undefined;
        await context.initialize(handle);
        try {
          expect(handle.isInitialized, "isInitialized must be true after initialize()").toBe(true);
          expect(handle.id.length, "id must be non-empty after initialize()").toBeGreaterThan(0);
          if (provisional !== undefined) expect(handle.id, "initialize() must replace the provisional id with the real one").not.toBe(provisional);
          const result = await handle.execute("echo two-step");
          expect(result.output.trim()).toBe("two-step");
          expect(handle.isRunning).toBe(true);
        } finally {
          await handle.close();
        }
      });

      it("`if (!sandbox.isRunning) await sandbox.initialize()` (the LangChain idiom) initializes a new handle", { timeout: context.budget(1) }, async () => {
        const handle = context.construct();
        try {
          if (!handle.isRunning) await context.initialize(handle);
          expect(handle.isRunning, "the idiom left the handle uninitialized").toBe(true);
          expect((await handle.execute("echo idiom")).output.trim()).toBe("idiom");
        } finally {
          await handle.close();
        }
      });

      it("a second initialize() rejects with ALREADY_INITIALIZED and leaves the sandbox usable", { timeout: context.budget(1) }, async () => {
        const handle = context.construct();
        await context.initialize(handle);
        try {
          const id = handle.id;
          await expectSandboxError(() => handle.initialize(), "ALREADY_INITIALIZED", provider, "a second initialize()");
          expect(handle.id, "the second initialize() changed the id").toBe(id);
          const result = await handle.execute("echo still-usable");
          expect(result.output.trim(), "the sandbox stopped working after the rejected second initialize()").toBe("still-usable");
        } finally {
          await handle.close();
        }
      });

      it("close() on a never-initialized handle resolves; initialize() afterwards rejects with SANDBOX_CLOSED", { timeout: 30_000 }, async () => {
        const handle = context.construct();
        await withTimeout(handle.close(), 10_000, "close() of a never-initialized handle");
        await expectSandboxError(() => handle.initialize(), "SANDBOX_CLOSED", provider, "initialize() after close()");
      });
    });

    describe("close()", { concurrent: true }, () => {
      it("is idempotent: sequential and concurrent calls resolve, isRunning and isInitialized turn false", { timeout: context.budget(1) }, async () => {
        const sandbox = await context.create();
        await Promise.all([sandbox.close(), sandbox.close()]);
        await sandbox.close();
        expect(sandbox.isRunning, "isRunning must be false after close()").toBe(false);
        expect(await sandbox.isAlive(), "isAlive() must be false after close()").toBe(false);
        expect(sandbox.isInitialized, "isInitialized must be false after close()").toBe(false);
      });

      it("execute() after close() rejects with SANDBOX_CLOSED", { timeout: context.budget(1) }, async () => {
        const sandbox = await context.create();
        await sandbox.close();
        await expectSandboxError(() => sandbox.execute("echo after-close"), "SANDBOX_CLOSED", provider, "execute() after close()");
      });

      it("uploadFiles() and downloadFiles() after close() reject with SANDBOX_CLOSED", { timeout: context.budget(1) }, async () => {
        const sandbox = await context.create();
        await sandbox.close();
        await expectTransfersRejected(sandbox, "SANDBOX_CLOSED", provider, "after close()");
      });

      it("initialize() after close() rejects with SANDBOX_CLOSED", { timeout: context.budget(1) }, async () => {
        const sandbox = await context.create();
        await sandbox.close();
        await expectSandboxError(() => sandbox.initialize(), "SANDBOX_CLOSED", provider, "initialize() after close()");
      });

      it("leaves nothing at the provider: exists(id) turns false", { timeout: context.budget(1, context.timeouts.teardownMs + 10_000) }, async () => {
        const sandbox = await context.create();
        const id = sandbox.id;
        expect(await context.exists(id), "exists(id) was already false before close()").toBe(true);
        const closedAt = Date.now();
        await sandbox.close();
        const gone = await waitFor(async () => !(await context.exists(id)), context.timeouts.teardownMs);
        expect(gone, `the provider still had sandbox ${id} ${Date.now() - closedAt} ms after close() resolved: close() must release everything`).toBe(true);
      });

      it("settles a command that is still running with SANDBOX_CLOSED instead of leaving it hanging or reporting the kill as its exit", {
        timeout: context.budget(1, 60_000),
      }, async () => {
        const sandbox = await context.create();
        const seconds = uniqueSleepSeconds();
        const running = outcomeOf(() => sandbox.execute(`sleep ${seconds}`, { timeoutMs: 600_000 }));
        await delay(1_000);
        await sandbox.close();
        const outcome = await withTimeout(running, 30_000, "an execute() that was running when close() was called");
        // An exit code such as 137 would read as the command's own failure; the close cut it short.
        assertSandboxError(outcome, "SANDBOX_CLOSED", provider, "an execute() that was running when close() was called");
      });

      it("settles a large upload in flight with SANDBOX_CLOSED or its completed results, never another error", {
        timeout: context.budget(1, 60_000),
      }, async () => {
        const sandbox = await context.create();
        const path = "/tmp/conformance-closing/upload.bin";
        const uploading = sandbox.uploadFiles([[path, new Uint8Array(16 * 1024 * 1024).fill(7)]]).then(
          (results) => ({ results, error: undefined }),
          (error: unknown) => ({ results: undefined, error }),
        );
        await delay(100);
        await sandbox.close();
        const outcome = await withTimeout(uploading, 30_000, "an uploadFiles() that was running when close() was called");
        if (outcome.results) expect(outcome.results, "an upload that finished before the close").toEqual([{ path, error: null }]);
        else assertSandboxError(outcome.error, "SANDBOX_CLOSED", provider, "an uploadFiles() that was running when close() was called");
      });
    });

    describe("reconnect", { concurrent: true }, () => {
      /** The target's `fromId`, bound; a provider that declares reconnectById must give one. */
      const targetFromId = (): ((id: string) => Promise<S>) => {
        const fromId = target.fromId;
        if (!fromId) throw new Error(`${provider} declares reconnectById, but the ConformanceTarget has no fromId(id)`);
        return (id) => fromId.call(target, id);
      };

      const byId = context.gated("fromId(id) from a fresh handle sees earlier files and runs commands in the same sandbox", "reconnectById");
      it.skipIf(byId.skip)(byId.title, { timeout: context.budget(2) }, async () => {
        const fromId = targetFromId();
        const original = await context.create();
        const path = `${context.scratch}/reconnect-by-id.txt`;
        await uploadOne(original, path, "written before reconnect");
        const fresh = context.track(await fromId(original.id));
        expect(fresh, "fromId() must return a new handle, not the same object").not.toBe(original);
        expect(fresh.isInitialized, "a handle from fromId() must be initialized").toBe(true);
        expect(fresh.id, "fromId() returned a handle with another id").toBe(original.id);
        const [read] = await downloadFiles(fresh, [path]);
        expect(read?.error ?? null, "the reconnected handle cannot download a file written before").toBeNull();
        expect(decoder.decode(read?.content ?? new Uint8Array())).toBe("written before reconnect");
        const result = await fresh.execute(`cat ${shellQuote(path)}`);
        expect(result.output, "a command through the reconnected handle does not see the earlier file").toBe("written before reconnect");
        await fresh.execute(`echo back > ${shellQuote(`${path}.back`)}`);
        const back = await original.execute(`cat ${shellQuote(`${path}.back`)}`);
        expect(back.output.trim(), "the original handle does not see a file written through the reconnected one").toBe("back");
      });

      const closeReconnected = context.gated("closing a reconnected handle ends the sandbox; closing the original afterwards still resolves", "reconnectById");
      it.skipIf(closeReconnected.skip)(closeReconnected.title, { timeout: context.budget(2, context.timeouts.teardownMs + 10_000) }, async () => {
        const fromId = targetFromId();
        const original = await context.create();
        const id = original.id;
        const fresh = context.track(await fromId(id));
        await fresh.close();
        const gone = await waitFor(async () => !(await context.exists(id)), context.timeouts.teardownMs);
        expect(gone, "close() on a reconnected handle must terminate the sandbox (close() releases everything)").toBe(true);
        await withTimeout(original.close(), context.timeouts.teardownMs, "close() of the original handle after the sandbox was already terminated");
      });

      const unknownId = context.gated("fromId() of an unknown id rejects with SANDBOX_NOT_FOUND", "reconnectById");
      it.skipIf(unknownId.skip)(unknownId.title, { timeout: 60_000 }, async () => {
        const fromId = targetFromId();
        await expectSandboxError(
          async () => context.track(await fromId(`conformance-missing-${randomSuffix()}`)),
          "SANDBOX_NOT_FOUND",
          provider,
          "fromId() of an id that never existed",
        );
      });

      const closedId = context.gated("fromId() of a closed sandbox's id rejects with SANDBOX_NOT_FOUND", "reconnectById");
      it.skipIf(closedId.skip)(closedId.title, { timeout: context.budget(1, context.timeouts.teardownMs + 30_000) }, async () => {
        const fromId = targetFromId();
        const sandbox = await context.create();
        const id = sandbox.id;
        await sandbox.close();
        await waitFor(async () => !(await context.exists(id)), context.timeouts.teardownMs);
        await expectSandboxError(async () => context.track(await fromId(id)), "SANDBOX_NOT_FOUND", provider, "fromId() of a closed sandbox");
      });

      const byName = context.gated("fromName(appName, name) from a fresh handle sees earlier files", "reconnectByName");
      it.skipIf(byName.skip)(byName.title, { timeout: context.budget(2) }, async () => {
        const { fromName, appName } = target;
        if (!fromName || !appName) throw new Error(`${provider} declares reconnectByName, but the ConformanceTarget lacks fromName() or appName`);
        const name = `conformance-${randomSuffix()}`;
        const original = await context.create({ name });
        const path = `${context.scratch}/reconnect-by-name.txt`;
        await uploadOne(original, path, "named");
        const fresh = context.track(await fromName.call(target, appName, name));
        expect(fresh.id, "fromName() returned a handle to another sandbox").toBe(original.id);
        const result = await fresh.execute(`cat ${shellQuote(path)}`);
        expect(result.output, "the handle from fromName() does not see the earlier file").toBe("named");
      });

      const unknownName = context.gated("fromName() of an unknown name rejects with SANDBOX_NOT_FOUND", "reconnectByName");
      it.skipIf(unknownName.skip)(unknownName.title, { timeout: 60_000 }, async () => {
        const { fromName, appName } = target;
        if (!fromName || !appName) throw new Error(`${provider} declares reconnectByName, but the ConformanceTarget lacks fromName() or appName`);
        await expectSandboxError(
          async () => context.track(await fromName.call(target, appName, `conformance-missing-${randomSuffix()}`)),
          "SANDBOX_NOT_FOUND",
          provider,
          "fromName() of a name that was never used",
        );
      });

      const duplicate = context.gated("a second live sandbox with the same name in the same app is refused; the first keeps running", "reconnectByName");
      it.skipIf(duplicate.skip)(duplicate.title, { timeout: context.budget(2) }, async () => {
        const name = `conformance-${randomSuffix()}`;
        const first = await context.create({ name });
        const outcome = await outcomeOf(async () => context.track(await context.create({ name })));
        expect(outcome, `creating a second sandbox named "${name}" succeeded: names must be unique within an app`).not.toBe(DID_NOT_THROW);
        expect(describeThrown(outcome), "the refusal must be a SandboxError").toMatch(/^SandboxError /);
        expect((outcome as SandboxError).retryable, "retrying cannot succeed while the first sandbox lives: not retryable").toBe(false);
        expect(await first.isAlive(), "the refused duplicate stopped the first sandbox").toBe(true);
      });
    });

    describe("lifetime", { concurrent: true }, () => {
      const lifetimeMs = context.timeouts.lifetimeMs;
      const ends = context.gated(`a sandbox created with timeoutMs ${lifetimeMs} ends by itself: exists(id), isAlive() and isRunning turn false`, "lifetime");
      it.skipIf(ends.skip)(ends.title, { timeout: context.budget(1, lifetimeMs + context.timeouts.teardownMs + 30_000) }, async () => {
        const creating = Date.now();
        const sandbox = await context.create({ timeoutMs: lifetimeMs });
        const createdAt = Date.now();
        const id = sandbox.id;
        const alive = await sandbox.execute("echo alive");
        expect(
          alive.output.trim(),
          `the short-lived sandbox did not run a command right after creation (the create took ${createdAt - creating} ms of its ${lifetimeMs} ms lifetime; a provider that creates slowly sets timeouts.lifetimeMs)`,
        ).toBe("alive");
        const gone = await waitFor(async () => !(await context.exists(id)), lifetimeMs + context.timeouts.teardownMs, 500);
        const elapsed = Date.now() - createdAt;
        expect(gone, `sandbox ${id} still existed ${elapsed} ms after creation with timeoutMs ${lifetimeMs}`).toBe(true);
        expect(elapsed, `sandbox ${id} disappeared after ${elapsed} ms, long before its lifetime of ${lifetimeMs} ms`).toBeGreaterThanOrEqual(lifetimeMs * 0.5);
        expect(sandbox.isRunning, "isRunning is a local flag: nothing has told the handle yet").toBe(true);
        expect(await sandbox.isAlive(), "isAlive() still returned true after the sandbox's lifetime ended").toBe(false);
        expect(sandbox.isRunning, "isRunning stayed true after isAlive() found the sandbox ended").toBe(false);
      });

      const midCommand = context.gated(
        "a command still running when the lifetime ends rejects with SANDBOX_NOT_FOUND (the sandbox's end is not the command's exit code)",
        "lifetime",
      );
      it.skipIf(midCommand.skip)(midCommand.title, { timeout: context.budget(1, lifetimeMs + context.timeouts.teardownMs + 60_000) }, async () => {
        const sandbox = await context.create({ timeoutMs: lifetimeMs });
        try {
          const outcome = await outcomeOf(() => sandbox.execute(`sleep ${Math.ceil(lifetimeMs / 1000) + 60}`, { timeoutMs: lifetimeMs + 120_000 }));
          assertSandboxError(outcome, "SANDBOX_NOT_FOUND", provider, "execute() of a command the sandbox's lifetime cut short");
          expect(sandbox.isRunning, "isRunning stayed true after execute() found the sandbox gone").toBe(false);
        } finally {
          await withTimeout(sandbox.close(), context.timeouts.teardownMs, "close() of an expired sandbox");
        }
      });

      const afterExpiry = context.gated("after the lifetime ends, execute() rejects with a SandboxError and close() still resolves", "lifetime");
      it.skipIf(afterExpiry.skip)(afterExpiry.title, { timeout: context.budget(1, lifetimeMs + context.timeouts.teardownMs + 30_000) }, async () => {
        const sandbox = await context.create({ timeoutMs: lifetimeMs });
        const id = sandbox.id;
        await waitFor(async () => !(await context.exists(id)), lifetimeMs + context.timeouts.teardownMs, 500);
        const outcome = await outcomeOf(() => sandbox.execute("echo too-late", { timeoutMs: 30_000 }));
        expect(describeThrown(outcome), "execute() on an expired sandbox must reject with a SandboxError").toMatch(/^SandboxError /);
        expect(sandbox.isRunning, "isRunning stayed true after execute() found the sandbox gone").toBe(false);
        await withTimeout(sandbox.close(), context.timeouts.teardownMs, "close() of an expired sandbox");
      });
    });
  });
}

/** Both uploadFiles() and downloadFiles() on `handle` reject with `code` (`when`: "before initialize()", "after close()"). */
async function expectTransfersRejected(handle: SandboxBackend, code: SandboxErrorCode, provider: string, when: string): Promise<void> {
  await expectSandboxError(() => uploadFiles(handle, [["/tmp/never.txt", encoder.encode("x")]]), code, provider, `uploadFiles() ${when}`);
  await expectSandboxError(() => downloadFiles(handle, ["/tmp/never.txt"]), code, provider, `downloadFiles() ${when}`);
}
