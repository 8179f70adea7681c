import { describe, expect, it } from "vitest";
import { KILL_CONFIRMATION_GRACE_MS, MAX_COMMAND_BYTES } from "../contract/defaults.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { assertSandboxError, DID_NOT_THROW, expectSandboxError, outcomeOf } from "./expect-sandbox-error.js";
import { SuiteContext } from "./suite-context.js";

/**
 * Abuse: what code nobody reviewed does to a sandbox (memory exhaustion,
 * fork bombs, oversized input), and that the adapter still answers with the
 * code the contract names, promptly, leaving the sandbox usable.
 */
export function abuseConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "abuse"), () => {
    const context = new SuiteContext(target, "abuse");
    const budget = (sandboxes = 1, extraMs = 30_000) => context.budget(sandboxes, extraMs);
    const shared = () => context.shared();

    describe("command length", () => {
      it(`a command of exactly MAX_COMMAND_BYTES (${MAX_COMMAND_BYTES}) bytes runs`, { timeout: budget() }, async () => {
        const sandbox = await shared();
        const tail = "; echo fits";
        const command = `: '${"x".repeat(MAX_COMMAND_BYTES - tail.length - 4)}'${tail}`;
        expect(new TextEncoder().encode(command).byteLength).toBe(MAX_COMMAND_BYTES);
        const result = await sandbox.execute(command, { timeoutMs: 60_000 });
        expect(result, "a command at the documented maximum length must run like any other").toMatchObject({ exitCode: 0, output: "fits\n" });
      });

      for (const [label, bytes] of [
        ["a 200 KB command", 200_000],
        ["a 5 MB command", 5_000_000],
        ["a command one byte over the maximum (in multi-byte characters)", MAX_COMMAND_BYTES + 1],
      ] as const) {
        it(`${label} is refused with INVALID_ARGUMENT naming the limit, before anything runs`, { timeout: budget() }, async () => {
          const sandbox = await shared();
          const marker = `/tmp/conformance-long-command-${bytes}`;
          const head = `touch ${marker}; : '`;
          const filler = label.includes("multi-byte") ? "é".repeat(Math.ceil((bytes - head.length - 1) / 2)) : "x".repeat(bytes - head.length - 1);
          const command = `${head}${filler}'`;
          const error = await expectSandboxError(() => sandbox.execute(command), "INVALID_ARGUMENT", context.provider, `execute() with ${label}`);
          expect(error.message, "the error must name the maximum command length").toContain(String(MAX_COMMAND_BYTES));
          expect(error.retryable).toBe(false);
          expect((await sandbox.execute(`test -e ${marker} && echo ran || echo not-run`)).output, "the refused command must not have run").toBe("not-run\n");
        });
      }
    });

    describe("fork bomb", () => {
      const gated = context.gated(
        "a fork bomb past its timeoutMs ends in COMMAND_TIMEOUT with killConfirmed: true within seconds, and the sandbox stays usable",
        "processKill",
      );
      const gap = target.knownGaps?.forkBomb;
      const bomb = gap === undefined || gated.skip ? gated : { title: `${gated.title} (skipped: known gap of this target: ${gap})`, skip: true };
      it.skipIf(bomb.skip)(bomb.title, { timeout: budget(1, 120_000) }, async () => {
        const sandbox = await context.create();
        const timeoutMs = 2_000;
        const started = Date.now();
        const outcome = await outcomeOf(() => sandbox.execute("bomb() { bomb | bomb & }; bomb; wait", { timeoutMs }));
        const settledMs = Date.now() - started;
        // A provider whose limits make the bomb die out on its own may return a result; otherwise the timeout must kill it all.
        if (outcome !== DID_NOT_THROW) {
          assertSandboxError(outcome, "COMMAND_TIMEOUT", context.provider, "a fork bomb");
          expect(outcome.details.killConfirmed, `the fork bomb's processes were not all confirmed killed (settled after ${settledMs} ms)`).toBe(true);
        }
        // killConfirmed: true already means it settled within core's kill grace; this bounds the whole call.
        expect(settledMs, "the fork bomb took too long to settle after its timeout").toBeLessThan(timeoutMs + KILL_CONFIRMATION_GRACE_MS + 2_000);
        const alive = await sandbox.execute("echo alive; ps -o pid= | wc -l", { timeoutMs: 30_000 });
        expect(alive.exitCode, `the sandbox is unusable after the fork bomb: ${alive.output}`).toBe(0);
        expect(alive.output.startsWith("alive\n"), alive.output).toBe(true);
        expect(Number(alive.output.split("\n")[1]), `processes left after the fork bomb was killed:\n${alive.output}`).toBeLessThan(10);
      });
    });

    describe("out of memory is attributed to the command that suffered it", () => {
      const memoryMiB = 128;
      const limited = () => context.shared("oom", { memoryMiB });
      // A pipeline member grows until the OOM killer takes it; the pipeline itself exits 0.
      const OOM_IN_PIPELINE = "awk 'BEGIN { s = \"x\"; while (1) s = s s }' | cat; true";

      const stale = context.gated(
        `after an OOM kill inside an earlier command that exited 0, a plain 'kill -9 $$' returns exitCode 137 (memoryMiB ${memoryMiB})`,
        "resourceLimits",
      );
      it.skipIf(stale.skip)(stale.title, { timeout: budget(1, 180_000) }, async () => {
        const sandbox = await limited();
        const earlier = await sandbox.execute(OOM_IN_PIPELINE, { timeoutMs: 120_000 });
        expect(earlier.exitCode, `the pipeline with an OOM-killed member must still exit 0: ${earlier.output.slice(0, 500)}`).toBe(0);
        const plain = await sandbox.execute("kill -9 $$", { timeoutMs: 60_000 });
        expect(plain.exitCode, "a command killing itself with SIGKILL is not out of memory: the exit code must be 137").toBe(137);
        expect(plain.output, "the OOM bookkeeping must not leak into the command's output").toBe("");
        const again = await sandbox.execute("kill -9 $$; echo never", { timeoutMs: 60_000 });
        expect(again.exitCode).toBe(137);
        // And a command that is itself OOM-killed still says so.
        const outcome = await outcomeOf(() => sandbox.execute("awk 'BEGIN { s = \"x\"; while (1) s = s s }'", { timeoutMs: 120_000 }));
        assertSandboxError(outcome, "RESOURCE_LIMIT_EXCEEDED", context.provider, `a command growing past memoryMiB ${memoryMiB}`);
      });
    });
  });
}
