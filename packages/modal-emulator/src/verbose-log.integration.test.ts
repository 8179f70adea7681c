import type { Image } from "modal";
import { beforeAll, describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";

/*
 * Issue 11: `verbose: true` is honoured, not refused. The SDK only passes the
 * flag; the emulator logs a verbose sandbox's lifecycle (creation, each exec
 * and its exit, the end) through `onLog`, and nothing for other sandboxes.
 */

describe.runIf(engineReachable)("verbose sandboxes (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const lines: string[] = [];
  const harness = useModalEmulator({ appName: "emulator-verbose", emulator: { onLog: (line) => lines.push(line) } });
  let image: Image;

  beforeAll(() => {
    image = harness.modal.images.fromRegistry("alpine:3.21");
  });

  it("logs the creation, each exec with its argv and exit code, and the end of a verbose sandbox; nothing for a quiet one", async () => {
    const { modal, app } = harness;
    const verbose = await modal.sandboxes.create(app, image, { verbose: true, command: ["sleep", "60"], env: { SHOULD_NOT_BE_LOGGED: "hidden-value" } });
    const quiet = await modal.sandboxes.create(app, image, { command: ["sleep", "60"] });
    for (const sandbox of [verbose, quiet]) {
      const process_ = await sandbox.exec(["sh", "-c", "exit 3"]);
      expect(await process_.wait()).toBe(3);
    }
    await verbose.terminate();
    await quiet.terminate();
    await expect.poll(() => lines.some((line) => line.includes(verbose.sandboxId) && line.includes("finished"))).toBe(true);

    const own = lines.filter((line) => line.includes(verbose.sandboxId));
    expect(own[0]).toMatch(/created \(app ap-\w+, image .+, entrypoint \["sleep","60"\]\)/);
    expect(own.some((line) => line.includes('["sh","-c","exit 3"]'))).toBe(true);
    expect(own.some((line) => /exec \S+ exited with code 3/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(quiet.sandboxId))).toBe(false);
    expect(lines.some((line) => line.includes("hidden-value"))).toBe(false);
  });
});
