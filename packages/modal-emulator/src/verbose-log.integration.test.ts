import { dockerEngineAvailable } from "@sandbox/test-support";
import { type App, type Image, ModalClient } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ModalEmulator, startModalEmulator } from "./index.js";

/*
 * Issue 11: `verbose: true` is honoured, not refused. The SDK only passes the
 * flag; the emulator logs a verbose sandbox's lifecycle (creation, each exec
 * and its exit, the end) through `onLog`, and nothing for other sandboxes.
 */

const withDocker = await dockerEngineAvailable();
const TOKEN_ID = "ak-verbose-test";
const TOKEN_SECRET = "as-verbose-test-secret";

function clientFor(url: string): ModalClient {
  const saved = process.env.MODAL_SERVER_URL;
  process.env.MODAL_SERVER_URL = url;
  try {
    return new ModalClient({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, logLevel: "error" });
  } finally {
    if (saved === undefined) delete process.env.MODAL_SERVER_URL;
    else process.env.MODAL_SERVER_URL = saved;
  }
}

describe.runIf(withDocker)("verbose sandboxes (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  let emulator: ModalEmulator;
  let modal: ModalClient;
  let app: App;
  let image: Image;
  const lines: string[] = [];

  beforeAll(async () => {
    emulator = await startModalEmulator({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, onLog: (line) => lines.push(line) });
    modal = clientFor(emulator.url);
    app = await modal.apps.fromName("emulator-verbose", { createIfMissing: true });
    image = modal.images.fromRegistry("alpine:3.21");
  }, 120_000);

  afterAll(async () => {
    modal?.close();
    await emulator?.stop();
  }, 120_000);

  it("logs the creation, each exec with its argv and exit code, and the end of a verbose sandbox; nothing for a quiet one", async () => {
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
