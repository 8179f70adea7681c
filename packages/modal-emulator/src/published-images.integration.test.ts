import { DockerEngine } from "@sandbox/docker-engine";
import { type App, ModalClient, NotFoundError } from "modal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INSTANCE_LABEL, type ModalEmulator, startModalEmulator } from "./index.js";

/*
 * Named images (issue 11): `image.publish(name)` and `images.fromName(name)`
 * (ImagePublish, ImageGetByTag) through the real modal@0.11.1 SDK.
 */

const engine = new DockerEngine();
const engineReachable = await engine.ping().then(
  () => true,
  () => false,
);
if (!engineReachable && process.env.CI) {
  throw new Error("CI is set but no Docker engine answers: .ci/run must start one (scripts/start-docker-engine.sh)");
}
const TOKEN_ID = "ak-publish-test";
const TOKEN_SECRET = "as-publish-test-secret";

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

describe.runIf(engineReachable)("published images (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  let emulator: ModalEmulator;
  let modal: ModalClient;
  let app: App;

  beforeAll(async () => {
    emulator = await startModalEmulator({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET });
    modal = clientFor(emulator.url);
    app = await modal.apps.fromName("emulator-publish", { createIfMissing: true });
  }, 120_000);

  afterAll(async () => {
    modal?.close();
    if (!emulator) return;
    const instance = emulator.labels[INSTANCE_LABEL]!;
    await emulator.stop();
    expect(await engine.listContainers({ [INSTANCE_LABEL]: instance })).toEqual([]);
  }, 120_000);

  it("publishes a built image under a name, finds it by name (tag and environment defaults), and moves the name on republish", async () => {
    const first = await modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo one > /version"]).build(app);
    await first.publish("tools");
    expect((await modal.images.fromName("tools")).imageId).toBe(first.imageId);
    expect((await modal.images.fromName("tools:latest")).imageId).toBe(first.imageId);
    expect((await modal.images.fromName("main/tools")).imageId).toBe(first.imageId);

    const second = await modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo two > /version"]).build(app);
    await second.publish("tools:latest");
    await second.publish("tools:v2");
    const named = await modal.images.fromName("tools");
    expect(named.imageId).toBe(second.imageId);
    expect((await modal.images.fromName("tools:v2")).imageId).toBe(second.imageId);

    // The named image runs sandboxes.
    const sandbox = await modal.sandboxes.create(app, named);
    try {
      const process = await sandbox.exec(["cat", "/version"], { mode: "text" });
      expect(await process.stdout.readText()).toBe("two\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("answers NotFoundError for an unknown name, another environment's name, and a name whose image was deleted", async () => {
    await expect(modal.images.fromName("never-published")).rejects.toBeInstanceOf(NotFoundError);
    const image = await modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo env > /env"]).build(app);
    await image.publish("scoped", { environment: "staging" });
    expect((await modal.images.fromName("scoped", { environment: "staging" })).imageId).toBe(image.imageId);
    await expect(modal.images.fromName("scoped")).rejects.toBeInstanceOf(NotFoundError);
    await modal.images.delete(image.imageId);
    await expect(modal.images.fromName("scoped", { environment: "staging" })).rejects.toBeInstanceOf(NotFoundError);
  });
});
