import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  AlreadyExistsError,
  ConflictError,
  type Image,
  InvalidError,
  NotFoundError,
  type Sandbox,
  SandboxFilesystemDirectoryNotEmptyError,
  SandboxFilesystemIsADirectoryError,
  SandboxFilesystemNotADirectoryError,
  SandboxFilesystemNotFoundError,
  SandboxFilesystemPathAlreadyExistsError,
  SandboxFilesystemPermissionError,
} from "modal";
import { ChannelCredentials, createChannel, createClient, Metadata } from "nice-grpc";
import { beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, run, useModalEmulator } from "../test/support/emulator-harness.js";
import { INSTANCE_LABEL, startModalEmulator } from "./index.js";
import { loadModalSdkDefinitions } from "./modal-sdk-definitions.js";

/*
 * Drives the REAL modal@0.11.1 SDK, over real gRPC, against the emulator and
 * real containers. Nothing here is mocked: if a test passes, the SDK really
 * did that against the emulator.
 */

/** A generous per-test budget: container starts on a busy 2-core machine take seconds. */
const TEST_TIMEOUT_MS = 60_000;

// Timeouts are set here, not only in vitest.config.ts, so the file behaves the
// same when run from the repository root.
describe.runIf(engineReachable)(
  "modal@0.11.1 SDK against modal-emulator (needs a reachable Docker engine and the offline images)",
  { timeout: TEST_TIMEOUT_MS },
  () => {
    const emu = useModalEmulator({
      appName: "emulator-integration",
      emulator: { secrets: { "emulator-test-secret": { SECRET_GREETING: "hello from a named secret", SHARED: "from-secret" } } },
    });
    let alpine: Image;
    let sandbox: Sandbox;

    beforeAll(async () => {
      alpine = emu.modal.images.fromRegistry("alpine:3.21");
      sandbox = emu.track(
        await emu.modal.sandboxes.create(emu.app, alpine, {
          workdir: "/work",
          env: { SANDBOX_LEVEL: "sandbox-env" },
          tags: { suite: "integration", role: "main" },
        }),
      );
    }, 120_000);

    describe("auth and protocol", () => {
      it("refuses a wrong token secret with UNAUTHENTICATED", async () => {
        const intruder = emu.client({}, { tokenSecret: "wrong" });
        await expect(intruder.apps.fromName("emulator-integration")).rejects.toMatchObject({ code: 16 });
      });

      it("answers an RPC it does not implement with UNIMPLEMENTED naming the method", async () => {
        await expect(emu.modal.cpClient.queueGetOrCreate({ deploymentName: "q" })).rejects.toMatchObject({
          code: 12,
          details: expect.stringContaining("modal.client.ModalClient/QueueGetOrCreate"),
        });
      });
    });

    describe("bin", () => {
      it("prints the URL and environment, serves the SDK, and cleans up on SIGTERM", async () => {
        const directory = await mkdtemp(path.join(tmpdir(), "modal-emulator-bin-"));
        const secretsFile = path.join(directory, "secrets.json");
        await writeFile(secretsFile, JSON.stringify({ "bin-secret": { FROM_FILE: "yes" } }));
        const binPath = fileURLToPath(new URL("./bin.ts", import.meta.url));
        const child = spawn(
          process.execPath,
          ["--import", "tsx", binPath, "--port", "0", "--token-id", "ak-bin", "--token-secret", "as-bin", "--secrets-file", secretsFile],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        try {
          let stdout = "";
          const printed = await new Promise<string>((resolve, reject) => {
            child.stdout.on("data", (chunk: Buffer) => {
              stdout += chunk.toString();
              if (stdout.includes("MODAL_TOKEN_SECRET=")) resolve(stdout);
            });
            child.on("exit", (code) => reject(new Error(`bin exited with ${code} before printing its URL`)));
          });
          const url = /export MODAL_SERVER_URL=(\S+)/.exec(printed)?.[1];
          expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
          expect(printed).toContain("export MODAL_TOKEN_ID=ak-bin");
          expect(printed, "the bin must not echo a secret the caller passed").not.toContain("as-bin");
          const binClient = emu.client({ MODAL_SERVER_URL: url }, { tokenId: "ak-bin", tokenSecret: "as-bin" });
          const binApp = await binClient.apps.fromName("from-bin", { createIfMissing: true });
          expect(binApp.appId).toMatch(/^ap-/);
          expect((await binClient.secrets.fromName("bin-secret")).secretId).toMatch(/^st-/);
          const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
          child.kill("SIGTERM");
          expect(await exited).toBe(0);
        } finally {
          child.kill("SIGKILL");
          await rm(directory, { recursive: true, force: true });
        }
      });
    });

    describe("leaks", () => {
      it("removes, at start-up, containers left by an emulator whose process is gone", async () => {
        const orphan = await engine.createContainer({
          image: "sandbox-busybox:latest",
          labels: {
            ...emu.emulator.labels,
            [INSTANCE_LABEL]: "crashed-emulator",
            // A pid no live process has: the owner is provably gone.
            "dev.sandbox.owner.pid": String(2 ** 22 + 7),
          },
          lifetimeMs: 60_000,
        });
        const second = await startModalEmulator({ tokenId: emu.tokenId, tokenSecret: emu.tokenSecret });
        try {
          await expect.poll(() => orphan.isRunning(), { timeout: 10_000 }).toBe(false);
          // Containers of live emulators (this suite's) are left alone.
          expect(await engine.container(emu.emulator.inspect.sandboxes()[0]!.containerId).isRunning()).toBe(true);
        } finally {
          await second.stop();
          await orphan.remove();
        }
      });
    });

    describe("command router protocol, as the SDK relies on it", () => {
      // The SDK retries TaskExecStart with the same exec id and reopens stdio at
      // an offset; neither is easy to provoke through its public API, so these
      // speak the router protocol directly with the SDK's own definitions.
      async function routerFor(target: Sandbox, jwtOverride?: string) {
        const access = await emu.modal.cpClient.sandboxGetCommandRouterAccess({ sandboxId: target.sandboxId });
        expect(access.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const taskId = (await emu.modal.cpClient.sandboxGetTaskIdV2({ sandboxId: target.sandboxId })).taskId!;
        const channel = createChannel(access.url.replace("https://", ""), ChannelCredentials.createInsecure());
        const router = createClient(loadModalSdkDefinitions().commandRouter as never, channel, {
          "*": { metadata: Metadata({ authorization: `Bearer ${jwtOverride ?? access.jwt}` }) },
        }) as unknown as Record<string, (request: object) => Promise<Record<string, unknown>> & AsyncIterable<{ data: Uint8Array }>>;
        return { router, taskId, close: () => channel.close() };
      }

      it("runs a repeated TaskExecStart once and replays stdio from any offset after exit", async () => {
        const { router, taskId, close } = await routerFor(sandbox);
        try {
          const start = {
            taskId,
            execId: "repeated-exec-id",
            commandArgs: ["sh", "-c", "echo once >> /tmp/idempotent.txt; printf 0123456789"],
            stdoutConfig: 1,
            stderrConfig: 1,
          };
          await router.taskExecStart!(start);
          await router.taskExecStart!(start);
          expect(await router.taskExecWait!({ taskId, execId: "repeated-exec-id" })).toMatchObject({ code: 0 });
          await router.taskExecStart!(start);
          const chunks: Buffer[] = [];
          for await (const message of router.taskExecStdioRead!({ taskId, execId: "repeated-exec-id", offset: 4, fileDescriptor: 0 })) {
            chunks.push(Buffer.from(message.data));
          }
          expect(Buffer.concat(chunks).toString()).toBe("456789");
          expect((await run(sandbox, ["cat", "/tmp/idempotent.txt"])).stdout).toBe("once\n");
        } finally {
          close();
        }
      });

      it("refuses router calls without a valid token for the task", async () => {
        const { router, taskId, close } = await routerFor(sandbox, "not-a-jwt");
        try {
          await expect(router.taskExecPoll!({ taskId, execId: "x" })).rejects.toMatchObject({ code: 16 });
        } finally {
          close();
        }
      });
    });

    describe("apps and images", () => {
      it("finds an app by name and refuses a missing one", async () => {
        const again = await emu.modal.apps.fromName("emulator-integration");
        expect(again.appId).toBe(emu.app.appId);
        expect(emu.app.appId).toMatch(/^ap-[0-9A-Za-z]{22}$/);
        await expect(emu.modal.apps.fromName("no-such-app-here")).rejects.toBeInstanceOf(NotFoundError);
      });

      it("builds an image from a tag with extra layers, locally", async () => {
        const layered = emu.modal.images
          .fromRegistry("alpine:3.21")
          .dockerfileCommands(["RUN echo first > /layer.txt", "ENV LAYER_ENV=from-layer"])
          .dockerfileCommands(["RUN echo second >> /layer.txt"]);
        await layered.build(emu.app);
        expect(layered.imageId).toMatch(/^im-/);
        const sb = await emu.modal.sandboxes.create(emu.app, layered);
        emu.track(sb);
        const result = await run(sb, ["sh", "-c", "cat /layer.txt; echo $LAYER_ENV"]);
        expect(result.stdout).toBe("first\nsecond\nfrom-layer\n");
        const byId = await emu.modal.images.fromId(layered.imageId);
        expect(byId.imageId).toBe(layered.imageId);
        await sb.terminate();
      });

      it("fails an image build whose base is not a local image, saying what to do", async () => {
        const missing = emu.modal.images.fromRegistry("no-such-registry.example/nothing:1.0");
        await expect(missing.build(emu.app)).rejects.toThrow(/imageAliases/);
      });
    });

    describe("V2 and V1 sandboxes", () => {
      it("creates V2 sandboxes by default with a V2-shaped id", () => {
        expect(sandbox.sandboxId).not.toMatch(/^sb-[0-9A-Za-z]{22}$/);
        expect(emu.emulator.inspect.sandboxCreates().find((create) => create.sandboxId === sandbox.sandboxId)?.family).toBe("v2");
      });

      it("creates, execs, waits and lists V1 sandboxes when MODAL_SANDBOX_V2=0", async () => {
        const v1Client = emu.client({ MODAL_SANDBOX_V2: "0" });
        const named = await v1Client.secrets.fromName("emulator-test-secret");
        // V1 carries env as an ephemeral secret (SecretGetOrCreate), not inline.
        const sb = await v1Client.sandboxes.create(emu.app, alpine, { tags: { family: "v1" }, env: { V1_ENV: "v1-env" }, secrets: [named] });
        emu.track(sb);
        expect(sb.sandboxId).toMatch(/^sb-[0-9A-Za-z]{22}$/);
        const result = await run(sb, ["sh", "-c", 'echo "v1 exec $V1_ENV $SHARED"']);
        expect(result).toEqual({ stdout: "v1 exec v1-env from-secret\n", stderr: "", exitCode: 0 });
        const listed: string[] = [];
        for await (const item of v1Client.sandboxes.list({ appId: emu.app.appId })) listed.push(item.sandboxId);
        expect(listed).toContain(sb.sandboxId);
        expect(listed, "V1 list does not return V2 sandboxes").not.toContain(sandbox.sandboxId);
        expect(await sb.getTags()).toEqual({ family: "v1" });
        await sb.terminate();
        expect(await sb.wait()).toBe(137);
      });

      it("streams a V1 entrypoint's output and exit code", async () => {
        const v1Client = emu.client({ MODAL_SANDBOX_V2: "0" });
        const sb = await v1Client.sandboxes.create(emu.app, alpine, { command: ["sh", "-c", "echo from-entrypoint; exit 7"] });
        emu.track(sb);
        expect(await sb.stdout.readText()).toBe("from-entrypoint\n");
        expect(await sb.wait()).toBe(7);
      });

      it("streams a V2 entrypoint's output and feeds its stdin", async () => {
        const sb = await emu.modal.sandboxes.create(emu.app, alpine, { command: ["sh", "-c", "read line; echo got:$line; exit 0"] });
        emu.track(sb);
        await sb.stdin.writeText("ping\n");
        await sb.stdin.close();
        expect(await sb.stdout.readText()).toBe("got:ping\n");
        expect(await sb.wait()).toBe(0);
      });

      it("records a GPU request and refuses it, since the host has none", async () => {
        await expect(emu.modal.sandboxes.create(emu.app, alpine, { gpu: "A100:2" })).rejects.toThrow(/no GPU/);
        const refused = emu.emulator.inspect.sandboxCreates().at(-1)!;
        expect(refused.family).toBe("v1");
        expect(refused.request.definition?.resources?.gpuConfig).toMatchObject({ gpuType: "A100", count: 2 });
        expect(refused.refusedReason).toMatch(/no GPU/);
      });
    });

    describe("exec", () => {
      it("returns stdout, stderr and exit codes", async () => {
        expect(await run(sandbox, ["sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual({ stdout: "out\n", stderr: "err\n", exitCode: 3 });
        expect((await run(sandbox, ["true"])).exitCode).toBe(0);
        expect((await run(sandbox, ["sh", "-c", "exit 42"])).exitCode).toBe(42);
      });

      it("feeds stdin and sees EOF when it is closed", async () => {
        const process = await sandbox.exec(["sh", "-c", "cat; echo done"]);
        await process.stdin.writeText("line one\n");
        await process.stdin.writeText("line two\n");
        await process.stdin.close();
        expect(await process.stdout.readText()).toBe("line one\nline two\ndone\n");
        expect(await process.wait()).toBe(0);
      });

      it("passes env, workdir, sandbox env and secrets", async () => {
        const named = await emu.modal.secrets.fromName("emulator-test-secret", { requiredKeys: ["SECRET_GREETING"] });
        const inline = await emu.modal.secrets.fromObject({ INLINE_SECRET: "inline-value", SHARED: "from-object" });
        const result = await run(sandbox, ["sh", "-c", 'echo "$EXEC_VAR|$SANDBOX_LEVEL|$SECRET_GREETING|$INLINE_SECRET|$SHARED|$(pwd)"'], {
          env: { EXEC_VAR: "exec-env" },
          secrets: [named, inline],
          workdir: "/tmp",
        });
        expect(result.stdout).toBe("exec-env|sandbox-env|hello from a named secret|inline-value|from-object|/tmp\n");
        expect((await run(sandbox, ["pwd"])).stdout).toBe("/work\n");
        await expect(emu.modal.secrets.fromName("no-such-secret")).rejects.toBeInstanceOf(NotFoundError);
        await expect(emu.modal.secrets.fromName("emulator-test-secret", { requiredKeys: ["MISSING_KEY"] })).rejects.toBeInstanceOf(NotFoundError);
      });

      it("gives sandbox secrets by name and from objects to the container", async () => {
        const named = await emu.modal.secrets.fromName("emulator-test-secret");
        const inline = await emu.modal.secrets.fromObject({ CREATE_INLINE: "yes" });
        const sb = await emu.modal.sandboxes.create(emu.app, alpine, { secrets: [named, inline] });
        emu.track(sb);
        expect((await run(sb, ["sh", "-c", 'echo "$SECRET_GREETING/$CREATE_INLINE"'])).stdout).toBe("hello from a named secret/yes\n");
        await sb.terminate();
      });

      it("kills a timed-out exec inside the sandbox, not just the client", async () => {
        const process = await sandbox.exec(["sh", "-c", "sleep 123 & sleep 124; echo never"], { timeoutMs: 1000 });
        const started = Date.now();
        expect(await process.wait()).toBe(137);
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(await process.stdout.readText()).toBe("");
        const ps = await run(sandbox, ["ps", "-o", "args"]);
        expect(ps.stdout).not.toMatch(/sleep 12[34]/);
      });

      it("returns binary output unchanged", async () => {
        const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
        await sandbox.filesystem.writeBytes(bytes, "/tmp/all-bytes.bin");
        const process = await sandbox.exec(["cat", "/tmp/all-bytes.bin"], { mode: "binary" });
        const [stdout] = await Promise.all([process.stdout.readBytes(), process.stderr.readBytes()]);
        expect(await process.wait()).toBe(0);
        expect(Buffer.from(stdout).equals(Buffer.from(bytes))).toBe(true);
      });

      it("runs 20 execs in parallel on one sandbox", async () => {
        const results = await Promise.all(Array.from({ length: 20 }, (_, index) => run(sandbox, ["sh", "-c", `echo exec-${index}; exit ${index % 5}`])));
        results.forEach((result, index) => {
          expect(result.stdout).toBe(`exec-${index}\n`);
          expect(result.exitCode).toBe(index % 5);
        });
      });

      it("answers an argv that cannot start with a non-zero exit and a message", async () => {
        const result = await run(sandbox, ["/no/such/binary"]);
        expect(result.exitCode).not.toBe(0);
        expect(`${result.stdout}${result.stderr}`).toMatch(/\/no\/such\/binary/);
      });
    });

    describe("sandbox.filesystem", () => {
      it("writes, reads, lists and stats files with parents created", async () => {
        await sandbox.filesystem.writeText("hello files", "/data/deep/nested/hello.txt");
        expect(await sandbox.filesystem.readText("/data/deep/nested/hello.txt")).toBe("hello files");
        const entries = await sandbox.filesystem.listFiles("/data/deep/nested");
        expect(entries).toEqual([expect.objectContaining({ name: "hello.txt", path: "/data/deep/nested/hello.txt", type: "file", size: 11, owner: "root" })]);
        const info = await sandbox.filesystem.stat("/data/deep");
        expect(info).toMatchObject({ name: "deep", type: "directory", symlinkTarget: null });
        expect(info.modifiedTime).toBeGreaterThan(1_600_000_000);
        await run(sandbox, ["ln", "-s", "/data/deep/nested/hello.txt", "/data/link"]);
        expect(await sandbox.filesystem.stat("/data/link")).toMatchObject({ type: "symlink", symlinkTarget: "/data/deep/nested/hello.txt" });
        expect(await sandbox.filesystem.readText("/data/link")).toBe("hello files");
        // What the filesystem API wrote, a process in the sandbox sees.
        expect((await run(sandbox, ["cat", "/data/deep/nested/hello.txt"])).stdout).toBe("hello files");
      });

      it("makes directories and removes paths, with typed errors", async () => {
        await sandbox.filesystem.makeDirectory("/made/a/b");
        await sandbox.filesystem.makeDirectory("/made/a/b");
        await expect(sandbox.filesystem.makeDirectory("/made/a/b", { createParents: false })).rejects.toBeInstanceOf(SandboxFilesystemPathAlreadyExistsError);
        await expect(sandbox.filesystem.makeDirectory("/made/x/y", { createParents: false })).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
        await sandbox.filesystem.writeText("x", "/made/a/b/file.txt");
        await expect(sandbox.filesystem.remove("/made/a")).rejects.toBeInstanceOf(SandboxFilesystemDirectoryNotEmptyError);
        await sandbox.filesystem.remove("/made/a/b/file.txt");
        await sandbox.filesystem.remove("/made/a/b");
        await sandbox.filesystem.writeText("y", "/made/a/again.txt");
        await sandbox.filesystem.remove("/made", { recursive: true });
        await expect(sandbox.filesystem.stat("/made")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
        await expect(sandbox.filesystem.remove("/made")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
      });

      it("raises the SDK's typed errors for missing paths, directories and files in the way", async () => {
        await expect(sandbox.filesystem.readText("/no/such/file")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
        await expect(sandbox.filesystem.readText("/etc")).rejects.toBeInstanceOf(SandboxFilesystemIsADirectoryError);
        await expect(sandbox.filesystem.writeText("x", "/etc")).rejects.toBeInstanceOf(SandboxFilesystemIsADirectoryError);
        await expect(sandbox.filesystem.writeText("x", "/etc/passwd/child")).rejects.toBeInstanceOf(SandboxFilesystemNotADirectoryError);
        await expect(sandbox.filesystem.listFiles("/etc/passwd")).rejects.toBeInstanceOf(SandboxFilesystemNotADirectoryError);
        await expect(sandbox.filesystem.listFiles("/no/such/dir")).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
        await expect(sandbox.filesystem.readText("relative/path")).rejects.toBeInstanceOf(InvalidError);
        // Kernel mounts are not in the image layers the archive API sees: these go through the sandbox's kernel.
        await expect(sandbox.filesystem.writeText("x", "/sys/emulator-denied.txt")).rejects.toBeInstanceOf(SandboxFilesystemPermissionError);
        expect(await sandbox.filesystem.readText("/proc/1/cmdline")).toContain("sleep");
        await sandbox.filesystem.writeText("127.0.0.1 emulator-alias\n", "/etc/hosts");
        expect((await run(sandbox, ["cat", "/etc/hosts"])).stdout).toBe("127.0.0.1 emulator-alias\n");
        await sandbox.filesystem.writeText("in tmpfs", "/dev/shm/emulator.txt");
        expect((await run(sandbox, ["cat", "/dev/shm/emulator.txt"])).stdout).toBe("in tmpfs");
      });

      it("copies files to and from the local disk", async () => {
        const directory = await mkdtemp(path.join(tmpdir(), "modal-emulator-"));
        try {
          await writeFile(path.join(directory, "up.txt"), "uploaded from the host");
          await sandbox.filesystem.copyFromLocal(path.join(directory, "up.txt"), "/copies/up.txt");
          await sandbox.filesystem.copyToLocal("/copies/up.txt", path.join(directory, "down", "down.txt"));
          expect(await readFile(path.join(directory, "down", "down.txt"), "utf8")).toBe("uploaded from the host");
        } finally {
          await rm(directory, { recursive: true, force: true });
        }
      });

      it("round-trips 100 MiB of binary data", async () => {
        const payload = randomBytes(100 * 1024 * 1024);
        const digest = createHash("sha256").update(payload).digest("hex");
        await sandbox.filesystem.writeBytes(payload, "/big/payload.bin");
        const inside = await run(sandbox, ["sha256sum", "/big/payload.bin"]);
        expect(inside.stdout.split(" ")[0]).toBe(digest);
        const back = await sandbox.filesystem.readBytes("/big/payload.bin");
        expect(back.length).toBe(payload.length);
        expect(createHash("sha256").update(back).digest("hex")).toBe(digest);
        await sandbox.filesystem.remove("/big", { recursive: true });
      }, 120_000);
    });

    describe("lookups, tags and listing", () => {
      it("reattaches by id and by name, and refuses unknown names", async () => {
        const named = await emu.modal.sandboxes.create(emu.app, alpine, { name: "emulator-named" });
        emu.track(named);
        await named.filesystem.writeText("persisted", "/state.txt");
        const other = emu.client({});
        const byId = await other.sandboxes.fromId(named.sandboxId);
        emu.track(byId);
        expect(await byId.filesystem.readText("/state.txt")).toBe("persisted");
        const byName = await other.sandboxes.fromName("emulator-integration", "emulator-named");
        emu.track(byName);
        expect(byName.sandboxId).toBe(named.sandboxId);
        await expect(other.sandboxes.fromName("emulator-integration", "nobody-by-this-name")).rejects.toBeInstanceOf(NotFoundError);
        await expect(emu.modal.sandboxes.create(emu.app, alpine, { name: "emulator-named" })).rejects.toBeInstanceOf(AlreadyExistsError);
        await named.terminate();
        // A fresh handle learns that the sandbox has finished instead of exec'ing into it.
        const stale = await other.sandboxes.fromId(named.sandboxId);
        emu.track(stale);
        await expect(stale.exec(["true"])).rejects.toBeInstanceOf(ConflictError);
        // The name is free again once the holder has finished.
        const reused = await emu.modal.sandboxes.create(emu.app, alpine, { name: "emulator-named" });
        emu.track(reused);
        // A V2 sandbox created without a name can take one later, once.
        const unnamed = await emu.modal.sandboxes.create(emu.app, alpine);
        emu.track(unnamed);
        await expect(unnamed.experimentalSetName("emulator-named")).rejects.toBeInstanceOf(AlreadyExistsError);
        await unnamed.experimentalSetName("emulator-renamed");
        await expect(unnamed.experimentalSetName("emulator-other")).rejects.toBeInstanceOf(ConflictError);
        expect((await other.sandboxes.fromName("emulator-integration", "emulator-renamed")).sandboxId).toBe(unnamed.sandboxId);
        await reused.terminate();
        await unnamed.terminate();
      });

      it("sets and gets tags, and lists by tag", async () => {
        expect(await sandbox.getTags()).toEqual({ suite: "integration", role: "main" });
        await sandbox.setTags({ suite: "integration", role: "main", extra: "1" });
        expect(await sandbox.getTags()).toEqual({ suite: "integration", role: "main", extra: "1" });
        const listed: string[] = [];
        for await (const item of emu.modal.sandboxes.list({ appId: emu.app.appId, tags: { extra: "1" } })) listed.push(item.sandboxId);
        expect(listed).toEqual([sandbox.sandboxId]);
        const all: string[] = [];
        for await (const item of emu.modal.sandboxes.list({ appId: emu.app.appId })) all.push(item.sandboxId);
        expect(all).toContain(sandbox.sandboxId);
      });
    });

    describe("volumes", () => {
      it("shares a named volume between two sandboxes and deletes it", async () => {
        const volume = await emu.modal.volumes.fromName("emulator-shared", { createIfMissing: true });
        await expect(emu.modal.volumes.fromName("emulator-missing-volume")).rejects.toBeInstanceOf(NotFoundError);
        const writer = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/mnt/shared": volume } });
        const reader = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/data": volume.withMountOptions({ readOnly: true }) } });
        emu.track(writer);
        emu.track(reader);
        await run(writer, ["sh", "-c", "echo across > /mnt/shared/note.txt"]);
        // As on Modal: visible to another sandbox once committed (`sync`) and reloaded.
        expect((await run(writer, ["sync", "/mnt/shared"])).exitCode).toBe(0);
        await reader.reloadVolumes();
        expect((await run(reader, ["cat", "/data/note.txt"])).stdout).toBe("across\n");
        expect((await run(reader, ["sh", "-c", "echo no > /data/other.txt"])).exitCode).not.toBe(0);
        await expect(reader.filesystem.writeText("no", "/data/other.txt")).rejects.toBeInstanceOf(SandboxFilesystemPermissionError);
        expect(await reader.filesystem.readText("/data/note.txt")).toBe("across\n");
        await writer.terminate();
        await reader.terminate();
        await emu.modal.volumes.delete("emulator-shared");
        await expect(emu.modal.volumes.fromName("emulator-shared")).rejects.toBeInstanceOf(NotFoundError);
        const ephemeral = await emu.modal.volumes.ephemeral();
        expect(ephemeral.volumeId).toMatch(/^vo-/);
        ephemeral.closeEphemeral();
      });
    });

    describe("lifecycle", () => {
      it("polls, terminates and waits with the SDK's exit codes, and refuses execs afterwards", async () => {
        const sb = await emu.modal.sandboxes.create(emu.app, alpine);
        emu.track(sb);
        expect(await sb.poll()).toBeNull();
        await sb.terminate();
        expect(await sb.wait()).toBe(137);
        expect(await sb.poll()).toBe(137);
        await expect(sb.exec(["true"])).rejects.toThrow(/finished/);
        await expect(sb.filesystem.readText("/etc/hostname")).rejects.toBeInstanceOf(NotFoundError);
      });

      it("ends an idle sandbox at its idle timeout", async () => {
        const sb = await emu.modal.sandboxes.create(emu.app, alpine, { idleTimeoutMs: 2000 });
        emu.track(sb);
        // A running exec keeps it alive past the idle timeout.
        expect((await run(sb, ["sleep", "3"])).exitCode).toBe(0);
        expect(await sb.poll()).toBeNull();
        expect(await sb.wait()).toBe(124);
      });

      it("snapshots a sandbox's filesystem into an image that starts new sandboxes", async () => {
        const sb = await emu.modal.sandboxes.create(emu.app, alpine);
        emu.track(sb);
        await sb.filesystem.writeText("kept in the snapshot", "/snapshot/marker.txt");
        const snapshot = await sb.snapshotFilesystem();
        expect(snapshot.imageId).toMatch(/^im-/);
        await sb.terminate();
        const restored = await emu.modal.sandboxes.create(emu.app, snapshot);
        emu.track(restored);
        expect(await restored.filesystem.readText("/snapshot/marker.txt")).toBe("kept in the snapshot");
        await restored.terminate();
      });

      it("ends a sandbox at its lifetime with exit code 124 and removes its container", async () => {
        const sb = await emu.modal.sandboxes.create(emu.app, alpine, { timeoutMs: 2000 });
        emu.track(sb);
        const containerId = emu.emulator.inspect.sandboxes().find((summary) => summary.sandboxId === sb.sandboxId)!.containerId;
        expect(await sb.wait()).toBe(124);
        await expect.poll(() => engine.container(containerId).isRunning(), { timeout: 10_000 }).toBe(false);
      });
    });
  },
);
