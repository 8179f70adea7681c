import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  AlreadyExistsError,
  ClientClosedError,
  ConflictError,
  type Image,
  InvalidError,
  NotFoundError,
  SandboxFilesystemDirectoryNotEmptyError,
  SandboxFilesystemError,
  SandboxFilesystemIsADirectoryError,
  SandboxFilesystemNotADirectoryError,
  SandboxFilesystemNotFoundError,
  SandboxFilesystemPathAlreadyExistsError,
  SandboxFilesystemPermissionError,
  SandboxTimeoutError,
} from "modal";
import { describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";

/*
 * The SDK's documented behaviour, written as the SDK's own authors write their
 * end-to-end tests (`alpine:3.21`, `python:3.13-slim`, `sh -c`, `printenv`,
 * `readText()` then `wait()`), against the emulator with the real
 * modal@0.11.1 SDK. Each test states what the SDK's bundled types and code
 * promise; where the emulator differed, it was fixed and this is the proof.
 */

const unique = () => Math.random().toString(36).slice(2, 10);

describe.runIf(engineReachable)("modal@0.11.1 as its authors test it, against the emulator", { timeout: 90_000 }, () => {
  const emu = useModalEmulator({
    appName: "libmodal-test",
    emulator: { secrets: { "libmodal-test-secret": { a: "1", b: "2", c: "hello world" } } },
  });
  const alpine = () => emu.image("alpine:3.21");

  describe("sandboxes", () => {
    it("creates a sandbox, terminates it and waits for 137", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      expect(sb.sandboxId).toMatch(/^sb-/);
      await sb.terminate();
      expect(await sb.wait()).toBe(137);
    });

    it("terminate({ wait: true }) returns the exit code", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sleep", "60"] }));
      expect(await sb.terminate({ wait: true })).toBe(137);
    });

    it("pipes stdin to cat and back; poll is null while running, the code after", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["cat"] }));
      expect(await sb.poll()).toBeNull();
      await sb.stdin.writeText("this is input that should be mirrored by cat");
      await sb.stdin.close();
      expect(await sb.stdout.readText()).toBe("this is input that should be mirrored by cat");
      expect(await sb.wait()).toBe(0);
      expect(await sb.poll()).toBe(0);
    });

    it("reports the entrypoint's exit code from wait and poll", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sh", "-c", "exit 42"] }));
      expect(await sb.wait()).toBe(42);
      expect(await sb.poll()).toBe(42);
    });

    it("ends at timeoutMs with 124", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sleep", "60"], timeoutMs: 2_000 }));
      expect(await sb.wait()).toBe(124);
    });

    it("runs the entrypoint in workdir, and accepts Modal's create options", async () => {
      const sb = emu.track(
        await emu.modal.sandboxes.create(emu.app, alpine(), {
          command: ["pwd"],
          workdir: "/tmp",
          cloud: "aws",
          regions: ["us-east-1", "us-west-2"],
          verbose: true,
        }),
      );
      expect(await sb.wait()).toBe(0);
      expect(await sb.stdout.readText()).toBe("/tmp\n");
    });

    it("gives the entrypoint named and object secrets as environment variables", async () => {
      const secret = await emu.modal.secrets.fromName("libmodal-test-secret", { requiredKeys: ["c"] });
      const fromObject = await emu.modal.secrets.fromObject({ d: "123" });
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { secrets: [secret, fromObject], command: ["printenv", "c", "d"] }));
      expect(await sb.wait()).toBe(0);
      expect(await sb.stdout.readText()).toBe("hello world\n123\n");
    });

    it("finds a sandbox by id; an unknown id answers NOT_FOUND on first use", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const again = await emu.modal.sandboxes.fromId(sb.sandboxId);
      expect(again.sandboxId).toBe(sb.sandboxId);
      const p = await again.exec(["echo", "same sandbox"]);
      expect(await p.stdout.readText()).toBe("same sandbox\n");
      // fromId makes a handle without a call; the first call answers NOT_FOUND.
      const unknown = await emu.modal.sandboxes.fromId("sb-doesnotexist000000000000");
      await expect(unknown.poll()).rejects.toThrow(/NOT_FOUND/);
      await expect(unknown.exec(["true"])).rejects.toThrow(/NOT_FOUND/);
    });

    it("names a sandbox: fromName finds it, a second create with the name is AlreadyExistsError, an unknown name NotFoundError", async () => {
      const name = `test-sandbox-${unique()}`;
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { name, command: ["sleep", "60"] }));
      const first = await emu.modal.sandboxes.fromName("libmodal-test", name);
      expect(first.sandboxId).toBe(sb.sandboxId);
      const second = await emu.modal.sandboxes.fromName("libmodal-test", name);
      expect(second.sandboxId).toBe(first.sandboxId);
      await expect(emu.modal.sandboxes.create(emu.app, alpine(), { name, command: ["sleep", "60"] })).rejects.toThrow(AlreadyExistsError);
      await expect(emu.modal.sandboxes.fromName("libmodal-test", "non-existent-sandbox")).rejects.toThrow(NotFoundError);
      await expect(emu.modal.sandboxes.fromName("no-such-app-anywhere", name)).rejects.toThrow(NotFoundError);
    });

    it("after terminate, fromName no longer finds the name, unless includeTerminated; the name can be taken again", async () => {
      const name = `ended-${unique()}`;
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { name }));
      await sb.terminate();
      await sb.wait();
      await expect(emu.modal.sandboxes.fromName("libmodal-test", name)).rejects.toThrow(NotFoundError);
      const ended = await emu.modal.sandboxes.fromName("libmodal-test", name, { includeTerminated: true });
      expect(ended.sandboxId).toBe(sb.sandboxId);
      const next = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { name }));
      expect((await emu.modal.sandboxes.fromName("libmodal-test", name)).sandboxId).toBe(next.sandboxId);
    });

    it("sets tags (replacing them), gets them, and lists by every given tag", async () => {
      const value = unique();
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const other = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.setTags({ "test-key": value, "second-key": "x" });
      await other.setTags({ "test-key": value });
      expect(await sb.getTags()).toEqual({ "test-key": value, "second-key": "x" });
      const ids = async (tags: Record<string, string>) => {
        const found: string[] = [];
        for await (const listed of emu.modal.sandboxes.list({ tags })) found.push(listed.sandboxId);
        return found.sort();
      };
      expect(await ids({ "test-key": value })).toEqual([sb.sandboxId, other.sandboxId].sort());
      expect(await ids({ "test-key": value, "second-key": "x" })).toEqual([sb.sandboxId]);
      await sb.setTags({});
      expect(await sb.getTags()).toEqual({});
      expect(await ids({ "test-key": value })).toEqual([other.sandboxId]);
      let count = 0;
      for await (const listed of emu.modal.sandboxes.list({ appId: emu.app.appId })) {
        expect(listed.sandboxId).toMatch(/^sb-/);
        count++;
      }
      expect(count).toBeGreaterThanOrEqual(2);
    });

    it("detach: the handle refuses further use with ClientClosedError, the sandbox runs on", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      sb.detach();
      await expect(sb.exec(["true"])).rejects.toThrow(ClientClosedError);
      const again = emu.track(await emu.modal.sandboxes.fromId(sb.sandboxId));
      expect(await again.poll()).toBeNull();
      const p = await again.exec(["echo", "still running"]);
      expect(await p.stdout.readText()).toBe("still running\n");
    });

    it("snapshots the filesystem into an image that a new sandbox starts from", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.writeText("from the snapshot", "/tmp/snapshot.txt");
      const image = await sb.snapshotFilesystem();
      expect(image.imageId).toMatch(/^im-/);
      const child = emu.track(await emu.modal.sandboxes.create(emu.app, image, { command: ["cat", "/tmp/snapshot.txt"] }));
      expect(await child.stdout.readText()).toBe("from the snapshot");
      expect(await child.wait()).toBe(0);
    });

    it("rejects Modal's invalid values: a relative workdir, a fractional timeout, an unknown cloud", async () => {
      // The SDK checks these itself, before any call.
      await expect(emu.modal.sandboxes.create(emu.app, alpine(), { workdir: "relative/path" })).rejects.toThrow(/absolute path/);
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await expect(sb.exec(["pwd"], { workdir: "relative" })).rejects.toThrow(InvalidError);
      await expect(emu.modal.sandboxes.create(emu.app, alpine(), { timeoutMs: 1500 })).rejects.toThrow(/multiple of 1000ms/);
      await expect(emu.modal.sandboxes.create(emu.app, alpine(), { cloud: "invalid-cloud" })).rejects.toThrow(/INVALID_ARGUMENT|cloud/i);
    });
  });

  describe("exec", () => {
    it("runs sh -c, returns its stdout, stderr and exit code", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sh", "-c", "echo hi; echo oops >&2; exit 3"]);
      expect(await p.stdout.readText()).toBe("hi\n");
      expect(await p.stderr.readText()).toBe("oops\n");
      expect(await p.wait()).toBe(3);
    });

    it("feeds stdin with writeText and close, in text and binary modes", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const text = await sb.exec(["cat"]);
      await text.stdin.writeText("foo\n");
      await text.stdin.writeText("bar\n");
      await text.stdin.close();
      expect(await text.stdout.readText()).toBe("foo\nbar\n");
      expect(await text.wait()).toBe(0);
      const binary = await sb.exec(["cat"], { mode: "binary" });
      await binary.stdin.writeBytes(new Uint8Array([0, 1, 2, 255]));
      await binary.stdin.close();
      expect(Array.from(await binary.stdout.readBytes())).toEqual([0, 1, 2, 255]);
      expect(await binary.wait()).toBe(0);
    });

    it("ignores a large stdout with stdout: 'ignore' (python:3.13-slim)", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, emu.image("python:3.13-slim")));
      const p = await sb.exec(["python", "-c", 'print("a" * 1_000_000)'], { stdout: "ignore" });
      expect(await p.stdout.readText()).toBe("");
      expect(await p.wait()).toBe(0);
    });

    it("applies workdir, env, secrets and a timeout to one exec", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const secret = await emu.modal.secrets.fromName("libmodal-test-secret", { requiredKeys: ["c"] });
      const fromObject = await emu.modal.secrets.fromObject({ d: "123" });
      const p = await sb.exec(["sh", "-c", 'pwd; echo "$GREETING"; printenv c d'], {
        workdir: "/tmp",
        env: { GREETING: "hello env" },
        secrets: [secret, fromObject],
        timeoutMs: 10_000,
      });
      expect(await p.stdout.readText()).toBe("/tmp\nhello env\nhello world\n123\n");
      expect(await p.wait()).toBe(0);
    });

    it("kills an exec at its timeoutMs", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const started = Date.now();
      const p = await sb.exec(["sleep", "30"], { timeoutMs: 1_000 });
      expect(await p.wait()).not.toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it("runs with a pty: stderr merged into stdout", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sh", "-c", "echo out; echo err >&2"], { pty: true });
      const out = await p.stdout.readText();
      expect(out).toContain("out");
      expect(out).toContain("err");
      expect(await p.stderr.readText()).toBe("");
      expect(await p.wait()).toBe(0);
    });

    it("an exec in a terminated sandbox fails", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.exec(["true"]).then((p) => p.wait());
      await sb.terminate();
      await sb.wait();
      await expect(sb.exec(["echo", "too late"]).then((p) => p.wait())).rejects.toThrow();
    });
  });

  describe("filesystem", () => {
    it("writes and reads text and bytes, creating parents", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.writeText("hello, filesystem\n", "/tmp/a/b/c.txt");
      expect(await sb.filesystem.readText("/tmp/a/b/c.txt")).toBe("hello, filesystem\n");
      const bytes = new Uint8Array([0, 1, 2, 3, 254, 255]);
      await sb.filesystem.writeBytes(bytes, "/tmp/bin.dat");
      expect(await sb.filesystem.readBytes("/tmp/bin.dat")).toEqual(bytes);
      await sb.filesystem.writeText("replaced", "/tmp/a/b/c.txt");
      expect(await sb.filesystem.readText("/tmp/a/b/c.txt")).toBe("replaced");
    });

    it("makes directories (parents by default, idempotent), lists them sorted by name, and stats entries", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.makeDirectory("/data/x/y");
      await sb.filesystem.makeDirectory("/data/x/y");
      await sb.filesystem.writeText("12345", "/data/x/b.txt");
      await sb.exec(["ln", "-s", "b.txt", "/data/x/link"]).then((p) => p.wait());
      const entries = await sb.filesystem.listFiles("/data/x");
      expect(entries.map((entry) => [entry.name, entry.type])).toEqual([
        ["b.txt", "file"],
        ["link", "symlink"],
        ["y", "directory"],
      ]);
      const file = entries[0]!;
      expect(file).toMatchObject({ path: "/data/x/b.txt", size: 5, permissions: "0644", owner: "root", group: "root", symlinkTarget: null });
      expect(file.mode & 0o777).toBe(0o644);
      expect(Math.abs(file.modifiedTime - Date.now() / 1000)).toBeLessThan(120);
      const link = await sb.filesystem.stat("/data/x/link");
      expect(link).toMatchObject({ type: "symlink", symlinkTarget: "b.txt" });
      expect((await sb.filesystem.stat("/data/x/y")).type).toBe("directory");
    });

    it("raises the documented error classes", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.writeText("x", "/e/file.txt");
      await sb.filesystem.writeText("x", "/e/full/inner.txt");
      await expect(sb.filesystem.readText("/e/missing.txt")).rejects.toThrow(SandboxFilesystemNotFoundError);
      await expect(sb.filesystem.readBytes("/e")).rejects.toThrow(SandboxFilesystemIsADirectoryError);
      await expect(sb.filesystem.listFiles("/e/file.txt")).rejects.toThrow(SandboxFilesystemNotADirectoryError);
      await expect(sb.filesystem.listFiles("/e/none")).rejects.toThrow(SandboxFilesystemNotFoundError);
      await expect(sb.filesystem.writeText("x", "/e/file.txt/under")).rejects.toThrow(SandboxFilesystemNotADirectoryError);
      await expect(sb.filesystem.writeText("x", "/e")).rejects.toThrow(SandboxFilesystemIsADirectoryError);
      await expect(sb.filesystem.makeDirectory("/e/full", { createParents: false })).rejects.toThrow(SandboxFilesystemPathAlreadyExistsError);
      await expect(sb.filesystem.makeDirectory("/e/no/such", { createParents: false })).rejects.toThrow(SandboxFilesystemNotFoundError);
      await expect(sb.filesystem.makeDirectory("/e/file.txt/sub")).rejects.toThrow(SandboxFilesystemNotADirectoryError);
      await expect(sb.filesystem.remove("/e/full")).rejects.toThrow(SandboxFilesystemDirectoryNotEmptyError);
      await expect(sb.filesystem.remove("/e/gone")).rejects.toThrow(SandboxFilesystemNotFoundError);
      await expect(sb.filesystem.stat("/e/gone")).rejects.toThrow(SandboxFilesystemNotFoundError);
      await expect(sb.filesystem.stat("/e/file.txt/x")).rejects.toThrow(SandboxFilesystemNotADirectoryError);
      // Every filesystem error is a SandboxFilesystemError.
      await expect(sb.filesystem.readText("/e/missing.txt")).rejects.toThrow(SandboxFilesystemError);
      await sb.filesystem.remove("/e/full", { recursive: true });
      await sb.filesystem.remove("/e/file.txt");
      expect(await sb.filesystem.listFiles("/e")).toEqual([]);
    });

    it("copies files to and from the local disk", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const dir = await mkdtemp(path.join(tmpdir(), "sdk-authors-"));
      try {
        await writeFile(path.join(dir, "up.txt"), "going up");
        await sb.filesystem.copyFromLocal(path.join(dir, "up.txt"), "/tmp/nested/up.txt");
        expect(await sb.filesystem.readText("/tmp/nested/up.txt")).toBe("going up");
        await sb.filesystem.copyToLocal("/tmp/nested/up.txt", path.join(dir, "down/down.txt"));
        expect(await readFile(path.join(dir, "down/down.txt"), "utf8")).toBe("going up");
        await expect(sb.filesystem.copyToLocal("/tmp/nope", path.join(dir, "x"))).rejects.toThrow(SandboxFilesystemNotFoundError);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("volumes", () => {
    it("fromName with createIfMissing, a missing one is NotFoundError, delete then NotFoundError", async () => {
      const name = `libmodal-test-volume-${unique()}`;
      await expect(emu.modal.volumes.fromName(name)).rejects.toThrow(NotFoundError);
      const volume = await emu.modal.volumes.fromName(name, { createIfMissing: true });
      expect(volume.volumeId).toMatch(/^vo-/);
      expect(volume.name).toBe(name);
      expect((await emu.modal.volumes.fromName(name)).volumeId).toBe(volume.volumeId);
      await emu.modal.volumes.delete(name);
      await expect(emu.modal.volumes.fromName(name)).rejects.toThrow(NotFoundError);
      await expect(emu.modal.volumes.delete(name)).rejects.toThrow(NotFoundError);
      await emu.modal.volumes.delete(name, { allowMissing: true });
    });

    it("a read-only mount refuses writes with 'Read-only file system'", async () => {
      const volume = await emu.modal.volumes.fromName(`ro-${unique()}`, { createIfMissing: true });
      const readOnly = volume.withMountOptions({ readOnly: true });
      const sb = emu.track(
        await emu.modal.sandboxes.create(emu.app, alpine(), {
          command: ["sh", "-c", "echo 'test' > /mnt/test/test.txt"],
          volumes: { "/mnt/test": readOnly },
        }),
      );
      expect(await sb.wait()).toBe(1);
      expect(await sb.stderr.readText()).toContain("Read-only file system");
    });

    it("an ephemeral volume is shared by two sandboxes once committed and reloaded", async () => {
      const volume = await emu.modal.volumes.ephemeral();
      try {
        const writer = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { volumes: { "/mnt/v": volume } }));
        const reader = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { volumes: { "/mnt/v": volume } }));
        const write = await writer.exec(["sh", "-c", "echo shared > /mnt/v/f.txt && sync /mnt/v"]);
        expect(await write.wait()).toBe(0);
        await reader.reloadVolumes();
        const p = await reader.exec(["cat", "/mnt/v/f.txt"]);
        expect(await p.stdout.readText()).toBe("shared\n");
      } finally {
        volume.closeEphemeral();
      }
    });
  });

  describe("secrets", () => {
    it("fromName finds a named secret; a missing required key or name is NotFoundError", async () => {
      const secret = await emu.modal.secrets.fromName("libmodal-test-secret");
      expect(secret.secretId).toMatch(/^st-/);
      expect(secret.name).toBe("libmodal-test-secret");
      await expect(emu.modal.secrets.fromName("libmodal-test-secret", { requiredKeys: ["a", "b", "missing"] })).rejects.toThrow(
        new NotFoundError("Secret is missing key(s): missing"),
      );
      await expect(emu.modal.secrets.fromName("missing-secret")).rejects.toThrow(NotFoundError);
    });

    it("fromObject refuses non-string values", async () => {
      await expect(emu.modal.secrets.fromObject({ key: 123 as unknown as string })).rejects.toThrow(InvalidError);
    });

    it("delete removes a named secret; deleting it again is NotFoundError unless allowMissing", async () => {
      const name = `to-delete-${unique()}`;
      emu.emulator.putSecret(name, { K: "v" });
      expect((await emu.modal.secrets.fromName(name)).secretId).toMatch(/^st-/);
      await emu.modal.secrets.delete(name);
      await expect(emu.modal.secrets.fromName(name)).rejects.toThrow(NotFoundError);
      await expect(emu.modal.secrets.delete(name)).rejects.toThrow(NotFoundError);
      await emu.modal.secrets.delete(name, { allowMissing: true });
    });
  });

  describe("images and apps", () => {
    it("dockerfileCommands build a layer a sandbox sees; build() gives an im- id that fromId finds", async () => {
      const image = emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo hey > /root/hello.txt"]);
      const built = await image.build(emu.app);
      expect(built.imageId).toMatch(/^im-/);
      const again = await emu.modal.images.fromId(built.imageId);
      expect(again.imageId).toBe(built.imageId);
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, again, { command: ["cat", "/root/hello.txt"] }));
      expect(await sb.stdout.readText()).toBe("hey\n");
      expect(await sb.wait()).toBe(0);
      await expect(emu.modal.images.fromId("im-doesnotexist")).rejects.toThrow(NotFoundError);
    });

    it("forceBuild builds a layer again (no cache) under a new id; an unforced build then gets the newest", async () => {
      const layer = ["RUN date +%s%N > /stamp"];
      const stampOf = async (image: Image) => {
        const sb = emu.track(await emu.modal.sandboxes.create(emu.app, image, { command: ["cat", "/stamp"] }));
        const stamp = await sb.stdout.readText();
        expect(await sb.wait()).toBe(0);
        return stamp;
      };
      const first = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(layer).build(emu.app);
      const cached = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(layer).build(emu.app);
      expect(cached.imageId).toBe(first.imageId);
      const forced = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(layer, { forceBuild: true }).build(emu.app);
      expect(forced.imageId).not.toBe(first.imageId);
      expect(await stampOf(forced)).not.toBe(await stampOf(first));
      const after = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(layer).build(emu.app);
      expect(after.imageId).toBe(forced.imageId);
    });

    it("a failing build command fails the build, naming the image, the stand-in it ran on and why a package install cannot work", async () => {
      const image = emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN apk add --no-cache curl"]);
      const error = await image.build(emu.app).then(
        () => undefined,
        (caught: Error) => caught,
      );
      expect(error?.message).toMatch(/im-/);
      expect(error?.message).toContain('offline: "alpine:3.21" runs on the local stand-in "sandbox-busybox:latest"');
      expect(error?.message).toMatch(/apk/);
    });

    it("an unknown public image is refused, saying it is offline and how to map it", async () => {
      const image = emu.modal.images.fromRegistry(`nonexistent-registry.invalid/nothing-${unique()}:1.0`);
      await expect(emu.modal.sandboxes.create(emu.app, image)).rejects.toThrow(/imageAliases/);
    });

    it("deletes an image: fromId then NotFoundError", async () => {
      const built = await emu.modal.images
        .fromRegistry("alpine:3.21")
        .dockerfileCommands([`RUN echo ${unique()} > /x`])
        .build(emu.app);
      await emu.modal.images.delete(built.imageId);
      await expect(emu.modal.images.fromId(built.imageId)).rejects.toThrow(NotFoundError);
    });

    it("refuses an invalid name for a new app or volume with INVALID_ARGUMENT, as Modal does", async () => {
      await expect(emu.modal.apps.fromName("not a valid name!", { createIfMissing: true })).rejects.toThrow(/INVALID_ARGUMENT.*Invalid App name/);
      await expect(emu.modal.volumes.fromName("bad/volume", { createIfMissing: true })).rejects.toThrow(/INVALID_ARGUMENT.*Invalid Volume name/);
      await expect(emu.modal.volumes.fromName("x".repeat(65), { createIfMissing: true })).rejects.toThrow(/Invalid Volume name/);
      // Looking up a missing one is still NotFoundError.
      await expect(emu.modal.apps.fromName("not a valid name!")).rejects.toThrow(NotFoundError);
    });

    it("apps.fromName without createIfMissing is NotFoundError for an unknown app", async () => {
      await expect(emu.modal.apps.fromName(`no-such-app-${unique()}`)).rejects.toThrow(NotFoundError);
      const app = await emu.modal.apps.fromName("libmodal-test");
      expect(app.appId).toBe(emu.app.appId);
      expect(app.appId).toMatch(/^ap-/);
    });
  });

  describe("second look", () => {
    it("list yields running sandboxes only: a terminated one drops out", async () => {
      const value = unique();
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { tags: { batch: value } }));
      expect(await sb.getTags()).toEqual({ batch: value });
      const ids = async () => {
        const found: string[] = [];
        for await (const listed of emu.modal.sandboxes.list({ tags: { batch: value } })) found.push(listed.sandboxId);
        return found;
      };
      expect(await ids()).toEqual([sb.sandboxId]);
      await sb.terminate();
      await sb.wait();
      expect(await ids()).toEqual([]);
    });

    it("terminate is idempotent, and wait on a fresh handle of a finished sandbox gives its code", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sh", "-c", "exit 5"] }));
      expect(await sb.wait()).toBe(5);
      await sb.terminate();
      await sb.terminate();
      const again = await emu.modal.sandboxes.fromId(sb.sandboxId);
      expect(await again.wait()).toBe(5);
      expect(await again.poll()).toBe(5);
    });

    it("separates the entrypoint's stdout and stderr, readable after it ended", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sh", "-c", "echo out; echo err >&2"] }));
      expect(await sb.wait()).toBe(0);
      expect(await sb.stdout.readText()).toBe("out\n");
      expect(await sb.stderr.readText()).toBe("err\n");
    });

    it("streams exec output chunk by chunk as it is produced", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]);
      const chunks: string[] = [];
      for await (const chunk of p.stdout) chunks.push(chunk);
      expect(chunks.join("")).toBe("line 1\nline 2\nline 3\n");
      expect(chunks.length).toBeGreaterThan(1);
      expect(await p.wait()).toBe(0);
    });

    it("stdout 'ignore' leaves stderr piped; binary mode returns bytes", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sh", "-c", "echo out; echo err >&2"], { stdout: "ignore" });
      expect(await p.stdout.readText()).toBe("");
      expect(await p.stderr.readText()).toBe("err\n");
      const b = await sb.exec(["sh", "-c", "head -c 3000000 /dev/zero"], { mode: "binary", stderr: "ignore" });
      expect((await b.stdout.readBytes()).length).toBe(3_000_000);
      expect(await b.wait()).toBe(0);
    });

    it("an exec of a missing binary fails (non-zero exit)", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const code = await sb.exec(["definitely-not-a-binary"]).then(
        (p) => p.wait(),
        () => -1,
      );
      expect(code).not.toBe(0);
    });

    it("two tags are two images even on one local stand-in: deleting one leaves the other; a deleted one builds again under a new id", async () => {
      const tag = "busybox:1.36";
      const alpineImage = await alpine().build(emu.app);
      const image = await emu.modal.images.fromRegistry(tag).build(emu.app);
      expect(image.imageId).not.toBe(alpineImage.imageId);
      await emu.modal.images.delete(image.imageId);
      await expect(emu.modal.sandboxes.create(emu.app, image)).rejects.toThrow(/Could not find image with ID/);
      expect((await emu.modal.images.fromId(alpineImage.imageId)).imageId).toBe(alpineImage.imageId);
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["true"] }));
      expect(await sb.wait()).toBe(0);
      await expect(emu.modal.images.fromId(image.imageId)).rejects.toThrow(NotFoundError);
      const rebuilt = await emu.modal.images.fromRegistry(tag).build(emu.app);
      expect(rebuilt.imageId).toMatch(/^im-/);
      expect(rebuilt.imageId).not.toBe(image.imageId);
      await expect(emu.modal.images.delete("im-nonexistent")).rejects.toThrow(NotFoundError);
    });

    it("dockerfileCommands layers see env and secrets at build time", async () => {
      const secret = await emu.modal.secrets.fromObject({ BUILD_SECRET: "from-a-secret" });
      const image = emu.modal.images
        .fromRegistry("alpine:3.21")
        .dockerfileCommands(["RUN echo $BUILD_ENV > /env.txt"], { env: { BUILD_ENV: "from-env" } })
        .dockerfileCommands(["RUN echo $BUILD_SECRET > /secret.txt"], { secrets: [secret] });
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, image, { command: ["cat", "/env.txt", "/secret.txt"] }));
      expect(await sb.stdout.readText()).toBe("from-env\nfrom-a-secret\n");
      expect(await sb.wait()).toBe(0);
    });

    it("experimentalSetName then experimentalFromName; a second name is ConflictError", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const name = `late-${unique()}`;
      await sb.experimentalSetName(name);
      expect((await emu.modal.sandboxes.experimentalFromName("libmodal-test", name)).sandboxId).toBe(sb.sandboxId);
      await expect(sb.experimentalSetName(`${name}-2`)).rejects.toThrow(ConflictError);
    });

    it("a volume subPath mounts that directory only", async () => {
      const volume = await emu.modal.volumes.fromName(`sub-${unique()}`, { createIfMissing: true });
      const writer = emu.track(
        await emu.modal.sandboxes.create(emu.app, alpine(), {
          command: ["sh", "-c", "mkdir -p /v/inner && echo deep > /v/inner/f.txt"],
          volumes: { "/v": volume },
        }),
      );
      expect(await writer.wait()).toBe(0);
      const reader = emu.track(
        await emu.modal.sandboxes.create(emu.app, alpine(), {
          command: ["cat", "/s/f.txt"],
          volumes: { "/s": volume.withMountOptions({ subPath: "inner" }) },
        }),
      );
      expect(await reader.stdout.readText()).toBe("deep\n");
      expect(await reader.wait()).toBe(0);
    });

    it("tunnels: Modal's shape for encrypted and unencrypted ports", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { encryptedPorts: [8443], unencryptedPorts: [8080] }));
      const tunnels = await sb.tunnels();
      expect(Object.keys(tunnels).sort()).toEqual(["8080", "8443"]);
      const encrypted = tunnels[8443]!;
      expect(encrypted.url).toMatch(/^https:\/\//);
      expect(encrypted.tlsSocket).toEqual([encrypted.host, encrypted.port]);
      const unencrypted = tunnels[8080]!;
      expect(typeof unencrypted.unencryptedHost).toBe("string");
      expect(typeof unencrypted.unencryptedPort).toBe("number");
      expect(unencrypted.tcpSocket).toEqual([unencrypted.unencryptedHost, unencrypted.unencryptedPort]);
      expect(() => encrypted.tcpSocket).toThrow(InvalidError);
    });

    it("env on create is visible to the entrypoint and to execs", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { env: { A: "1" } }));
      const p = await sb.exec(["printenv", "A"]);
      expect(await p.stdout.readText()).toBe("1\n");
      const q = await sb.exec(["printenv", "A"], { env: { A: "2" } });
      expect(await q.stdout.readText()).toBe("2\n");
    });
  });

  describe("third look", () => {
    it("the filesystem of a terminated sandbox answers NotFoundError (the sandbox is unavailable)", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.writeText("x", "/tmp/x.txt");
      await sb.terminate();
      await sb.wait();
      await expect(sb.filesystem.readText("/tmp/x.txt")).rejects.toThrow(NotFoundError);
    });

    it("stdin of a sandbox entrypoint and of an exec accept several writes before close", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sh", "-c", "wc -l"] }));
      for (let i = 0; i < 5; i++) await sb.stdin.writeText(`line ${i}\n`);
      await sb.stdin.close();
      expect((await sb.stdout.readText()).trim()).toBe("5");
      expect(await sb.wait()).toBe(0);
    });

    it("runs python on python:3.13-slim and reads a file it wrote through the filesystem API", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, emu.image("python:3.13-slim")));
      const p = await sb.exec(["python3", "-c", "import json; open('/tmp/o.json','w').write(json.dumps({'a': 1}))"]);
      expect(await p.wait()).toBe(0);
      expect(JSON.parse(await sb.filesystem.readText("/tmp/o.json"))).toEqual({ a: 1 });
    });

    it("reads large exec output completely in text mode", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"]);
      const out = await p.stdout.readText();
      expect(out.split("\n").filter(Boolean)).toHaveLength(20_000);
      expect(await p.wait()).toBe(0);
    });

    it("an exec sees files the filesystem API wrote, and the reverse", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { workdir: "/work" }));
      await sb.filesystem.writeText("abc", "/work/in.txt");
      const p = await sb.exec(["sh", "-c", "cat in.txt > out.txt && echo -n def >> out.txt"]);
      expect(await p.wait()).toBe(0);
      expect(await sb.filesystem.readText("/work/out.txt")).toBe("abcdef");
    });

    it("tunnels() of a sandbox that ended at its timeout raises SandboxTimeoutError", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { encryptedPorts: [8443], timeoutMs: 2_000 }));
      expect(await sb.wait()).toBe(124);
      const fresh = await emu.modal.sandboxes.fromId(sb.sandboxId);
      await expect(fresh.tunnels()).rejects.toThrow(SandboxTimeoutError);
      // One that was terminated is not a timeout.
      const other = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await other.terminate({ wait: true });
      expect(await (await emu.modal.sandboxes.fromId(other.sandboxId)).tunnels()).toEqual({});
    });

    it("a named sandbox in another app is not found by this app's name", async () => {
      const other = await emu.modal.apps.fromName(`other-app-${unique()}`, { createIfMissing: true });
      const name = `scoped-${unique()}`;
      emu.track(await emu.modal.sandboxes.create(other, alpine(), { name }));
      await expect(emu.modal.sandboxes.fromName("libmodal-test", name)).rejects.toThrow(NotFoundError);
      // The same name is free in this app.
      emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { name }));
    });
  });

  describe("filesystem edges", () => {
    it("empty files, unicode text and symlinks read as the files they are", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await sb.filesystem.writeText("", "/fs/empty.txt");
      expect(await sb.filesystem.readText("/fs/empty.txt")).toBe("");
      expect((await sb.filesystem.readBytes("/fs/empty.txt")).length).toBe(0);
      expect((await sb.filesystem.stat("/fs/empty.txt")).size).toBe(0);
      const text = "héllo wörld ✓ 日本語\n";
      await sb.filesystem.writeText(text, "/fs/unicode.txt");
      expect(await sb.filesystem.readText("/fs/unicode.txt")).toBe(text);
      expect((await sb.filesystem.stat("/fs/unicode.txt")).size).toBe(Buffer.byteLength(text));
      await sb.filesystem.makeDirectory("/fs/real/inner");
      await sb.filesystem.writeText("target", "/fs/real/file.txt");
      expect(await (await sb.exec(["sh", "-c", "ln -s /fs/real /fs/dirlink && ln -s /fs/real/file.txt /fs/filelink"])).wait()).toBe(0);
      expect(await sb.filesystem.readText("/fs/filelink")).toBe("target");
      expect((await sb.filesystem.listFiles("/fs/dirlink")).map((entry) => entry.name)).toEqual(["file.txt", "inner"]);
      const root = await sb.filesystem.listFiles("/");
      expect(root.find((entry) => entry.name === "etc")).toMatchObject({ path: "/etc", type: "directory" });
      expect((await sb.filesystem.stat("/")).type).toBe("directory");
    });

    it("a filesystem write into a read-only volume mount is SandboxFilesystemPermissionError", async () => {
      const volume = await emu.modal.volumes.fromName(`ro-fs-${unique()}`, { createIfMissing: true });
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { volumes: { "/ro": volume.withMountOptions({ readOnly: true }) } }));
      const error = await sb.filesystem.writeText("x", "/ro/file.txt").then(
        () => undefined,
        (caught: Error) => caught,
      );
      expect(error).toBeInstanceOf(SandboxFilesystemPermissionError);
    });

    it("relative paths are refused by the SDK with InvalidError", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      await expect(sb.filesystem.readText("relative.txt")).rejects.toThrow(InvalidError);
    });
  });

  describe("logs", () => {
    it("logs of a sandbox that has finished stay readable from the handle that created it", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["echo", "finished-logs"] }));
      expect(await sb.wait()).toBe(0);
      const messages: string[] = [];
      for await (const entry of sb.logs.tail()) messages.push(entry.message);
      expect(messages.join("")).toBe("finished-logs\n");
    });

    it("logs.tail() and logs.fetch() give the entrypoint's output with source and time, filtered by source", async () => {
      const started = new Date(Date.now() - 1_000);
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["sh", "-c", "echo hello-logs; echo oops-logs >&2; sleep 60"] }));
      const collect = async (entries: AsyncIterable<{ message: string; source: string; timestamp: Date }>) => {
        const all = [];
        for await (const entry of entries) all.push(entry);
        return all;
      };
      await expect.poll(async () => (await collect(sb.logs.tail())).map((entry) => entry.message).join(""), { timeout: 10_000 }).toContain("oops-logs");
      const tail = await collect(sb.logs.tail());
      expect(tail.find((entry) => entry.message.includes("hello-logs"))).toMatchObject({ source: "stdout" });
      expect(tail.find((entry) => entry.message.includes("oops-logs"))).toMatchObject({ source: "stderr" });
      for (const entry of tail) expect(entry.timestamp.getTime()).toBeGreaterThanOrEqual(started.getTime());
      expect((await collect(sb.logs.tail({ source: "stderr" }))).map((entry) => entry.message)).toEqual(["oops-logs\n"]);
      expect((await collect(sb.logs.tail({ entries: 1 }))).map((entry) => entry.message)).toEqual([tail.at(-1)?.message]);
      const fetched = await collect(sb.logs.fetch({ since: started }));
      expect(fetched.map((entry) => entry.message).join("")).toBe(tail.map((entry) => entry.message).join(""));
      expect(await collect(sb.logs.fetch({ since: started, searchText: "hello" }))).toHaveLength(1);
      expect(await collect(sb.logs.fetch({ since: new Date(Date.now() + 60_000), until: new Date(Date.now() + 120_000) }))).toEqual([]);
      // Another sandbox's output is not this one's.
      const other = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      expect(await collect(other.logs.tail())).toEqual([]);
    });
  });

  describe("endings", () => {
    it("an exec still running when its sandbox is terminated settles (killed), it does not hang", async () => {
      const sb = emu.track(await emu.modal.sandboxes.create(emu.app, alpine()));
      const p = await sb.exec(["sleep", "120"]);
      await sb.terminate();
      const outcome = await Promise.race([
        p.wait().then(
          (code) => `exit ${code}`,
          (error: Error) => `error ${error.message}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve("hung"), 20_000)),
      ]);
      expect(outcome).not.toBe("hung");
      expect(outcome).not.toBe("exit 0");
    });

    it("an entrypoint that cannot start, or fails at once, ends the sandbox with a non-zero code", async () => {
      const missing = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["definitely-not-a-binary"] }));
      expect(await missing.wait()).not.toBe(0);
      const failing = emu.track(await emu.modal.sandboxes.create(emu.app, alpine(), { command: ["false"] }));
      expect(await failing.wait()).toBe(1);
    });
  });
});
