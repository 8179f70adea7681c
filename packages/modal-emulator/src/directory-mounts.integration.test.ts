import {
  type Image,
  type Sandbox,
  SandboxFilesystemDirectoryNotEmptyError,
  SandboxFilesystemFileTooLargeError,
  SandboxFilesystemIsADirectoryError,
  SandboxFilesystemNotFoundError,
  SandboxFilesystemPathAlreadyExistsError,
} from "modal";
import { Status } from "nice-grpc";
import { beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, run as runArgv, useModalEmulator } from "../test/support/emulator-harness.js";
import { INSTANCE_LABEL } from "./index.js";
import { mountNamespaceUnsupportedReason } from "./mount-namespace.js";

/*
 * mountImage / unmountImage / snapshotDirectory (issue 11), driven by the
 * real modal@0.11.1 SDK against the emulator and real containers.
 */

/** Mounting needs root, nsenter and a static busybox on the engine's machine; without them it is refused (tested below). */
const unsupported = engineReachable ? await mountNamespaceUnsupportedReason() : "no engine";
function run(sandbox: Sandbox, script: string) {
  return runArgv(sandbox, ["sh", "-c", script]);
}

describe.runIf(engineReachable)("mountImage, unmountImage and snapshotDirectory (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({ appName: "emulator-directories" });
  let alpine: Image;

  const newSandbox = async (): Promise<Sandbox> => emu.track(await emu.modal.sandboxes.create(emu.app, alpine));

  beforeAll(async () => {
    alpine = await emu.modal.images.fromRegistry("alpine:3.21").build(emu.app);
  }, 120_000);

  it.runIf(unsupported === undefined)("mounts an image over a directory, hiding what was there, and unmounting shows it again", async () => {
    const sandbox = await newSandbox();
    expect((await run(sandbox, "mkdir -p /opt/tools && echo mine > /opt/tools/own.txt")).exitCode).toBe(0);

    await sandbox.mountImage("/opt/tools", alpine);
    const mounted = await run(sandbox, "ls /opt/tools/bin/busybox && test ! -e /opt/tools/own.txt && echo hidden");
    expect(mounted).toMatchObject({ exitCode: 0, stdout: expect.stringContaining("hidden") });

    await sandbox.unmountImage("/opt/tools");
    expect(await run(sandbox, "cat /opt/tools/own.txt; ls /opt/tools")).toMatchObject({ exitCode: 0, stdout: "mine\nown.txt\n" });
  });

  it.runIf(unsupported === undefined)("the filesystem API sees what commands see under a mount, and what the mount hid once it is gone", async () => {
    const sandbox = await newSandbox();
    expect((await run(sandbox, "mkdir -p /opt/fs/sub && echo beneath > /opt/fs/own.txt && ln -s /opt/fs /opt/via-link")).exitCode).toBe(0);
    await sandbox.mountImage("/opt/fs", alpine);

    // Mounted files: stat, list and read through the filesystem API (also through a symlink to the mount).
    const busybox = await sandbox.filesystem.stat("/opt/fs/bin/busybox");
    expect(busybox).toMatchObject({ type: "file", name: "busybox" });
    expect(busybox.size).toBeGreaterThan(100_000);
    expect((await sandbox.filesystem.stat("/opt/fs")).type).toBe("directory");
    const names = (await sandbox.filesystem.listFiles("/opt/fs")).map((entry) => entry.name);
    expect(names).toEqual(expect.arrayContaining(["bin", "etc"]));
    expect(names).not.toContain("own.txt");
    expect(await sandbox.filesystem.readText("/opt/via-link/etc/passwd")).toMatch(/^root:/);
    await expect(sandbox.filesystem.stat("/opt/fs/own.txt")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
    await expect(sandbox.filesystem.readText("/opt/fs/bin")).rejects.toBeInstanceOf(SandboxFilesystemIsADirectoryError);
    // The read limit holds under a mount too: a 6 GiB sparse file is refused from its size, at once.
    expect((await run(sandbox, "dd if=/dev/zero of=/opt/fs/big bs=1 count=0 seek=6G 2>/dev/null && echo made")).stdout).toBe("made\n");
    await expect(sandbox.filesystem.readBytes("/opt/fs/big")).rejects.toBeInstanceOf(SandboxFilesystemFileTooLargeError);

    // Written through the API, read by a command; written by a command, read through the API.
    await sandbox.filesystem.writeText("from the api\n", "/opt/fs/new/api.txt");
    expect(await run(sandbox, "cat /opt/fs/new/api.txt")).toMatchObject({ exitCode: 0, stdout: "from the api\n" });
    expect((await run(sandbox, "echo from a command > /opt/fs/cmd.txt")).exitCode).toBe(0);
    expect(await sandbox.filesystem.readText("/opt/fs/cmd.txt")).toBe("from a command\n");
    expect((await sandbox.filesystem.stat("/opt/fs/cmd.txt")).size).toBe(15);
    await sandbox.filesystem.makeDirectory("/opt/fs/made");
    await expect(sandbox.filesystem.makeDirectory("/opt/fs/made", { createParents: false })).rejects.toBeInstanceOf(SandboxFilesystemPathAlreadyExistsError);
    expect((await run(sandbox, "test -d /opt/fs/made && echo dir")).stdout).toBe("dir\n");
    await expect(sandbox.filesystem.remove("/opt/fs/new")).rejects.toBeInstanceOf(SandboxFilesystemDirectoryNotEmptyError);
    await sandbox.filesystem.remove("/opt/fs/new", { recursive: true });
    await sandbox.filesystem.remove("/opt/fs/cmd.txt");
    expect((await run(sandbox, "test ! -e /opt/fs/new && test ! -e /opt/fs/cmd.txt && echo gone")).stdout).toBe("gone\n");

    // Unmounted: the API sees what the mount hid, and nothing of what was written under it.
    await sandbox.unmountImage("/opt/fs");
    expect(await sandbox.filesystem.readText("/opt/fs/own.txt")).toBe("beneath\n");
    expect((await sandbox.filesystem.listFiles("/opt/fs")).map((entry) => entry.name)).toEqual(["own.txt", "sub"]);
    await expect(sandbox.filesystem.stat("/opt/fs/made")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
  });

  it.runIf(unsupported === undefined)("mountImage without an image mounts an empty, writable directory, creating the path", async () => {
    const sandbox = await newSandbox();
    await sandbox.mountImage("/scratch/empty");
    expect(await run(sandbox, "ls -A /scratch/empty | wc -l; echo x > /scratch/empty/f && cat /scratch/empty/f")).toMatchObject({
      exitCode: 0,
      stdout: "0\nx\n",
    });
    // A second mount at the same path is refused until the first is unmounted.
    await expect(sandbox.mountImage("/scratch/empty")).rejects.toMatchObject({ code: Status.ALREADY_EXISTS });
    await sandbox.unmountImage("/scratch/empty");
    expect(await run(sandbox, "ls -A /scratch/empty | wc -l")).toMatchObject({ exitCode: 0, stdout: "0\n" });
  });

  it.runIf(unsupported === undefined)("refuses bad paths and unmounting what is not mounted, naming them", async () => {
    const sandbox = await newSandbox();
    // A path through an absolute symlink the sandbox planted is not followed out of the sandbox:
    // the privileged mount resolves it against a host directory outside the namespace, which the kernel refuses.
    expect((await run(sandbox, "ln -s / /escape && mkdir -p /tmp/target")).exitCode).toBe(0);
    await expect(sandbox.mountImage("/escape/tmp/target")).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect(await run(sandbox, "grep -c modal-emulator-mount /proc/mounts")).toMatchObject({ stdout: "0\n" });
    await expect(sandbox.mountImage("relative/path")).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining("absolute") });
    await expect(sandbox.mountImage("/")).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    await expect(sandbox.unmountImage("/never-mounted")).rejects.toMatchObject({ code: Status.NOT_FOUND, details: expect.stringContaining("/never-mounted") });
    // The main container's own mounts (volumes, /etc/hosts) are not the emulator's to unmount.
    await expect(sandbox.unmountImage("/etc/hosts")).rejects.toMatchObject({ code: Status.NOT_FOUND });
  });

  it.runIf(unsupported === undefined)("snapshotDirectory makes an image of the directory that another sandbox can mount", async () => {
    const source = await newSandbox();
    expect((await run(source, "mkdir -p /work/sub && echo hello > /work/a.txt && echo deep > /work/sub/b.txt && chmod 600 /work/a.txt")).exitCode).toBe(0);
    const snapshot = await source.snapshotDirectory("/work");
    expect(snapshot.imageId).toMatch(/^im-/);

    const target = await newSandbox();
    await target.mountImage("/restored", snapshot);
    expect(await run(target, "cat /restored/a.txt /restored/sub/b.txt; stat -c %a /restored/a.txt")).toMatchObject({
      exitCode: 0,
      stdout: "hello\ndeep\n600\n",
    });
    // Snapshotting what is not a directory is refused by name.
    await expect(source.snapshotDirectory("/no/such/dir")).rejects.toMatchObject({ code: Status.NOT_FOUND, details: expect.stringContaining("/no/such/dir") });
    await expect(source.snapshotDirectory("/work/a.txt")).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });

  it.runIf(unsupported === undefined)("a directory snapshot expires at its TTL: its id stops resolving and its Docker image is removed", async () => {
    const sandbox = await newSandbox();
    expect((await run(sandbox, "mkdir -p /ttl && echo t > /ttl/t")).exitCode).toBe(0);
    const instance = emu.emulator.labels[INSTANCE_LABEL]!;
    const snapshotTags = async () =>
      (await engine.docker.listImages({ filters: JSON.stringify({ label: [`${INSTANCE_LABEL}=${instance}`] }) }))
        .flatMap((image) => image.RepoTags ?? [])
        .filter((tag) => tag.startsWith("modal-emulator-directory-"));
    const before = await snapshotTags();
    // Long enough that the mount below lands before expiry on a loaded 2-core machine.
    const ttlMs = 5000;
    const snapshot = await sandbox.snapshotDirectory("/ttl", { ttlMs });
    const expiresBy = Date.now() + ttlMs;
    const added = (await snapshotTags()).filter((tag) => !before.includes(tag));
    expect(added).toHaveLength(1);
    // Usable before it expires.
    await sandbox.mountImage("/fresh", snapshot);
    expect(await run(sandbox, "cat /fresh/t")).toMatchObject({ exitCode: 0, stdout: "t\n" });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresBy + 1000 - Date.now())));
    await expect(sandbox.mountImage("/expired", snapshot)).rejects.toMatchObject({ code: Status.NOT_FOUND });
    // Removed once nothing uses it any more (the mount above may still have been copying it at the TTL).
    await expect.poll(snapshotTags, { timeout: 10_000, interval: 500 }).not.toContain(added[0]);
  });

  it.runIf(unsupported !== undefined)(`refuses the directory calls with FAILED_PRECONDITION naming what is missing (${unsupported})`, async () => {
    const sandbox = await newSandbox();
    await expect(sandbox.mountImage("/x")).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION, details: expect.stringContaining(String(unsupported)) });
    await expect(sandbox.unmountImage("/x")).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
  });
});
