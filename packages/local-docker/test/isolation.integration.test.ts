import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { DockerEngine, hostFirewallUnsupportedReason, SANDBOX_NETWORKS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable } from "@sandbox/test-support";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

// Secure defaults of issue 10 (Deliver 4) on a real engine: sandboxes cannot
// reach each other, the host can be cut off, a non-root user, and an OCI
// runtime passed through only when the engine has it.

const available = await dockerEngineAvailable();
const engine = new DockerEngine();
const firewall = await hostFirewallUnsupportedReason(new Docker());
const hasRunsc = available && (await engine.runtimes()).includes("runsc");
const appName = `isolation-${process.pid}`;
const opened: LocalDockerSandbox[] = [];

async function create(options: ConstructorParameters<typeof LocalDockerSandbox>[0] = {}): Promise<LocalDockerSandbox> {
  const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, timeoutMs: 120_000, ...options });
  opened.push(sandbox);
  return sandbox;
}

/** The sandbox's address and gateway on the one network it joined. */
async function addressOf(sandbox: LocalDockerSandbox): Promise<{ ip: string; gateway: string; network: string }> {
  const info = await sandbox.container.inspect();
  const [network, settings] = Object.entries(info.NetworkSettings.Networks ?? {})[0] ?? [];
  return { ip: settings?.IPAddress ?? "", gateway: settings?.Gateway ?? "", network: network ?? "" };
}

/** Starts a TCP server on port 8080 inside the sandbox, answering "hello-from-sandbox". */
async function serveInSandbox(sandbox: LocalDockerSandbox): Promise<void> {
  await sandbox.execute("nohup sh -c 'while true; do echo hello-from-sandbox | nc -l -p 8080; done' >/dev/null 2>&1 &");
  await new Promise((resolve) => setTimeout(resolve, 300));
}

const probe = (host: string, port: number) => `nc -w 3 ${host} ${port} </dev/null; echo "rc=$?"`;

describe.runIf(available)("secure defaults: network isolation (skipped when no Docker engine answers)", () => {
  afterAll(async () => {
    for (const sandbox of opened) await sandbox.close().catch(() => undefined);
  });

  it("sandbox A cannot reach a listener in sandbox B by default (both on the managed sandbox-isolated network)", async () => {
    const [a, b] = await Promise.all([create(), create()]);
    await serveInSandbox(b);
    const target = await addressOf(b);
    expect(target.network).toBe(SANDBOX_NETWORKS.isolated.name);
    expect((await addressOf(a)).network).toBe(SANDBOX_NETWORKS.isolated.name);
    const started = Date.now();
    const result = await a.execute(probe(target.ip, 8080), { timeoutMs: 20_000 });
    expect(result.output).not.toContain("hello-from-sandbox");
    expect(result.output).toContain("rc=1");
    expect(Date.now() - started).toBeLessThan(10_000);
    // B's listener is up: B reaches itself.
    expect((await b.execute(probe("127.0.0.1", 8080))).output).toContain("hello-from-sandbox");
  });

  it("the managed network has inter-container traffic off and carries the managed label", async () => {
    const info = (await engine.docker.getNetwork(SANDBOX_NETWORKS.isolated.name).inspect()) as {
      Options: Record<string, string>;
      Labels: Record<string, string>;
    };
    expect(info.Options["com.docker.network.bridge.enable_icc"]).toBe("false");
    expect(info.Labels["dev.sandbox.managed"]).toBe("true");
  });

  it("sandboxes reach each other when asked to, on a network the caller names (control: the probe above can succeed)", async () => {
    const shared = `isolation-shared-${process.pid}`;
    await engine.docker.createNetwork({ Name: shared, Labels: { "dev.sandbox.managed": "true" } });
    try {
      const [a, b] = await Promise.all([create({ network: shared }), create({ network: shared })]);
      await serveInSandbox(b);
      expect((await a.execute(probe((await addressOf(b)).ip, 8080))).output).toContain("hello-from-sandbox");
      await Promise.all([a.close(), b.close()]);
    } finally {
      await engine.docker.getNetwork(shared).remove();
    }
  });

  it("refuses network values that would undo isolation or make no sense, naming the option", () => {
    for (const options of [
      { network: "host" },
      { network: "none" },
      { network: "container:abc" },
      { network: "x", blockNetwork: true },
      { network: "x", blockHostNetwork: true },
    ]) {
      expect(() => new LocalDockerSandbox({ imageName: BUSYBOX_IMAGE, ...options }), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"network"') }),
      );
    }
    expect(() => new LocalDockerSandbox({ blockHostNetwork: "yes" as unknown as boolean })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"blockHostNetwork"') }),
    );
  });

  describe.skipIf(firewall !== undefined)(`blockHostNetwork (skipped when the host firewall is out of reach: ${firewall ?? "it is not"})`, () => {
    /** A TCP listener on every host address. */
    async function hostListener(): Promise<Server & { port: number }> {
      const server = createServer((socket) => socket.end("hello-from-host\n"));
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "0.0.0.0", () => resolve()));
      return Object.assign(server, { port: (server.address() as { port: number }).port });
    }

    it("a host listener is unreachable on the gateway and on the host's other addresses, with it; reachable without it", async () => {
      const server = await hostListener();
      try {
        const [open, cut] = await Promise.all([create(), create({ blockHostNetwork: true })]);
        const gatewayOpen = (await addressOf(open)).gateway;
        const cutAddress = await addressOf(cut);
        expect(cutAddress.network).toBe(SANDBOX_NETWORKS["no-host"].name);
        const other = Object.values(networkInterfaces())
          .flat()
          .find((entry) => entry && entry.family === "IPv4" && !entry.internal && entry.address !== cutAddress.gateway)?.address;
        // Control: without the option, the host answers on the gateway.
        expect((await open.execute(probe(gatewayOpen, server.port))).output).toContain("hello-from-host");
        for (const host of [cutAddress.gateway, other].filter((entry): entry is string => Boolean(entry))) {
          const started = Date.now();
          const result = await cut.execute(probe(host, server.port), { timeoutMs: 20_000 });
          expect(result.output, `host address ${host}`).not.toContain("hello-from-host");
          expect(result.output).toContain("rc=1");
          expect(Date.now() - started).toBeLessThan(10_000);
        }
        // The sandbox keeps its network (DNS resolver and loopback answer; no internet is assumed offline).
        expect((await cut.execute("ip route | grep -c default")).output.trim()).toBe("1");
      } finally {
        server.close();
      }
    });

    it("published ports of a host-blocked sandbox still answer from the host", async () => {
      const sandbox = await create({ blockHostNetwork: true, ports: [8080] });
      await serveInSandbox(sandbox);
      const url = await sandbox.portUrl(8080);
      const { port } = new URL(url);
      const { connect } = await import("node:net");
      const text = await new Promise<string>((resolve, reject) => {
        let data = "";
        const socket = connect(Number(port), "127.0.0.1");
        socket.on("data", (chunk) => (data += chunk.toString()));
        socket.on("end", () => resolve(data));
        socket.on("error", reject);
        socket.setTimeout(5_000, () => socket.destroy(new Error("timed out")));
      });
      expect(text).toContain("hello-from-sandbox");
    });
  });

  it("the managed networks are removed with their last sandbox", async () => {
    for (const sandbox of opened.splice(0)) await sandbox.close();
    // Another test file may have a sandbox on the network right now; then it stays, and that file's close removes it.
    const inUse = async (name: string) => {
      const info = await engine.docker
        .getNetwork(name)
        .inspect()
        .catch(() => undefined);
      return info === undefined ? undefined : Object.keys((info as { Containers?: object }).Containers ?? {}).length;
    };
    for (const network of Object.values(SANDBOX_NETWORKS)) {
      const count = await inUse(network.name);
      expect(count === undefined || count > 0, `${network.name} is left without containers`).toBe(true);
    }
  });
});

describe.runIf(available)("secure defaults: user and runtime (skipped when no Docker engine answers)", () => {
  afterAll(async () => {
    for (const sandbox of opened) await sandbox.close().catch(() => undefined);
  });

  it('user: "1000:1000" runs every command as that uid and gid', async () => {
    const sandbox = await create({ user: "1000:1000" });
    expect((await sandbox.execute("id -u; id -g")).output).toBe("1000\n1000\n");
    expect((await sandbox.execute("touch /etc/owned-by-root 2>&1; echo rc=$?")).output).toContain("rc=1");
  });

  it('user: "1000:1000" with a workdir the image lacks: the workdir and the parents the engine made for it belong to the user, who can write there', async () => {
    const sandbox = await create({ user: "1000:1000", workdir: "/srv-made/for/work" });
    const result = await sandbox.execute("pwd; stat -c '%n %u:%g' /srv-made /srv-made/for /srv-made/for/work; touch written-by-user && echo wrote");
    expect(result.output).toBe("/srv-made/for/work\n/srv-made 1000:1000\n/srv-made/for 1000:1000\n/srv-made/for/work 1000:1000\nwrote\n");
    expect((await sandbox.uploadFiles([["/srv-made/for/work/uploaded.txt", new TextEncoder().encode("x")]]))[0]?.error).toBeNull();
  });

  it('user: "1000:1000": a file an upload creates, and the directories it creates for it, are the user\'s on every path (agent, archive API for a large file, exec channel), and the user can write to them', async () => {
    const small = new TextEncoder().encode("small");
    const large = new Uint8Array(2 * 1024 * 1024 + 1).fill(7);
    const ownersAfterUpload = async (sandbox: LocalDockerSandbox) => {
      const results = await sandbox.uploadFiles([
        ["/tmp/up/small.txt", small],
        ["/tmp/up/deep/er/large.bin", large],
      ]);
      expect(results.map((result) => result.error)).toEqual([null, null]);
      const files = "/tmp/up /tmp/up/small.txt /tmp/up/deep /tmp/up/deep/er /tmp/up/deep/er/large.bin";
      return (await sandbox.execute(`stat -c '%n %u:%g' ${files}; echo more >> /tmp/up/deep/er/large.bin && touch /tmp/up/deep/er/new && echo wrote`)).output;
    };
    const expected = [
      "/tmp/up 1000:1000",
      "/tmp/up/small.txt 1000:1000",
      "/tmp/up/deep 1000:1000",
      "/tmp/up/deep/er 1000:1000",
      "/tmp/up/deep/er/large.bin 1000:1000",
      "wrote",
      "",
    ].join("\n");
    const throughAgent = await create({ user: "1000:1000" });
    // The agent is up: the small file goes through it, the large one through the archive API.
    expect(await throughAgent.commandChannelReady()).toBe("agent");
    expect(await ownersAfterUpload(throughAgent)).toBe(expected);
    expect(await ownersAfterUpload(await create({ user: "1000:1000", commandChannel: "exec" }))).toBe(expected);
    // A root sandbox's new files and directories stay root's.
    const asRoot = await create({ commandChannel: "exec" });
    await asRoot.uploadFiles([["/tmp/made/root.txt", small]]);
    expect((await asRoot.execute("stat -c '%u:%g' /tmp/made /tmp/made/root.txt")).output).toBe("0:0\n0:0\n");
  });

  it('user: "1000:1000" with a workdir the image has (/tmp) or a volume mount point: their owners are left as they are', async () => {
    const volume = `isolation-workdir-${process.pid}`;
    try {
      const inImage = await create({ user: "1000:1000", workdir: "/tmp" });
      expect((await inImage.execute("stat -c '%u:%g %a' /tmp")).output).toBe("0:0 1777\n");
      const onVolume = await create({ user: "1000:1000", workdir: "/data", volumes: { "/data": volume } });
      expect((await onVolume.execute("stat -c '%u:%g' /data")).output).toBe("0:0\n");
      await onVolume.close();
    } finally {
      await new Docker()
        .getVolume(volume)
        .remove()
        .catch(() => undefined);
    }
  });

  it("a user the image does not know fails creation with INVALID_OPTIONS naming it; a malformed one fails at once", async () => {
    await expect(create({ user: "no-such-user" })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"no-such-user"') });
    expect(() => new LocalDockerSandbox({ user: "root; rm -rf /" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"user"') }),
    );
  });

  it('runtime: "runc" (always listed by the engine) is passed through to the container', async () => {
    const sandbox = await create({ runtime: "runc" });
    expect((await sandbox.container.inspect()).HostConfig.Runtime).toBe("runc");
    expect((await sandbox.execute("echo ok")).output).toBe("ok\n");
  });

  it.skipIf(hasRunsc)(
    'runtime: "runsc" is refused with UNSUPPORTED_CAPABILITY naming it, before anything is created (skipped where gVisor is installed)',
    async () => {
      const before = (await engine.listContainers({ "dev.sandbox.app": appName })).length;
      await expect(create({ runtime: "runsc" })).rejects.toMatchObject({
        code: "UNSUPPORTED_CAPABILITY",
        message: expect.stringContaining('"runsc"'),
        details: { option: "runtime", runtime: "runsc" },
      });
      expect((await engine.listContainers({ "dev.sandbox.app": appName })).length).toBe(before);
    },
  );
});

describe.runIf(available)("the managed network under a burst of creates (skipped when no Docker engine answers)", () => {
  it("a burst of concurrent creates makes one managed network, not one each (the engine's duplicate check is not atomic)", async () => {
    // Last in the file: closing every sandbox of the file first lets the burst find the network missing, as a fresh engine would.
    await Promise.all(opened.splice(0).map((sandbox) => sandbox.close()));
    const burst = await Promise.all(Array.from({ length: 32 }, () => LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, timeoutMs: 120_000 })));
    try {
      const named = (await engine.docker.listNetworks({ filters: { name: [SANDBOX_NETWORKS.isolated.name] } })).filter(
        (network) => network.Name === SANDBOX_NETWORKS.isolated.name,
      );
      expect(named).toHaveLength(1);
    } finally {
      await Promise.all(burst.map((sandbox) => sandbox.close()));
    }
  });
});
