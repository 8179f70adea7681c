import { AlreadyExistsError, type Image, InvalidError, NotFoundError } from "modal";
import { beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";

/*
 * Sidecar containers (`experimentalSidecars`, issue 11), driven by the real
 * modal@0.11.1 SDK: created through SandboxContainerCreateV2 (the SDK's
 * default) and TaskContainerCreate (MODAL_USE_CONTROL_PLANE_SIDECAR_CREATE=0).
 */

async function output(process: { stdout: { readText(): Promise<string> }; wait(): Promise<number> }) {
  const stdout = await process.stdout.readText();
  return { stdout, exitCode: await process.wait() };
}

describe.runIf(engineReachable)("sidecar containers (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-sidecars" });
  let alpine: Image;
  let python: Image;

  beforeAll(async () => {
    alpine = await emu.modal.images.fromRegistry("alpine:3.21").build(emu.app);
    python = await emu.modal.images.fromRegistry("python:3.12-slim").build(emu.app);
  }, 120_000);

  it("runs a sidecar from another image in the sandbox's network namespace; exec, get and list reach it", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, alpine);
    emu.track(sandbox);
    const web = await sandbox.experimentalSidecars.create("web", python, {
      command: ["python3", "-c", "import http.server as h; h.HTTPServer(('127.0.0.1', 8081), h.SimpleHTTPRequestHandler).serve_forever()"],
      workdir: "/etc",
      env: { SIDE: "car" },
    });
    expect(web.containerId).toMatch(/^ctr-/);
    expect(web.containerName).toBe("web");

    // exec runs in the sidecar's own filesystem (Debian), with its env and workdir.
    const inSidecar = await output(await web.exec(["sh", "-c", 'echo "$SIDE $(pwd)"; test -f /etc/debian_version && echo debian'], { mode: "text" }));
    expect(inSidecar).toEqual({ stdout: "car /etc\ndebian\n", exitCode: 0 });
    // The main container reaches the sidecar's server on localhost (shared network namespace).
    const fetched = await output(
      await sandbox.exec(["sh", "-c", "for i in $(seq 50); do wget -qO- http://127.0.0.1:8081/hostname && exit 0; sleep 0.2; done; exit 1"], { mode: "text" }),
    );
    expect(fetched.exitCode).toBe(0);
    expect(fetched.stdout.trim().length).toBeGreaterThan(0);
    // The filesystem API targets the sidecar too.
    expect(await web.filesystem.readText("/etc/debian_version")).toMatch(/^\d+/);

    expect((await sandbox.experimentalSidecars.get("web")).containerId).toBe(web.containerId);
    expect((await sandbox.experimentalSidecars.list()).map((sidecar) => sidecar.containerName)).toEqual(["web"]);
    expect(await web.poll()).toBeNull();
    await expect(sandbox.experimentalSidecars.create("web", python)).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(sandbox.experimentalSidecars.get("nope")).rejects.toBeInstanceOf(NotFoundError);
    // What a sidecar cannot have here is refused by name (an own firewall in a shared network namespace).
    await expect(sandbox.experimentalSidecars.create("x", python, { outboundCidrAllowlist: ["10.0.0.0/8"] })).rejects.toThrow(InvalidError);

    expect(await web.terminate({ wait: true })).toBe(137);
    expect(await sandbox.experimentalSidecars.list()).toEqual([]);
    expect((await sandbox.experimentalSidecars.list({ includeTerminated: true })).map((sidecar) => sidecar.containerName)).toEqual(["web"]);
  });

  it("a sidecar's exit code is what wait() returns, and sidecars go with their sandbox", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, alpine);
    emu.track(sandbox);
    const quick = await sandbox.experimentalSidecars.create("quick", alpine, { command: ["sh", "-c", "exit 3"] });
    expect(await quick.wait()).toBe(3);
    expect(await quick.poll()).toBe(3);
    await sandbox.experimentalSidecars.create("long", alpine, { command: ["sleep", "600"] });
    const labelled = () => engine.listContainers({ [MODAL_OBJECT_LABELS.sandboxId]: sandbox.sandboxId });
    expect((await labelled()).length).toBeGreaterThanOrEqual(2);
    await sandbox.terminate({ wait: true });
    await expect.poll(async () => (await labelled()).length, { timeout: 20_000 }).toBe(0);
  });

  it("a sidecar's volumes behave as the main container's: private until committed by sync or its end, seen after reloadVolumes", async () => {
    const volume = await emu.modal.volumes.fromName("sidecar-volume", { createIfMissing: true });
    const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/shared": volume } }));
    const inMain = async (script: string) => (await output(await sandbox.exec(["sh", "-c", script], { mode: "text" }))).stdout;
    const writer = await sandbox.experimentalSidecars.create("writer", alpine, { command: ["sleep", "600"], volumes: { "/data": volume } });
    expect((await output(await writer.exec(["sh", "-c", "echo one > /data/a.txt"], { mode: "text" }))).exitCode).toBe(0);
    // Not committed: the main container does not see it.
    expect(await inMain("cat /shared/a.txt 2>/dev/null || echo missing")).toBe("missing\n");
    // `sync` in the sidecar commits; the main container sees it once it reloads.
    expect((await output(await writer.exec(["sync", "/data"], { mode: "text" }))).exitCode).toBe(0);
    expect(await inMain("cat /shared/a.txt 2>/dev/null || echo missing")).toBe("missing\n");
    await sandbox.reloadVolumes();
    expect(await inMain("cat /shared/a.txt")).toBe("one\n");
    // A sidecar's end commits its writes before wait() answers.
    const quick = await sandbox.experimentalSidecars.create("quick", alpine, { command: ["sh", "-c", "echo two > /data/b.txt"], volumes: { "/data": volume } });
    expect(await quick.wait()).toBe(0);
    await sandbox.reloadVolumes();
    expect(await inMain("cat /shared/b.txt")).toBe("two\n");
    // reloadVolumes() reloads the sidecars' copies too.
    expect(await inMain("echo three > /shared/c.txt && sync /shared && echo synced")).toBe("synced\n");
    await sandbox.reloadVolumes();
    expect(await output(await writer.exec(["cat", "/data/c.txt"], { mode: "text" }))).toEqual({ stdout: "three\n", exitCode: 0 });
  }, 240_000); // Seven volume copies by helper containers: about a second each on an idle engine, far more on a loaded one.

  it("a sidecar with pty runs its command on a terminal of Modal's size and TERM", async () => {
    const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine));
    const command = ["sh", "-c", '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo "$TERM" > /on-a-tty; sleep 600'];
    const sidecar = await sandbox.experimentalSidecars.create("tty", alpine, { pty: true, command });
    await expect.poll(() => sidecar.filesystem.readText("/on-a-tty").catch(() => ""), { timeout: 20_000 }).toBe("xterm-256color\n");
    // The terminal's size, read from the command's own terminal (Docker's init holds it as PID 1).
    expect(await output(await sidecar.exec(["sh", "-c", "stty size < /proc/1/fd/0"], { mode: "text" }))).toEqual({ stdout: "24 80\n", exitCode: 0 });
  });

  it("creates through the task command router when the control-plane create is switched off (TaskContainerCreate)", async () => {
    const sandbox = await emu.modal.sandboxes.create(emu.app, alpine);
    emu.track(sandbox);
    process.env.MODAL_USE_CONTROL_PLANE_SIDECAR_CREATE = "0";
    try {
      const sidecar = await sandbox.experimentalSidecars.create("routed", alpine, { command: ["sleep", "600"], env: { WHO: "routed" } });
      expect(await output(await sidecar.exec(["sh", "-c", "echo $WHO"], { mode: "text" }))).toEqual({ stdout: "routed\n", exitCode: 0 });
      // snapshotFilesystem of a sidecar commits the sidecar, not the main container.
      expect((await output(await sidecar.exec(["sh", "-c", "echo side > /marker"], { mode: "text" }))).exitCode).toBe(0);
      const image = await sidecar.snapshotFilesystem();
      const restored = await emu.modal.sandboxes.create(emu.app, image);
      emu.track(restored);
      expect(await output(await restored.exec(["cat", "/marker"], { mode: "text" }))).toEqual({ stdout: "side\n", exitCode: 0 });
    } finally {
      delete process.env.MODAL_USE_CONTROL_PLANE_SIDECAR_CREATE;
    }
    const calls = emu.emulator.inspect.calls().map((call) => call.path);
    expect(calls.some((method) => method.endsWith("/TaskContainerCreate"))).toBe(true);
  });
});
