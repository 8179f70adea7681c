import { describe, expect, it } from "vitest";
import type { SandboxCapability } from "../contract/capabilities.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { SandboxError } from "../errors/sandbox-error.js";
import type { SandboxOptions } from "../options/sandbox-options.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { allErrorText, assertSandboxError, DID_NOT_THROW, describeThrown, outcomeOf } from "./expect-sandbox-error.js";
import { allByteValues, downloadOne, parseSha256sum, sameBytes, sha256Hex, uploadOne } from "./file-transfer.js";
import {
  CPU_LIMIT_COMMAND,
  MEMORY_LIMIT_COMMAND,
  NETWORK_PROBE_COMMAND,
  parseCpuLimit,
  parseMemoryLimit,
  parseNetworkProbe,
  shellQuote,
  uniqueSleepSeconds,
} from "./sandbox-probes.js";
import { randomSuffix, SuiteContext } from "./suite-context.js";

const MIB = 1024 * 1024;
const decoder = new TextDecoder();

/** The image name no provider has; creating with it must fail. */
export const MISSING_IMAGE_NAME = "sandbox-no-such-image:0";

/**
 * The common options, each honoured where the adapter declares its
 * capability: initialFiles, env, workdir, blockNetwork, cpu / memoryMiB,
 * volumes, secrets, gpu. Where a capability is missing, asking for it must
 * fail loudly instead.
 */
export function optionsConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "options"), () => {
    const context = new SuiteContext(target, "options");
    const { provider } = context;
    const budget = (sandboxes = 1, extraMs = 30_000) => context.budget(sandboxes, extraMs);

    /**
     * Registers the check that asking for a missing capability fails loudly,
     * when the capability is declared false or unavailable here.
     */
    const loudWhenMissing = (capability: SandboxCapability, option: keyof SandboxOptions, value: unknown) => {
      const reason = context.skipReason(capability);
      if (reason === undefined) return;
      const declaredFalse = !context.capabilities[capability];
      const title = declaredFalse
        ? `creating with "${option}" rejects with UNSUPPORTED_CAPABILITY naming the provider and the option (${provider} declares no ${capability} capability)`
        : `creating with "${option}" fails with a SandboxError naming the provider and the option (${reason})`;
      it(title, { timeout: budget() }, async () => {
        const outcome = await outcomeOf(() => context.create({ [option]: value } as SandboxOptions));
        const doing = `creating a sandbox with ${option}: ${JSON.stringify(value)}`;
        if (declaredFalse) {
          assertSandboxError(outcome, "UNSUPPORTED_CAPABILITY", provider, doing);
        } else {
          expect(outcome, `${doing} succeeded although ${capability} is unavailable here: an option must never be silently ignored`).not.toBe(DID_NOT_THROW);
          expect(describeThrown(outcome), `${doing} must fail with a SandboxError`).toMatch(/^SandboxError /);
        }
        const message = (outcome as Error).message;
        expect(message, "the error message must name the provider").toContain(provider);
        expect(message, `the error message must name the option "${option}"`).toContain(option);
      });
    };

    describe("initialFiles, env and workdir", () => {
      const base = context.scratch;
      const workdir = `${base}/workdir-created-for-you`;
      const text = "initial text ✓\nsecond line\n";
      const bytes = allByteValues();
      const configured = () =>
        context.shared("configured", {
          workdir,
          env: { CONFORMANCE_SANDBOX_ENV: "sandbox value with spaces", CONFORMANCE_OVERRIDDEN: "from sandbox" },
          initialFiles: {
            [`${base}/initial/text.txt`]: text,
            [`${base}/initial/bytes.bin`]: bytes,
            [`${base}/initial/nested/deeper/still/file.txt`]: "nested",
          },
        });

      it("initialFiles: string content is written exactly", { timeout: budget() }, async () => {
        const sandbox = await configured();
        const result = await sandbox.execute(`cat ${shellQuote(`${base}/initial/text.txt`)}`);
        expect(result.output, "the initial text file is missing or altered").toBe(text);
      });

      it("initialFiles: Uint8Array content is written byte for byte", { timeout: budget() }, async () => {
        const sandbox = await configured();
        const path = `${base}/initial/bytes.bin`;
        const inside = parseSha256sum((await sandbox.execute(`sha256sum ${shellQuote(path)}`)).output);
        expect(inside, "the initial binary file differs inside the sandbox").toBe(sha256Hex(bytes));
        expect(sameBytes(await downloadOne(sandbox, path), bytes)).toBe(true);
      });

      it("initialFiles: parent directories are created", { timeout: budget() }, async () => {
        const sandbox = await configured();
        const result = await sandbox.execute(`cat ${shellQuote(`${base}/initial/nested/deeper/still/file.txt`)}`);
        expect(result.output).toBe("nested");
      });

      it("env: sandbox environment reaches every command", { timeout: budget() }, async () => {
        const sandbox = await configured();
        for (const attempt of [1, 2]) {
          const result = await sandbox.execute('printf "%s" "$CONFORMANCE_SANDBOX_ENV"');
          expect(result.output, `the sandbox env is missing in command ${attempt}`).toBe("sandbox value with spaces");
        }
      });

      it("env: a per-call env overrides the sandbox env for that call only", { timeout: budget() }, async () => {
        const sandbox = await configured();
        const overridden = await sandbox.execute('printf "%s" "$CONFORMANCE_OVERRIDDEN"', { env: { CONFORMANCE_OVERRIDDEN: "from call" } });
        expect(overridden.output, "the per-call env must win over the sandbox env").toBe("from call");
        const after = await sandbox.execute('printf "%s|%s" "$CONFORMANCE_OVERRIDDEN" "$CONFORMANCE_SANDBOX_ENV"');
        expect(after.output, "the sandbox env must be back after the call").toBe("from sandbox|sandbox value with spaces");
      });

      it("workdir: commands start in it, and it is created when missing", { timeout: budget() }, async () => {
        const sandbox = await configured();
        const result = await sandbox.execute("pwd");
        expect(result.output.trim(), "commands do not start in the workdir").toBe(workdir);
      });

      it("workdir: relative paths in commands resolve against it", { timeout: budget() }, async () => {
        const sandbox = await configured();
        await sandbox.execute("printf relative > relative-file.txt");
        expect(decoder.decode(await downloadOne(sandbox, `${workdir}/relative-file.txt`))).toBe("relative");
      });
    });

    describe("blockNetwork", () => {
      const network = () => context.shared("network", { blockNetwork: true });
      const interfaces = context.gated("no interface other than loopback is up (read from /sys and /proc; no packet is sent)", "blockNetwork");
      it.skipIf(interfaces.skip)(interfaces.title, { timeout: budget() }, async () => {
        const sandbox = await network();
        const result = await sandbox.execute(NETWORK_PROBE_COMMAND);
        const probe = parseNetworkProbe(result.output);
        expect(probe.interfaces.length, `could not read the interface list inside the sandbox:\n${result.output}`).toBeGreaterThan(0);
        expect(probe.activeInterfaces, `blockNetwork: true left network interfaces up (${probe.interfaces.join(", ")})`).toEqual([]);
      });

      const routes = context.gated("no default route exists (read from /proc/net; no packet is sent)", "blockNetwork");
      it.skipIf(routes.skip)(routes.title, { timeout: budget() }, async () => {
        const sandbox = await network();
        const result = await sandbox.execute(NETWORK_PROBE_COMMAND);
        const probe = parseNetworkProbe(result.output);
        expect(probe.defaultRoutes, "blockNetwork: true left a default route, so traffic could leave the sandbox").toEqual([]);
      });

      loudWhenMissing("blockNetwork", "blockNetwork", true);
    });

    describe("cpu and memoryMiB", () => {
      const memoryMiB = 256;
      const cpu = 0.5;
      const limited = () => context.shared("limits", { cpu, memoryMiB });

      const memory = context.gated(
        `memoryMiB ${memoryMiB} is visible in the sandbox's cgroup, or exceeding it raises RESOURCE_LIMIT_EXCEEDED`,
        "resourceLimits",
      );
      it.skipIf(memory.skip)(memory.title, { timeout: budget(1, 150_000) }, async () => {
        const sandbox = await limited();
        const reading = parseMemoryLimit((await sandbox.execute(MEMORY_LIMIT_COMMAND)).output);
        if (reading.value !== null) {
          expect(reading.value, `memoryMiB ${memoryMiB} was not applied: ${reading.source}`).toBeLessThanOrEqual(memoryMiB * MIB * 1.25);
          expect(reading.value, `the memory limit is far below memoryMiB ${memoryMiB}: ${reading.source}`).toBeGreaterThanOrEqual(memoryMiB * MIB * 0.9);
          return;
        }
        // No cgroup file to read: the limit must then show by being enforced.
        const outcome = await outcomeOf(() => sandbox.execute("awk 'BEGIN { s = \"x\"; while (1) s = s s }'", { timeoutMs: 120_000 }));
        assertSandboxError(
          outcome,
          "RESOURCE_LIMIT_EXCEEDED",
          provider,
          `no cgroup memory limit is readable (${reading.source}), so a command growing past memoryMiB ${memoryMiB}`,
        );
      });

      const cores = context.gated(`cpu ${cpu} is visible in the sandbox's cgroup CPU quota`, "resourceLimits");
      it.skipIf(cores.skip)(cores.title, { timeout: budget() }, async () => {
        const sandbox = await limited();
        const reading = parseCpuLimit((await sandbox.execute(CPU_LIMIT_COMMAND)).output);
        expect(reading.value, `the CPU limit is not visible inside the sandbox (${reading.source})`).not.toBeNull();
        expect(reading.value, `cpu ${cpu} was not applied: ${reading.source}`).toBeGreaterThanOrEqual(cpu * 0.9);
        expect(reading.value, `cpu ${cpu} was not applied: ${reading.source}`).toBeLessThanOrEqual(cpu * 1.1);
      });

      loudWhenMissing("resourceLimits", "cpu", cpu);
      loudWhenMissing("resourceLimits", "memoryMiB", memoryMiB);
    });

    describe("volumes", () => {
      const volume = context.gated("a file written in one sandbox is read by a second sandbox mounting the same volume", "volumes");
      it.skipIf(volume.skip)(volume.title, { timeout: budget(2, 60_000) }, async () => {
        const fixtures = target.fixtures ?? {};
        const name = `conformance-volume-${randomSuffix()}`;
        const mount = "/mnt/conformance-volume";
        await fixtures.createVolume?.(name);
        if (fixtures.deleteVolume) {
          const deleteVolume = fixtures.deleteVolume.bind(fixtures);
          context.onCleanUp(() => deleteVolume(name));
        }
        const first = await context.create({ volumes: { [mount]: name } });
        const written = await first.execute(`echo "written by the first sandbox" > ${mount}/by-command.txt && sync`);
        expect(written.exitCode, `could not write into the volume mount ${mount}: ${written.output}`).toBe(0);
        await uploadOne(first, `${mount}/uploaded/by-upload.bin`, allByteValues());
        await first.close();
        const second = await context.create({ volumes: { [mount]: name } });
        const read = await second.execute(`cat ${mount}/by-command.txt`);
        expect(read.output, "the second sandbox does not see the file the first wrote into the volume").toBe("written by the first sandbox\n");
        expect(
          sameBytes(await downloadOne(second, `${mount}/uploaded/by-upload.bin`), allByteValues()),
          "a file uploaded into the volume did not persist",
        ).toBe(true);
      });

      loudWhenMissing("volumes", "volumes", { "/mnt/conformance-volume": `conformance-volume-${randomSuffix()}` });
    });

    describe("secrets", () => {
      const secretName = `conformance-secret-${randomSuffix()}`;
      const variable = "CONFORMANCE_SECRET_TOKEN";
      const value = `conformance-s3cr3t-${randomSuffix()}${randomSuffix()}`;
      let stored: Promise<void> | undefined;
      const withSecret = async () => {
        stored ??= (async () => {
          const fixtures = target.fixtures ?? {};
          if (!fixtures.createSecret) throw new Error(`${provider} declares the secrets capability, but the ConformanceTarget has no fixtures.createSecret()`);
          await fixtures.createSecret(secretName, { [variable]: value });
          if (fixtures.deleteSecret) {
            const deleteSecret = fixtures.deleteSecret.bind(fixtures);
            context.onCleanUp(() => deleteSecret(secretName));
          }
        })();
        await stored;
        return context.shared("secret", { secrets: [secretName] });
      };

      const injected = context.gated("a named secret is injected as environment variables", "secrets");
      it.skipIf(injected.skip)(injected.title, { timeout: budget() }, async () => {
        const sandbox = await withSecret();
        const result = await sandbox.execute(`printf "%s" "$${variable}"`);
        expect(result.output === value, `the secret's ${variable} is not in the command environment`).toBe(true);
      });

      const hidden = context.gated("the secret's value appears in no error message, stack, detail or cause", "secrets");
      it.skipIf(hidden.skip)(hidden.title, { timeout: budget(3, 60_000) }, async () => {
        const sandbox = await withSecret();
        const provoked: Array<[string, unknown]> = [
          ["execute() with an invalid env name", await outcomeOf(() => sandbox.execute("true", { env: { "BAD-NAME": value } }))],
          ["a timed-out command", await outcomeOf(() => sandbox.execute(`sleep ${uniqueSleepSeconds()}`, { timeoutMs: 1_000 }))],
          ["creating with the secret and a missing image", await outcomeOf(() => context.create({ secrets: [secretName], imageName: MISSING_IMAGE_NAME }))],
          ["creating with the secret and an invalid option", await outcomeOf(() => context.create({ secrets: [secretName], cpu: -1 }))],
        ];
        for (const [situation, outcome] of provoked) {
          expect(outcome, `${situation} did not fail`).not.toBe(DID_NOT_THROW);
          expect(allErrorText(outcome).includes(value), `the secret value leaked into the error of ${situation}`).toBe(false);
        }
      });

      const unknown = context.gated("an unknown secret name fails with a SandboxError naming the secret", "secrets");
      it.skipIf(unknown.skip)(unknown.title, { timeout: budget() }, async () => {
        const missing = `conformance-missing-secret-${randomSuffix()}`;
        const outcome = await outcomeOf(() => context.create({ secrets: [missing] }));
        expect(outcome, "creating with a secret that does not exist succeeded: a secret must never be silently dropped").not.toBe(DID_NOT_THROW);
        expect(describeThrown(outcome)).toMatch(/^SandboxError /);
        expect((outcome as Error).message, "the error must name the missing secret").toContain(missing);
        expect((outcome as SandboxError).retryable, "retrying the same create cannot make a missing secret appear: not retryable").toBe(false);
      });

      loudWhenMissing("secrets", "secrets", [`conformance-secret-${randomSuffix()}`]);
    });

    describe("gpu", () => {
      const gpuType = target.gpuType ?? "T4";
      const gpu = context.gated(`gpu "${gpuType}": a GPU device is visible inside the sandbox`, "gpu");
      it.skipIf(gpu.skip)(gpu.title, { timeout: budget(1, 120_000) }, async () => {
        const sandbox = await context.create({ gpu: gpuType });
        const result = await sandbox.execute("ls /dev/nvidia* 2>/dev/null || nvidia-smi -L 2>/dev/null");
        expect(result.exitCode, `no GPU device is visible inside a sandbox created with gpu "${gpuType}": ${result.output}`).toBe(0);
        expect(result.output.trim().length).toBeGreaterThan(0);
      });

      loudWhenMissing("gpu", "gpu", gpuType);
    });

    // `name` is exercised by the lifecycle group (reconnect by name); here only its absence.
    loudWhenMissing("reconnectByName", "name", `conformance-${randomSuffix()}`);
  });
}
