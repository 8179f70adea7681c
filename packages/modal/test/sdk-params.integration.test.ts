import { CloudBucketMount, ExperimentalOutboundPolicy, Proxy as ModalProxy, Probe } from "modal";
import { describe, expect, it } from "vitest";
import { MODAL_SDK_PARAM_KEYS, MODAL_TAGS, ModalSandbox, ModalSandboxError, type ModalSandboxOptions } from "../src/index.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

/*
 * Every sandbox create parameter of the pinned modal SDK that ModalSandboxOptions
 * passes through is either honoured by the emulator (and the effect is checked
 * in the container) or refused with a typed error naming the parameter. Real
 * SDK, real gRPC, real containers; no vi.mock.
 */

const withDocker = await dockerAvailable();
const appName = `sdk-params-${process.pid}`;
const IMAGE = "sandbox-busybox:latest";

describe.runIf(withDocker)("SDK create parameters against @sandbox/modal-emulator (needs a Docker engine)", () => {
  const session = useEmulatorSession();

  const create = (extra: ModalSandboxOptions) => ModalSandbox.create({ appName, imageName: IMAGE, ...extra });
  const run = async (sandbox: ModalSandbox, command: string) => (await sandbox.execute(command)).output.trim();
  // cgroup v2 files, else the v1 ones (the Docker engine of this machine may use either).
  const CPU_QUOTA = 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"';
  const MEMORY_LIMIT = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";

  // Parameters the emulator honours, each with a check of its effect.
  const honoured: Record<string, { options: ModalSandboxOptions; check(sandbox: ModalSandbox): Promise<void> }> = {
    cpuLimit: {
      options: { cpu: 0.5, cpuLimit: 1 },
      // The hard limit wins over the reservation: 1 core = quota 100000 per period 100000.
      check: async (sandbox) => expect(await run(sandbox, CPU_QUOTA)).toBe("100000 100000"),
    },
    memoryLimitMiB: {
      options: { memoryMiB: 256, memoryLimitMiB: 512 },
      check: async (sandbox) => expect(await run(sandbox, MEMORY_LIMIT)).toBe(String(512 * 1024 * 1024)),
    },
    tags: {
      options: { tags: { team: "agents", purpose: "sdk-params" } },
      async check(sandbox) {
        const record = (await session().sandboxes()).find((entry) => entry.sandboxId === sandbox.id)!;
        expect(record.tags).toMatchObject({ team: "agents", purpose: "sdk-params", [MODAL_TAGS.managed]: "true", [MODAL_TAGS.ownerPid]: String(process.pid) });
        expect(await sandbox.instance.getTags()).toMatchObject({ team: "agents", [MODAL_TAGS.managed]: "true" });
      },
    },
    command: {
      options: { command: ["sh", "-c", "echo started > /tmp/entrypoint.txt; sleep 2; exit 7"] },
      async check(sandbox) {
        expect(await sandbox.wait(), "wait() resolves the exit code of the sandbox's main command").toBe(7);
        expect(await sandbox.poll()).toBe(7);
      },
    },
    idleTimeoutMs: {
      options: { idleTimeoutMs: 2_000, timeoutMs: 120_000 },
      async check(sandbox) {
        const started = Date.now();
        const code = await sandbox.wait();
        expect(typeof code).toBe("number");
        expect(Date.now() - started, "the idle timeout ended the sandbox long before its lifetime").toBeLessThan(60_000);
      },
    },
    cloud: {
      options: { cloud: "aws" },
      check: async (sandbox) => expect((await sandbox.execute("echo placed")).output).toBe("placed\n"),
    },
    regions: {
      options: { regions: ["us-east-1"] },
      check: async (sandbox) => expect((await sandbox.execute("echo placed")).output).toBe("placed\n"),
    },
    readinessProbe: {
      options: { readinessProbe: Probe.withExec(["sh", "-c", "test -e /tmp/ready"]) },
      async check(sandbox) {
        await sandbox.execute("touch /tmp/ready");
        await sandbox.instance.waitUntilReady(30_000);
      },
    },
    includeOidcIdentityToken: {
      options: { includeOidcIdentityToken: true },
      // A JWT: three base64url parts.
      check: async (sandbox) => expect((await sandbox.execute("printenv MODAL_IDENTITY_TOKEN")).output.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/),
    },
    outboundCidrAllowlist: {
      // Enforcement itself (an allowed listener reached, a forbidden one not) is
      // tested in @sandbox/modal-emulator's fidelity suite; here: accepted and working.
      options: { outboundCidrAllowlist: ["10.0.0.0/8"] },
      check: async (sandbox) => expect((await sandbox.execute("echo allowlisted")).output).toBe("allowlisted\n"),
    },
    // The former name of outboundCidrAllowlist.
    cidrAllowlist: {
      options: { cidrAllowlist: ["10.0.0.0/8"] },
      check: async (sandbox) => expect((await sandbox.execute("echo allowlisted")).output).toBe("allowlisted\n"),
    },
    outboundDomainAllowlist: {
      options: { outboundDomainAllowlist: ["localhost"] },
      check: async (sandbox) => expect((await sandbox.execute("echo allowlisted")).output).toBe("allowlisted\n"),
    },
    // Header replacement itself (a secret's value reaching a destination, other names relayed) is tested in
    // @sandbox/modal-emulator's egress-policy suite; here: accepted, and the sandbox trusts the egress proxy's CA.
    experimentalOutboundPolicy: {
      options: {
        experimentalOutboundPolicy: new ExperimentalOutboundPolicy().withHeaderReplacement({
          domain: "api.example.com",
          headers: { "x-api-key": "placeholder" },
        }),
      },
      check: async (sandbox) =>
        expect(await run(sandbox, 'grep -c "BEGIN CERTIFICATE" /usr/local/share/ca-certificates/modal-emulator-egress.crt && echo "$SSL_CERT_FILE"')).toBe(
          "1\n/etc/ssl/certs/ca-certificates.crt",
        ),
    },
    // Tunnels for every kind of port, read back through portUrls(): Modal's https URLs (the emulator's TLS listeners on 127.0.0.1).
    "encryptedPorts, h2Ports, unencryptedPorts": {
      options: { encryptedPorts: [8080], h2Ports: [8443], unencryptedPorts: [9090] },
      check: async (sandbox) => {
        const urls = await sandbox.portUrls();
        expect(Object.keys(urls).sort()).toEqual(["8080", "8443", "9090"]);
        for (const url of Object.values(urls)) expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      },
    },
    // Enforcement (a client outside refused, one inside let in) is tested in @sandbox/modal-emulator's tunnels-tls suite.
    inboundCidrAllowlist: {
      options: { inboundCidrAllowlist: ["127.0.0.0/8"] },
      check: async (sandbox) => expect((await sandbox.execute("echo allowlisted")).output).toBe("allowlisted\n"),
    },
    // Joins the emulator's private IPv6 network (reachability is tested in @sandbox/modal-emulator's i6pn suite).
    i6pn: {
      options: { i6pn: true },
      check: async (sandbox) => expect((await sandbox.execute("grep -c i6pn.modal.local /etc/hosts")).output).toBe("1\n"),
    },
    // The emulator logs a verbose sandbox's lifecycle (tested in @sandbox/modal-emulator).
    verbose: {
      options: { verbose: true },
      check: async (sandbox) => expect((await sandbox.execute("echo verbose")).output).toBe("verbose\n"),
    },
    // The entrypoint runs on a terminal (tested in @sandbox/modal-emulator); commands run as before.
    pty: {
      options: { pty: true },
      check: async (sandbox) => expect((await sandbox.execute("echo on a pty sandbox")).output).toBe("on a pty sandbox\n"),
    },
    "pty: false, verbose: false, i6pn: false, experimentalEnableSnapshot: false": {
      options: { pty: false, verbose: false, i6pn: false, experimentalEnableSnapshot: false },
      check: async (sandbox) => expect((await sandbox.execute("echo ok")).output).toBe("ok\n"),
    },
  };

  for (const [name, { options, check }] of Object.entries(honoured)) {
    it(`honours ${name}`, { timeout: 120_000 }, async () => {
      const sandbox = await create(options);
      const id = sandbox.id;
      try {
        await check(sandbox);
      } finally {
        await sandbox.close();
      }
      expect(await session().exists(id)).toBe(false);
    });
  }

  // Parameters the emulator cannot honour: refused, by name, never dropped.
  const refused: Array<[string, ModalSandboxOptions, RegExp]> = [
    ["runtime", { runtime: "gvisor" }, /runtime/],
    [
      "cloudBucketMounts",
      { cloudBucketMounts: { "/bucket": new CloudBucketMount("my-bucket", undefined, true, false, undefined, undefined, undefined, 1 as never) } },
      /cloudBucketMounts/,
    ],
    ["cloud (a value Modal refuses)", { cloud: "invalid-cloud" }, /cloud/],
    ["regions (a value Modal refuses)", { regions: ["invalid-region"] }, /region/],
    ["proxy", { proxy: new ModalProxy("pr-emulator-has-none") }, /proxy/],
    ["experimentalOptions", { experimentalOptions: { enable_gpu_snapshot: true } }, /experimentalOptions \(enable_gpu_snapshot\)/],
    ["experimentalOptions (enable_docker: Docker in the sandbox)", { experimentalOptions: { enable_docker: true } }, /enable_docker/],
    ["customDomain", { customDomain: "sandboxes.example.com" }, /customDomain/],
    ["experimentalEnableSnapshot", { experimentalEnableSnapshot: true }, /experimentalEnableSnapshot/],
  ];

  it.each(refused)("refuses %s with a typed error naming it, and creates nothing", { timeout: 60_000 }, async (_name, options, named) => {
    const before = (await session().sandboxes()).length;
    const error = await create(options).then(
      (sandbox) => sandbox.close().then(() => undefined),
      (reason: unknown) => reason,
    );
    expect(error, "the emulator accepted a parameter it cannot honour").toBeInstanceOf(ModalSandboxError);
    expect((error as ModalSandboxError).code).toBe("SANDBOX_CREATION_FAILED");
    expect((error as ModalSandboxError).message).toMatch(named);
    expect((await session().sandboxes()).length, "a refused create left a sandbox").toBe(before);
  });

  it("covers every SDK parameter ModalSandboxOptions passes through", () => {
    const covered = new Set([
      ...Object.keys(honoured).flatMap((name) => name.split(/[,:] ?/).map((part) => part.trim())),
      ...refused.map(([name]) => name.split(" ")[0]!),
    ]);
    expect(MODAL_SDK_PARAM_KEYS.filter((key) => !covered.has(key))).toEqual([]);
  });
});
