import { createHash, createPublicKey, verify } from "node:crypto";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { type Image, NotFoundError, Probe, type Sandbox, SandboxFilesystemFileTooLargeError, SandboxFilesystemNotFoundError, TimeoutError } from "modal";
import { Status } from "nice-grpc";
import { beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, run, useModalEmulator } from "../test/support/emulator-harness.js";
import { MAX_PROCESS_READ_BYTES } from "./index.js";

/*
 * Where the emulator must answer as Modal does (issue 11): each test drives
 * the REAL modal@0.11.1 SDK against the emulator and real containers, and
 * asserts the values and error classes Modal gives.
 */

const TEST_TIMEOUT_MS = 90_000;

describe.runIf(engineReachable)("modal-emulator answers as Modal does (modal@0.11.1 SDK, Docker engine)", { timeout: TEST_TIMEOUT_MS }, () => {
  const emu = useModalEmulator({ appName: "emulator-fidelity" });
  let alpine: Image;
  let sandbox: Sandbox;

  beforeAll(async () => {
    alpine = emu.modal.images.fromRegistry("alpine:3.21");
    sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, alpine));
  }, 120_000);

  describe("filesystem values", () => {
    it("reports permissions as Modal does: 4 octal digits", async () => {
      await sandbox.filesystem.writeText("x", "/perm/file.txt");
      await run(sandbox, ["sh", "-c", "chmod 0600 /perm/file.txt && mkdir -p /perm/dir && chmod 4755 /perm/dir && touch /perm/x && chmod 755 /perm/x"]);
      expect((await sandbox.filesystem.stat("/perm/file.txt")).permissions).toBe("0600");
      expect((await sandbox.filesystem.stat("/perm")).permissions).toBe("0755");
      const listed = await sandbox.filesystem.listFiles("/perm");
      expect(listed.map((entry) => [entry.name, entry.permissions, entry.mode])).toEqual([
        ["dir", "4755", 0o044755],
        ["file.txt", "0600", 0o100600],
        ["x", "0755", 0o100755],
      ]);
    });
  });

  describe("read size limit", () => {
    it("refuses a 6 GiB sparse file with SandboxFilesystemFileTooLargeError, without streaming it", async () => {
      expect((await run(sandbox, ["truncate", "-s", "6G", "/sparse.bin"])).exitCode).toBe(0);
      const started = Date.now();
      await expect(sandbox.filesystem.readBytes("/sparse.bin")).rejects.toBeInstanceOf(SandboxFilesystemFileTooLargeError);
      await expect(sandbox.filesystem.readText("/sparse.bin")).rejects.toBeInstanceOf(SandboxFilesystemFileTooLargeError);
      await expect(sandbox.filesystem.copyToLocal("/sparse.bin", "/tmp/never-written.bin")).rejects.toBeInstanceOf(SandboxFilesystemFileTooLargeError);
      expect(Date.now() - started).toBeLessThan(20_000);
    });

    it("kills the reader of an endless device past the process-read limit", async () => {
      await expect(sandbox.filesystem.readBytes("/dev/zero")).rejects.toThrow(SandboxFilesystemFileTooLargeError);
      await expect(sandbox.filesystem.readBytes("/dev/zero")).rejects.toThrow(String(MAX_PROCESS_READ_BYTES));
      await expect.poll(async () => (await run(sandbox, ["sh", "-c", "ps -o args | grep '^cat /dev/zero' || true"])).stdout, { timeout: 10_000 }).toBe("");
    });

    it("streams a file larger than its read-ahead to the client intact", async () => {
      expect((await run(sandbox, ["sh", "-c", "dd if=/dev/urandom of=/big.bin bs=1M count=80 2>/dev/null"])).exitCode).toBe(0);
      const digest = (await run(sandbox, ["sha256sum", "/big.bin"])).stdout.split(" ")[0];
      const bytes = await sandbox.filesystem.readBytes("/big.bin");
      expect(bytes.length).toBe(80 * 1024 * 1024);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(digest);
    });
  });

  describe("create options", () => {
    it("refuses an unknown cloud or region with INVALID_ARGUMENT, as Modal does, and accepts Modal's values", async () => {
      const refusal = (error: unknown): { name: string; code: number | undefined; message: string } => ({
        name: (error as Error).constructor.name,
        code: (error as { code?: number }).code,
        message: String((error as Error).message),
      });
      const cloud = await emu.modal.sandboxes.create(emu.app, alpine, { cloud: "invalid-cloud" }).then(() => refusal(new Error("created")), refusal);
      expect(cloud).toMatchObject({ message: expect.stringMatching(/invalid-cloud.*aws, gcp, oci, auto/) });
      // The SDK passes a create's INVALID_ARGUMENT through as nice-grpc's ClientError.
      expect(cloud.code).toBe(Status.INVALID_ARGUMENT);
      const region = await emu.modal.sandboxes
        .create(emu.app, alpine, { regions: ["us-east-1", "invalid-region"] })
        .then(() => refusal(new Error("created")), refusal);
      expect(region).toMatchObject({ message: expect.stringContaining("'invalid-region'") });
      expect(region.code).toBe(Status.INVALID_ARGUMENT);
      const placed = await emu.modal.sandboxes.create(emu.app, alpine, { cloud: "aws", regions: ["us-east-1", "eu"] });
      emu.track(placed);
      await placed.terminate();
    });

    it("treats cpu and memoryMiB as reservations and cpuLimit / memoryLimitMiB as hard limits, as Modal does", async () => {
      const hostConfig = async (sb: Sandbox) => {
        const summary = emu.emulator.inspect.sandboxes().find((entry) => entry.sandboxId === sb.sandboxId)!;
        return (await engine.container(summary.containerId).inspect()).HostConfig;
      };
      const requested = await emu.modal.sandboxes.create(emu.app, alpine, { cpu: 0.5, memoryMiB: 64 });
      emu.track(requested);
      expect(await hostConfig(requested)).toMatchObject({ CpuShares: 512, NanoCpus: 0, MemoryReservation: 64 * 1024 * 1024, Memory: 0 });
      const limited = await emu.modal.sandboxes.create(emu.app, alpine, { cpu: 0.25, cpuLimit: 1, memoryMiB: 64, memoryLimitMiB: 128 });
      emu.track(limited);
      expect(await hostConfig(limited)).toMatchObject({ CpuShares: 256, NanoCpus: 1e9, MemoryReservation: 64 * 1024 * 1024, Memory: 128 * 1024 * 1024 });
      await Promise.all([requested.terminate(), limited.terminate()]);
    });

    it("refuses Docker-in-sandbox by name", async () => {
      await expect(emu.modal.sandboxes.create(emu.app, alpine, { experimentalOptions: { enable_docker: true } })).rejects.toThrow(/enable_docker.*privileged/);
    });

    it("puts a locally signed RS256 identity token in MODAL_IDENTITY_TOKEN with Modal's claims", async () => {
      const sb = await emu.modal.sandboxes.create(emu.app, alpine, { includeOidcIdentityToken: true, timeoutMs: 120_000 });
      emu.track(sb);
      const token = (await run(sb, ["printenv", "MODAL_IDENTITY_TOKEN"])).stdout.trim();
      const [header, payload, signature] = token.split(".");
      expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toMatchObject({ alg: "RS256", typ: "JWT" });
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
      expect(claims).toMatchObject({
        iss: "https://oidc.modal.com",
        aud: "oidc.modal.com",
        sub: expect.stringContaining(`sandbox_id:${sb.sandboxId}`),
        sandbox_id: sb.sandboxId,
        app_id: emu.app.appId,
        app_name: "emulator-fidelity",
        workspace_id: expect.stringMatching(/^ac-/),
      });
      expect(claims.exp - claims.iat).toBe(120);
      const key = createPublicKey({ key: emu.emulator.oidcJwks.keys[0] as never, format: "jwk" });
      expect(verify("sha256", Buffer.from(`${header}.${payload}`), key, Buffer.from(signature!, "base64url"))).toBe(true);
      // Without the option there is no token.
      expect((await run(sandbox, ["sh", "-c", 'test -z "${MODAL_IDENTITY_TOKEN+set}"'])).exitCode).toBe(0);
      await sb.terminate();
    });

    it("runs a TCP readiness probe for real: waitUntilReady returns once the port listens", async () => {
      const sb = await emu.modal.sandboxes.create(emu.app, alpine, {
        command: ["sh", "-c", "sleep 2; nc -ll -p 8123 -e true"],
        readinessProbe: Probe.withTcp(8123, { intervalMs: 200 }),
      });
      emu.track(sb);
      const started = Date.now();
      await sb.waitUntilReady(30_000);
      expect(Date.now() - started).toBeGreaterThan(1000);
      expect((await run(sb, ["sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 | grep -c ':1FBB [0:]* 0A'"])).stdout.trim()).toBe("1");
      await sb.terminate();
    });

    it("runs an exec readiness probe, and raises TimeoutError when it never passes", async () => {
      const sb = await emu.modal.sandboxes.create(emu.app, alpine, { readinessProbe: Probe.withExec(["test", "-f", "/tmp/ready"], { intervalMs: 100 }) });
      emu.track(sb);
      await expect(sb.waitUntilReady(2000)).rejects.toBeInstanceOf(TimeoutError);
      await run(sb, ["touch", "/tmp/ready"]);
      await sb.waitUntilReady(10_000);
      await sb.terminate();
      // A sandbox without a probe cannot be waited on.
      await expect(sandbox.waitUntilReady(2000)).rejects.toThrow(/no readiness probe/);
    });
  });

  describe("volumes: commit and reload visibility", () => {
    it("hides a sandbox's writes from another until committed and reloaded, and commits when a sandbox ends", async () => {
      const volume = await emu.modal.volumes.fromName("fidelity-commit-reload", { createIfMissing: true });
      const writer = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/vol": volume } });
      const reader = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/vol": volume } });
      emu.track(writer);
      emu.track(reader);
      await run(writer, ["sh", "-c", "echo one > /vol/a.txt && mkdir -p /vol/dir && echo deep > /vol/dir/b.txt"]);
      // Not committed: the reader does not see it, even after a reload.
      expect((await run(reader, ["cat", "/vol/a.txt"])).exitCode).not.toBe(0);
      await reader.reloadVolumes();
      expect((await run(reader, ["cat", "/vol/a.txt"])).exitCode).not.toBe(0);
      // Committed but not reloaded: still not seen.
      expect((await run(writer, ["sync", "/vol"])).exitCode).toBe(0);
      expect((await run(reader, ["cat", "/vol/a.txt"])).exitCode).not.toBe(0);
      await reader.reloadVolumes();
      expect((await run(reader, ["cat", "/vol/a.txt", "/vol/dir/b.txt"])).stdout).toBe("one\ndeep\n");
      // The reader's commit of files it did not change never overwrites newer ones; its deletions propagate.
      await run(writer, ["sh", "-c", "echo two > /vol/a.txt && sync /vol"]);
      await run(reader, ["sh", "-c", "rm /vol/dir/b.txt && echo from-reader > /vol/c.txt"]);
      expect((await run(reader, ["sync"])).exitCode).toBe(0);
      // A sandbox's writes are committed when it ends.
      await run(writer, ["sh", "-c", "echo at-exit > /vol/d.txt"]);
      await writer.terminate();
      await writer.wait();
      const late = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/vol": volume } });
      emu.track(late);
      await expect.poll(async () => (await run(late, ["sh", "-c", "cat /vol/d.txt 2>/dev/null; true"])).stdout, { timeout: 15_000 }).toBe("at-exit\n");
      expect((await run(late, ["sh", "-c", "cat /vol/a.txt /vol/c.txt; ls /vol/dir"])).stdout).toBe("two\nfrom-reader\n");
      // A subPath mount sees only that directory of the volume.
      const sub = await emu.modal.sandboxes.create(emu.app, alpine, { volumes: { "/sub": volume.withMountOptions({ subPath: "dir2" }) } });
      emu.track(sub);
      await run(sub, ["sh", "-c", "echo in-sub > /sub/e.txt && sync /sub"]);
      await late.reloadVolumes();
      expect((await run(late, ["cat", "/vol/dir2/e.txt"])).stdout).toBe("in-sub\n");
      expect((await run(sub, ["ls", "/sub"])).stdout).toBe("e.txt\n");
      await Promise.all([reader.terminate(), late.terminate(), sub.terminate()]);
    });
  });

  describe("filesystem watch", () => {
    it("reports creates, modifications and removals under a directory until its timeout", async () => {
      await sandbox.filesystem.makeDirectory("/watched/sub");
      const events: Array<{ eventType: string; paths: string[] }> = [];
      const watching = (async () => {
        for await (const event of sandbox.filesystem.watch("/watched", { timeoutMs: 6000 })) events.push(event);
      })();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await run(sandbox, ["sh", "-c", "echo 1 > /watched/a.txt"]);
      await new Promise((resolve) => setTimeout(resolve, 800));
      await run(sandbox, ["sh", "-c", "echo 22 >> /watched/a.txt"]);
      await new Promise((resolve) => setTimeout(resolve, 800));
      await run(sandbox, ["sh", "-c", "rm /watched/a.txt && echo deep > /watched/sub/not-recursive.txt"]);
      await watching;
      expect(events).toEqual([
        { eventType: "Create", paths: ["/watched/a.txt"] },
        { eventType: "Modify", paths: ["/watched/a.txt"] },
        { eventType: "Remove", paths: ["/watched/a.txt"] },
      ]);
    });

    it("watches recursively with a filter, and stops when the iterator is closed", async () => {
      await sandbox.filesystem.makeDirectory("/watched2/sub");
      const seen: Array<{ eventType: string; paths: string[] }> = [];
      const iterator = sandbox.filesystem.watch("/watched2", { recursive: true, filter: ["Create"] })[Symbol.asyncIterator]();
      const next = iterator.next();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await run(sandbox, ["sh", "-c", "echo x > /watched2/sub/deep.txt && rm /watched2/sub/deep.txt; echo y > /watched2/sub/kept.txt"]);
      const first = await next;
      seen.push(first.value as { eventType: string; paths: string[] });
      await iterator.return?.(undefined);
      expect(seen[0]).toEqual({ eventType: "Create", paths: ["/watched2/sub/kept.txt"] });
    });

    it("raises the SDK's not-found error for a missing path", async () => {
      const watch = async () => {
        for await (const _event of sandbox.filesystem.watch("/no/such/watched/path", { timeoutMs: 2000 })) void _event;
      };
      await expect(watch()).rejects.toBeInstanceOf(SandboxFilesystemNotFoundError);
    });
  });

  // Enforcing needs root and a local engine (iptables in the sandbox's netns via nsenter).
  describe.runIf(process.getuid?.() === 0 && !process.env.DOCKER_HOST)("network allowlists", () => {
    /** A TCP listener on one of this machine's addresses, answering its own name. */
    async function listen(host: string): Promise<Server & { port: number }> {
      const server = createServer((socket) => socket.end(`hello from ${host}\n`));
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, () => resolve()));
      return Object.assign(server, { port: (server.address() as { port: number }).port });
    }

    it("lets a sandbox reach an allowed CIDR and not a forbidden one (both this machine's addresses)", async () => {
      const summary = emu.emulator.inspect.sandboxes().find((entry) => entry.sandboxId === sandbox.sandboxId)!;
      const inspected = await engine.container(summary.containerId).inspect();
      const gateway = Object.values(inspected.NetworkSettings.Networks ?? {})[0]?.Gateway ?? "";
      const other = Object.values(networkInterfaces())
        .flat()
        .find((entry) => entry && entry.family === "IPv4" && !entry.internal && entry.address !== gateway)?.address;
      expect(gateway, "the sandbox has a bridge gateway").not.toBe("");
      expect(other, "this machine has a second IPv4 address").toBeDefined();
      const allowed = await listen(gateway);
      const forbidden = await listen(other!);
      try {
        const probe = (target: Server & { port: number }, host: string) => `nc -w 3 ${host} ${target.port} </dev/null; echo "rc=$?"`;
        // Without an allowlist both answer, so what follows is the allowlist's doing.
        expect((await run(sandbox, ["sh", "-c", probe(forbidden, other!)])).stdout).toContain(`hello from ${other}`);
        const limited = await emu.modal.sandboxes.create(emu.app, alpine, { outboundCidrAllowlist: [`${gateway}/32`] });
        emu.track(limited);
        expect((await run(limited, ["sh", "-c", probe(allowed, gateway)])).stdout).toContain(`hello from ${gateway}`);
        const refused = await run(limited, ["sh", "-c", probe(forbidden, other!)]);
        expect(refused.stdout).not.toContain("hello");
        expect(refused.stdout).toContain("rc=1");
        // The sandbox cannot lift its own firewall.
        expect((await run(limited, ["sh", "-c", "iptables -F OUTPUT 2>&1; echo rc=$?"])).stdout).not.toMatch(/rc=0/);
        // updateNetworkPolicy replaces the allowlist on the running sandbox.
        await limited.updateNetworkPolicy({ outboundCidrAllowlist: [`${other}/32`], outboundDomainAllowlist: [] });
        expect((await run(limited, ["sh", "-c", probe(forbidden, other!)])).stdout).toContain(`hello from ${other}`);
        expect((await run(limited, ["sh", "-c", probe(allowed, gateway)])).stdout).not.toContain("hello");
        await limited.terminate();
        // Allowed domains are allowed as what they resolve to on this machine (an address resolves to itself;
        // no test may depend on outside DNS).
        const byDomain = await emu.modal.sandboxes.create(emu.app, alpine, { outboundDomainAllowlist: [gateway] });
        emu.track(byDomain);
        expect((await run(byDomain, ["sh", "-c", probe(allowed, gateway)])).stdout).toContain(`hello from ${gateway}`);
        expect((await run(byDomain, ["sh", "-c", probe(forbidden, other!)])).stdout).not.toContain("hello");
        await byDomain.terminate();
      } finally {
        allowed.close();
        forbidden.close();
      }
    });

    it("refuses a malformed CIDR with INVALID_ARGUMENT naming it", async () => {
      await expect(emu.modal.sandboxes.create(emu.app, alpine, { outboundCidrAllowlist: ["10.0.0.0/99"] })).rejects.toThrow(/10\.0\.0\.0\/99/);
    });
  });

  describe("images", () => {
    it("deletes an image: its id no longer resolves, and a second delete is NotFoundError", async () => {
      const image = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo deleted > /marker"]).build(emu.app);
      expect((await emu.modal.images.fromId(image.imageId)).imageId).toBe(image.imageId);
      await emu.modal.images.delete(image.imageId);
      await expect(emu.modal.images.fromId(image.imageId)).rejects.toBeInstanceOf(NotFoundError);
      await expect(emu.modal.images.delete(image.imageId)).rejects.toBeInstanceOf(NotFoundError);
      // The same layers build again, under a new id.
      const again = await emu.modal.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN echo deleted > /marker"]).build(emu.app);
      expect(again.imageId).not.toBe(image.imageId);
    });
  });

  describe("the stand-in image for alpine:3.21", () => {
    it("carries Alpine's everyday busybox tools", async () => {
      const tools = [
        "printenv",
        "env",
        "wget",
        "sha256sum",
        "pgrep",
        "pkill",
        "nohup",
        "install",
        "split",
        "cksum",
        "comm",
        "hd",
        "base64",
        "nc",
        "timeout",
        "xargs",
        "awk",
        "sed",
        "find",
        "tar",
        "gzip",
        "ps",
        "stat",
      ];
      const missing = await run(sandbox, ["sh", "-c", `for t in ${tools.join(" ")}; do command -v "$t" >/dev/null || echo "$t"; done`]);
      expect(missing.stdout).toBe("");
      expect((await run(sandbox, ["printenv", "GREETING"], { env: { GREETING: "from printenv" } })).stdout).toBe("from printenv\n");
      // (Not `sleep`: the container's PID 1 is the engine's `sleep`.)
      const script =
        "printf '#!/bin/sh\\nsleep 30\\n' > /tmp/napper && chmod +x /tmp/napper && /tmp/napper & sleep 1; pgrep -x napper >/dev/null && pkill -x napper && echo killed";
      expect((await run(sandbox, ["sh", "-c", script])).stdout).toBe("killed\n");
    });
  });
});
