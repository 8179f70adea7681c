import { NotFoundError } from "modal";
import { describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";

/*
 * Named images (issue 11): `image.publish(name)` and `images.fromName(name)`
 * (ImagePublish, ImageGetByTag) through the real modal@0.11.1 SDK.
 */

describe.runIf(engineReachable)("published images (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-publish" });

  it("publishes a built image under a name, finds it by name (tag and environment defaults), and moves the name on republish", async () => {
    const first = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo one > /version"]).build(emu.app);
    await first.publish("tools");
    expect((await emu.modal.images.fromName("tools")).imageId).toBe(first.imageId);
    expect((await emu.modal.images.fromName("tools:latest")).imageId).toBe(first.imageId);
    expect((await emu.modal.images.fromName("main/tools")).imageId).toBe(first.imageId);

    const second = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo two > /version"]).build(emu.app);
    await second.publish("tools:latest");
    await second.publish("tools:v2");
    const named = await emu.modal.images.fromName("tools");
    expect(named.imageId).toBe(second.imageId);
    expect((await emu.modal.images.fromName("tools:v2")).imageId).toBe(second.imageId);

    // The named image runs sandboxes.
    const sandbox = await emu.modal.sandboxes.create(emu.app, named);
    try {
      const process = await sandbox.exec(["cat", "/version"], { mode: "text" });
      expect(await process.stdout.readText()).toBe("two\n");
    } finally {
      await sandbox.terminate();
    }
  });

  it("answers NotFoundError for an unknown name, another environment's name, and a name whose image was deleted", async () => {
    await expect(emu.modal.images.fromName("never-published")).rejects.toBeInstanceOf(NotFoundError);
    const image = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo env > /env"]).build(emu.app);
    await image.publish("scoped", { environment: "staging" });
    expect((await emu.modal.images.fromName("scoped", { environment: "staging" })).imageId).toBe(image.imageId);
    await expect(emu.modal.images.fromName("scoped")).rejects.toBeInstanceOf(NotFoundError);
    await emu.modal.images.delete(image.imageId);
    await expect(emu.modal.images.fromName("scoped", { environment: "staging" })).rejects.toBeInstanceOf(NotFoundError);
  });
});
