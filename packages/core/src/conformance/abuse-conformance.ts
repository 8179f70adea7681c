import { describe, expect, it } from "vitest";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { assertSandboxError, outcomeOf } from "./expect-sandbox-error.js";
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

    describe("out of memory is attributed to the command that suffered it", () => {
      const memoryMiB = 128;
      const limited = () => context.shared("oom", { memoryMiB });
      // A pipeline member grows until the OOM killer takes it; the pipeline itself exits 0.
      const OOM_IN_PIPELINE = "awk 'BEGIN { s = \"x\"; while (1) s = s s }' | cat; true";

      const stale = context.gated(`after an OOM kill inside an earlier command that exited 0, a plain 'kill -9 $$' returns exitCode 137 (memoryMiB ${memoryMiB})`, "resourceLimits");
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
