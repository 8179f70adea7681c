import { describe, expect, it } from "vitest";
import type { SandboxCapability } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxErrorCode } from "../errors/error-codes.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { assertSandboxError, DID_NOT_THROW, expectSandboxError, outcomeOf } from "./expect-sandbox-error.js";
import { MISSING_IMAGE_NAME } from "./options-conformance.js";
import { uniqueSleepSeconds } from "./sandbox-probes.js";
import { randomSuffix, SuiteContext, withTimeout } from "./suite-context.js";

/** Options that ask for one capability each, to provoke UNSUPPORTED_CAPABILITY. */
const CAPABILITY_OPTIONS: ReadonlyArray<[SandboxCapability, SandboxOptions]> = [
  ["gpu", { gpu: "T4" }],
  ["volumes", { volumes: { "/mnt/conformance": "conformance-unsupported" } }],
  ["secrets", { secrets: ["conformance-unsupported"] }],
  ["blockNetwork", { blockNetwork: true }],
  ["resourceLimits", { cpu: 1 }],
  ["reconnectByName", { name: "conformance-unsupported" }],
];

/** Nonsense options and the option each error must name. */
const INVALID_OPTIONS: ReadonlyArray<[string, SandboxOptions, string]> = [
  ["a negative cpu", { cpu: -1 }, "cpu"],
  ["a relative workdir", { workdir: "relative/dir" }, "workdir"],
  ["an unknown option key", { imageNmae: "typo" } as unknown as SandboxOptions, "imageNmae"],
  ["a timeoutMs that is not whole seconds", { timeoutMs: 1_500 }, "timeoutMs"],
  ["a memoryMiB of 0", { memoryMiB: 0 }, "memoryMiB"],
  ["an image reference that breaks the reference grammar (Bad/Ref:UPPER)", { imageName: "Bad/Ref:UPPER" }, "imageName"],
];

/**
 * Errors: every code raised in the situation that provokes it generically,
 * in the shape the contract promises (`SandboxError.isInstance`,
 * `instanceof`, the adapter's provider, a `cause` for provider failures),
 * plus the provider-only codes through the target's fixtures.
 */
export function errorsConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "errors"), () => {
    const context = new SuiteContext(target, "errors");
    const { provider } = context;
    const shared = () => context.shared();
    const budget = (sandboxes = 1, extraMs = 30_000) => context.budget(sandboxes, extraMs);
    const notRetryable = (error: { retryable: boolean; code: SandboxErrorCode }) =>
      expect(error.retryable, `${error.code} is a caller's mistake: retrying the same call cannot succeed, so retryable must be false`).toBe(false);

    it("NOT_INITIALIZED: execute() on a handle that was never initialized", { timeout: 30_000 }, async () => {
      const handle = context.construct();
      const error = await expectSandboxError(() => handle.execute("echo never"), "NOT_INITIALIZED", provider, "execute() before initialize()");
      notRetryable(error);
    });

    it("ALREADY_INITIALIZED: initialize() on a sandbox returned by create()", { timeout: budget() }, async () => {
      const sandbox = await shared();
      const error = await expectSandboxError(() => sandbox.initialize(), "ALREADY_INITIALIZED", provider, "initialize() on a created sandbox");
      notRetryable(error);
      expect((await sandbox.execute("echo fine")).output.trim(), "the rejected initialize() broke the sandbox").toBe("fine");
    });

    it("SANDBOX_CLOSED: execute() after close()", { timeout: budget() }, async () => {
      const sandbox = await context.create();
      await sandbox.close();
      const error = await expectSandboxError(() => sandbox.execute("echo closed"), "SANDBOX_CLOSED", provider, "execute() after close()");
      notRetryable(error);
    });

    const reconnectCapability: SandboxCapability = context.capabilities.reconnectById ? "reconnectById" : "reconnectByName";
    const notFound = context.gated("SANDBOX_NOT_FOUND: reconnecting to a sandbox that does not exist", reconnectCapability);
    it.skipIf(notFound.skip)(notFound.title, { timeout: 60_000 }, async () => {
      const missing = `conformance-missing-${randomSuffix()}`;
      const { fromId, fromName, appName } = target;
      const reconnect =
        reconnectCapability === "reconnectById"
          ? fromId && (() => fromId.call(target, missing))
          : fromName && appName && (() => fromName.call(target, appName, missing));
      if (!reconnect)
        throw new Error(
          `${provider} declares ${reconnectCapability}, but the ConformanceTarget lacks ${reconnectCapability === "reconnectById" ? "fromId()" : "fromName() or appName"}`,
        );
      await expectSandboxError(
        async () => context.track(await reconnect()),
        "SANDBOX_NOT_FOUND",
        provider,
        `reconnecting (${reconnectCapability}) to "${missing}"`,
      );
    });

    it("COMMAND_TIMEOUT: a command past its timeoutMs, with output and truncated on the error", { timeout: budget(1, 60_000) }, async () => {
      const sandbox = await shared();
      const error = await expectSandboxError(
        () => sandbox.execute(`echo partial; sleep ${uniqueSleepSeconds()}`, { timeoutMs: 1_500 }),
        "COMMAND_TIMEOUT",
        provider,
        "a command past its timeoutMs",
      );
      expect(typeof error.output, "COMMAND_TIMEOUT must carry the partial output").toBe("string");
      expect(error.output).toContain("partial");
      expect(typeof error.truncated, "COMMAND_TIMEOUT must say whether its output was truncated").toBe("boolean");
    });

    describe("INVALID_OPTIONS before anything is created", () => {
      for (const [label, options, option] of INVALID_OPTIONS) {
        it(`create() with ${label} rejects with INVALID_OPTIONS naming "${option}"`, { timeout: budget() }, async () => {
          const error = await expectSandboxError(() => context.create(options), "INVALID_OPTIONS", provider, `create() with ${label}`);
          expect(error.message, `the INVALID_OPTIONS message must name the option "${option}"`).toContain(option);
          notRetryable(error);
        });
      }

      it("construct() with invalid options throws INVALID_OPTIONS (or its initialize() rejects with it)", { timeout: budget() }, async () => {
        const outcome = await outcomeOf(async () => {
          const handle = context.construct({ cpu: -2 });
          await context.initialize(handle);
        });
        assertSandboxError(outcome, "INVALID_OPTIONS", provider, "the two-step path with a negative cpu");
      });
    });

    describe("INVALID_ARGUMENT for bad execute() options", () => {
      const cases: ReadonlyArray<[string, Parameters<SandboxBackend["execute"]>[1]]> = [
        ["a relative cwd", { cwd: "relative/dir" }],
        ["an env name with a dash", { env: { "BAD-NAME": "x" } }],
        ["an env name starting with a digit", { env: { "1ABC": "x" } }],
        ["a timeoutMs of 0", { timeoutMs: 0 }],
        ["a negative timeoutMs", { timeoutMs: -5 }],
      ];
      for (const [label, options] of cases) {
        it(`execute() with ${label} rejects with INVALID_ARGUMENT and runs nothing`, { timeout: budget() }, async () => {
          const sandbox = await shared();
          const marker = `${context.scratch}/invalid-argument-${randomSuffix()}`;
          const error = await expectSandboxError(
            () => sandbox.execute(`echo ran > ${marker}`, options),
            "INVALID_ARGUMENT",
            provider,
            `execute() with ${label}`,
          );
          notRetryable(error);
          const check = await sandbox.execute(`test -e ${marker} && echo ran || echo not-run`);
          expect(check.output.trim(), `execute() with ${label} ran the command before rejecting`).toBe("not-run");
        });
      }
    });

    it(`SANDBOX_CREATION_FAILED: an image that does not exist (${MISSING_IMAGE_NAME}), named in the message`, { timeout: budget(1, 30_000) }, async () => {
      const error = await expectSandboxError(
        () =>
          withTimeout(context.create({ imageName: MISSING_IMAGE_NAME }), context.timeouts.createMs, `create() with the missing image ${MISSING_IMAGE_NAME}`),
        "SANDBOX_CREATION_FAILED",
        provider,
        `create() with the missing image ${MISSING_IMAGE_NAME}`,
      );
      expect(error.message, "the message must name the image that could not be used").toContain(MISSING_IMAGE_NAME);
    });

    it("provider failures are wrapped: SANDBOX_CREATION_FAILED keeps the provider's error as cause", { timeout: budget(1, 30_000) }, async () => {
      const outcome = await outcomeOf(() => context.create({ imageName: MISSING_IMAGE_NAME }));
      assertSandboxError(outcome, "SANDBOX_CREATION_FAILED", provider, `create() with the missing image ${MISSING_IMAGE_NAME}`);
      expect(outcome.cause, "the provider's own error must be kept as `cause`").toBeInstanceOf(Error);
      expect(outcome.cause, "`cause` must be the provider's error, not the SandboxError itself").not.toBe(outcome);
    });

    const unsupported = CAPABILITY_OPTIONS.find(([capability]) => !context.capabilities[capability]);
    const unsupportedTitle = unsupported
      ? `UNSUPPORTED_CAPABILITY: create() with ${JSON.stringify(unsupported[1])}, which ${provider} declares unsupported`
      : `UNSUPPORTED_CAPABILITY (skipped: ${provider} declares every capability an option can ask for)`;
    it.skipIf(!unsupported)(unsupportedTitle, { timeout: budget() }, async () => {
      const [, options] = unsupported!;
      const error = await expectSandboxError(() => context.create(options), "UNSUPPORTED_CAPABILITY", provider, `create() with ${JSON.stringify(options)}`);
      const option = Object.keys(options)[0]!;
      expect(error.message, `the message must name the option "${option}"`).toContain(option);
      expect(error.message, `the message must name the provider`).toContain(provider);
      notRetryable(error);
    });

    it("FILE_OPERATION_FAILED: initialFiles that cannot be written (a file under a regular file)", { timeout: budget() }, async () => {
      const base = `${context.scratch}/initial`;
      await expectSandboxError(
        () => context.create({ initialFiles: { [`${base}/plain-file`]: "a file", [`${base}/plain-file/child.txt`]: "cannot exist" } }),
        "FILE_OPERATION_FAILED",
        provider,
        "create() with initialFiles that put a file under a regular file",
      );
    });

    const badCredentials = target.fixtures?.createWithBadCredentials;
    const authTitle = badCredentials
      ? "AUTHENTICATION_FAILED: creating with credentials the provider refuses"
      : "AUTHENTICATION_FAILED (skipped: the target gives no fixtures.createWithBadCredentials, the provider has no credentials to refuse)";
    it.skipIf(!badCredentials)(authTitle, { timeout: budget() }, async () => {
      const error = await expectSandboxError(
        async () => {
          const created = await badCredentials!.call(target.fixtures);
          if (created && typeof (created as SandboxBackend).close === "function") context.track(created as S);
        },
        "AUTHENTICATION_FAILED",
        provider,
        "creating with bad credentials",
      );
      notRetryable(error);
    });

    const missingVolume = target.fixtures?.createWithMissingVolume;
    const volumeTitle = missingVolume
      ? "VOLUME_ERROR: mounting a volume that does not exist"
      : "VOLUME_ERROR (skipped: the target gives no fixtures.createWithMissingVolume, volumes are created on demand or unsupported)";
    it.skipIf(!missingVolume)(volumeTitle, { timeout: budget() }, async () => {
      const outcome = await outcomeOf(async () => {
        const created = await missingVolume!.call(target.fixtures);
        if (created && typeof (created as SandboxBackend).close === "function") context.track(created as S);
      });
      expect(outcome, "mounting a missing volume succeeded").not.toBe(DID_NOT_THROW);
      assertSandboxError(outcome, "VOLUME_ERROR", provider, "mounting a missing volume");
    });
  });
}
