import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_CAP_DROP, DEFAULT_PIDS_LIMIT } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

const available = await dockerEngineAvailable();

describe.runIf(available)("safe defaults on a real engine (skipped when no Docker engine answers)", () => {
  let sandbox: LocalDockerSandbox;
  const secretsFile = join(mkdtempSync(join(tmpdir(), "sandbox-secrets-")), "secrets.json");
  writeFileSync(secretsFile, JSON.stringify({ "test-keys": { API_TOKEN: "tok-9f8e7d6c5b4a" } }));

  beforeAll(async () => {
    sandbox = await LocalDockerSandbox.create({
      imageName: BUSYBOX_IMAGE,
      secrets: ["test-keys"],
      secretsFile,
      name: `defaults-${process.pid}`,
      appName: "sandbox-tests",
    });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it("runs with an init, no new privileges, a PID limit, no host mounts and no stdin", async () => {
    const info = await sandbox.container.inspect();
    expect(info.HostConfig.Init).toBe(true);
    expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(info.HostConfig.PidsLimit).toBe(DEFAULT_PIDS_LIMIT);
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.Config.OpenStdin).toBe(false);
    const started = Date.now();
    expect(await sandbox.execute("cat; echo after-cat")).toMatchObject({ exitCode: 0, output: "after-cat\n" });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("drops capabilities an agent does not need (NET_RAW, MKNOD, SETFCAP, AUDIT_WRITE, SYS_CHROOT, SETPCAP), checked inside the sandbox", async () => {
    const info = await sandbox.container.inspect();
    expect(info.HostConfig.CapDrop).toEqual([...DEFAULT_CAP_DROP]);
    const status = await sandbox.execute("grep CapEff /proc/self/status");
    const effective = BigInt(`0x${status.output.trim().split(/\s+/)[1]}`);
    // Linux capability numbers: CAP_MKNOD 27, CAP_NET_RAW 13, CAP_AUDIT_WRITE 29, CAP_SETFCAP 31, CAP_SYS_CHROOT 18, CAP_SETPCAP 8.
    for (const bit of [27n, 13n, 29n, 31n, 18n, 8n]) expect((effective >> bit) & 1n, `capability ${bit} is still effective`).toBe(0n);
    // Kept: CAP_CHOWN 0 (package managers chown files), CAP_SETGID 6 and CAP_SETUID 7 (they switch users), CAP_KILL 5.
    for (const bit of [0n, 5n, 6n, 7n]) expect((effective >> bit) & 1n, `capability ${bit} must stay`).toBe(1n);
    expect((await sandbox.execute("chroot / true 2>&1; echo rc=$?")).output, "chroot must be refused").not.toContain("rc=0");
    expect((await sandbox.execute("mknod /tmp/null-copy c 1 3")).exitCode, "mknod of a device must be refused").not.toBe(0);
    expect((await sandbox.execute("mkfifo /tmp/a-fifo && echo ok")).output, "FIFOs need no capability").toBe("ok\n");
  });

  it("injects secrets as environment but never into labels or errors", async () => {
    expect((await sandbox.execute("echo $API_TOKEN")).output).toBe("tok-9f8e7d6c5b4a\n");
    const info = await sandbox.container.inspect();
    expect(JSON.stringify(info.Config.Labels)).not.toContain("tok-9f8e7d6c5b4a");
    const error = await sandbox.execute("x", { env: { "BAD NAME": "tok-9f8e7d6c5b4a" } }).catch((caught: unknown) => caught);
    expect(String((error as Error).message)).not.toContain("tok-9f8e7d6c5b4a");
  });

  it("refuses a second sandbox with the same name in the same app", async () => {
    await expect(LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, name: `defaults-${process.pid}`, appName: "sandbox-tests" })).rejects.toMatchObject({
      code: "SANDBOX_CREATION_FAILED",
      message: expect.stringContaining("already exists"),
    });
  });

  it("finds the sandbox by app and name", async () => {
    const again = await LocalDockerSandbox.fromName("sandbox-tests", `defaults-${process.pid}`);
    expect(again.id).toBe(sandbox.id);
    await again.detach();
  });

  it("names the missing secret and the store when a secret cannot be resolved", async () => {
    await expect(LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, secrets: ["nope"], secretsFile })).rejects.toMatchObject({
      code: "SANDBOX_CREATION_FAILED",
      message: expect.stringContaining('secret "nope"'),
    });
  });

  it("flags a missing image in details, naming it, so callers need not parse text", async () => {
    await expect(LocalDockerSandbox.create({ imageName: "sandbox-no-such-image:0" })).rejects.toMatchObject({
      code: "SANDBOX_CREATION_FAILED",
      details: { reason: "image-unavailable", imageName: "sandbox-no-such-image:0" },
      message: expect.stringContaining("sandbox-no-such-image:0"),
    });
  });

  it("says clearly when the host has no GPU runtime", async () => {
    await expect(LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, gpu: "any" })).rejects.toMatchObject({
      code: "UNSUPPORTED_CAPABILITY",
      message: expect.stringMatching(/local-docker.*gpu.*no GPU runtime/),
    });
  });

  it("reports an engine that does not answer as PROVIDER_UNAVAILABLE with what to do", async () => {
    const Docker = (await import("dockerode")).default;
    const nowhere = new Docker({ socketPath: "/nonexistent/docker.sock" });
    await expect(LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, docker: nowhere })).rejects.toMatchObject({
      code: "PROVIDER_UNAVAILABLE",
      message: expect.stringMatching(/start-docker-engine|DOCKER_HOST/),
    });
  });

  it("kills the whole process tree of a timed-out command (checked with ps)", async () => {
    const error = await sandbox
      .execute("sh -c 'sleep 8123 & sleep 8124 & wait' & sleep 8125; echo never", { timeoutMs: 700 })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "COMMAND_TIMEOUT" });
    const ps = await sandbox.execute("ps -o pid,args | grep 812[345] || true");
    expect(ps.output, `processes left after the kill:\n${ps.output}`).toBe("");
  });
});

describe.runIf(available)("factories on a real engine (skipped when no Docker engine answers)", () => {
  it("a factory creates one sandbox however often deepagents resolves it", async () => {
    const { createLocalDockerSandboxFactory, createLocalDockerSandboxFactoryFromSandbox } = await import("../src/index.js");
    const factory = createLocalDockerSandboxFactory({ imageName: BUSYBOX_IMAGE });
    const [first, second] = await Promise.all([factory(), factory()]);
    try {
      expect(second).toBe(first);
      expect(await factory()).toBe(first);
      expect(await createLocalDockerSandboxFactoryFromSandbox(first)()).toBe(first);
    } finally {
      await first.close();
    }
  });
});
