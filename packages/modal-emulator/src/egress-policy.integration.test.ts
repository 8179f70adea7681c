import { once } from "node:events";
import { createServer, type Server } from "node:https";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { ExperimentalOutboundPolicy, type Sandbox } from "modal";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engine, engineReachable, run, useModalEmulator } from "../test/support/emulator-harness.js";
import { createLocalCertificateAuthority } from "./local-ca.js";

/*
 * Issue 11: `experimentalOutboundPolicy` and `experimentalUpdateOutboundPolicy`
 * through the real modal@0.11.1 SDK. A sandbox's outbound HTTPS goes through
 * the emulator's egress proxy, which replaces headers for the names the
 * policy covers (secret values substituted outside the sandbox) and relays
 * every other name untouched, TLS end to end.
 *
 * The destination is an HTTPS listener of this test on port 443 of the
 * Docker bridge's gateway (this machine, reachable from the sandbox), with a
 * certificate for `api.example.test` and `other.test` from a test CA of its
 * own; the sandbox names it through its /etc/hosts (there is no DNS offline).
 * The emulator trusts that CA for its own connections
 * (`egressTrustedCertificates`), as it trusts public roots.
 */

const SECRET_VALUE = "s3cr3t-egress-value-7f3a";
const destinationCa = createLocalCertificateAuthority(["api.example.test", "other.test"]);
const logs: string[] = [];

/** Requests `url` from the sandbox with an Authorization header; prints the listener's JSON answer or the failure. */
const CLIENT = `
import ssl, sys, urllib.request
url, auth = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=sys.argv[3]) if len(sys.argv) > 3 else ssl.create_default_context()
request = urllib.request.Request(url, headers={"Authorization": auth, "X-Kept": "as-sent"})
try:
    with urllib.request.urlopen(request, context=ctx, timeout=15) as response:
        print(response.read().decode())
except Exception as error:
    print("FAILED", type(error).__name__, error)
`;

/** Opens an Upgrade (WebSocket-style) connection to api.example.test, sends "ping" once switched; prints the head and what came back. */
const UPGRADE_CLIENT = `
import socket, ssl
ctx = ssl.create_default_context()
with socket.create_connection(("api.example.test", 443), timeout=15) as raw:
    with ctx.wrap_socket(raw, server_hostname="api.example.test") as tls:
        tls.sendall(b"GET /ws HTTP/1.1\\r\\nHost: api.example.test\\r\\nConnection: Upgrade\\r\\nUpgrade: echo\\r\\nAuthorization: Bearer placeholder\\r\\n\\r\\n")
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += tls.recv(4096)
        head, rest = data.split(b"\\r\\n\\r\\n", 1)
        tls.sendall(b"ping")
        while len(rest) < 4:
            rest += tls.recv(4096)
        print(head.decode())
        print("echoed:", rest.decode())
`;

interface Seen {
  servername: string | false | null;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

const rootAndLocalEngine = process.getuid?.() === 0 && !process.env.DOCKER_HOST;

// Redirecting a sandbox's HTTPS needs iptables in its network namespace: root and a local engine.
describe.runIf(engineReachable && rootAndLocalEngine)("experimentalOutboundPolicy (modal@0.11.1 SDK, Docker engine, root)", { timeout: 120_000 }, () => {
  const emu = useModalEmulator({
    appName: "emulator-egress-policy",
    emulator: {
      secrets: { "egress-token": { TOKEN: SECRET_VALUE } },
      egressTrustedCertificates: [destinationCa.caPem],
      onLog: (line) => logs.push(line),
    },
  });
  const python = () => emu.image("python:3.12-slim");
  let gateway = "";
  let listener: Server | undefined;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const bridge = await engine.docker.getNetwork("bridge").inspect();
    gateway = (bridge.IPAM?.Config ?? []).map((config: { Gateway?: string }) => config.Gateway).find(Boolean) ?? "";
    expect(gateway, "the Docker bridge has an IPv4 gateway").toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    listener = createServer({ cert: destinationCa.serverCertificatePem, key: destinationCa.serverKeyPem }, (request, response) => {
      const entry: Seen = { servername: (request.socket as TLSSocket).servername, path: request.url ?? "", headers: request.headers };
      seen.push(entry);
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(entry));
    });
    // An Upgrade answered with 101, the Authorization it got echoed in a header, then the bytes echoed back.
    listener.on("upgrade", (request, socket: Duplex) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Seen-Authorization: ${request.headers.authorization}\r\n\r\n`,
      );
      socket.on("data", (chunk: Buffer) => socket.write(chunk));
      socket.on("error", () => undefined);
    });
    listener.listen(443, gateway);
    await once(listener, "listening");
  });

  afterAll(async () => {
    if (listener) await new Promise<void>((resolve) => listener!.close(() => resolve()));
  });

  /** A python sandbox that names the listener `api.example.test` and `other.test`, with the test CA at /tmp/destination-ca.pem. */
  async function sandboxWith(params: Parameters<typeof emu.modal.sandboxes.create>[2]): Promise<Sandbox> {
    const sandbox = emu.track(await emu.modal.sandboxes.create(emu.app, python(), params));
    const hosts = await run(sandbox, ["sh", "-c", `echo "${gateway} api.example.test other.test" >> /etc/hosts`]);
    expect(hosts.exitCode, hosts.stderr).toBe(0);
    await sandbox.filesystem.writeText(destinationCa.caPem, "/tmp/destination-ca.pem");
    await sandbox.filesystem.writeText(CLIENT, "/tmp/client.py");
    return sandbox;
  }

  /** What the listener saw for one request from the sandbox, or the client's failure. */
  async function request(sandbox: Sandbox, url: string, authorization: string, cafile?: string): Promise<Seen> {
    const result = await run(sandbox, ["python3", "/tmp/client.py", url, authorization, ...(cafile ? [cafile] : [])]);
    const output = result.stdout.trim();
    if (!output.startsWith("{")) throw new Error(`the sandbox's request to ${url} failed: ${output} ${result.stderr}`);
    return JSON.parse(output) as Seen;
  }

  it("replaces the header for a covered name with the secret's value, and relays other names untouched (TLS end to end)", async () => {
    const secret = await emu.modal.secrets.fromName("egress-token");
    const policy = new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "*.example.test", secret, headers: { Authorization: "Bearer $TOKEN" } });
    const sandbox = await sandboxWith({ experimentalOutboundPolicy: policy, verbose: true });

    // Covered: the destination gets the secret's value; the sandbox sent a placeholder and trusted the emulator's CA.
    const covered = await request(sandbox, "https://api.example.test/covered?x=1", "Bearer placeholder");
    expect(covered).toMatchObject({ servername: "api.example.test", path: "/covered?x=1" });
    expect(covered.headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);
    expect(covered.headers["x-kept"]).toBe("as-sent");
    // The name is intercepted: a client trusting only the destination's own CA refuses the certificate it is shown.
    const refused = await run(sandbox, ["python3", "/tmp/client.py", "https://api.example.test/", "Bearer placeholder", "/tmp/destination-ca.pem"]);
    expect(refused.stdout).toMatch(/^FAILED .*CERTIFICATE_VERIFY_FAILED/);

    // Not covered: relayed as it is. The client trusts only the destination's CA, so its TLS reached the listener itself.
    const other = await request(sandbox, "https://other.test/other", "Bearer placeholder", "/tmp/destination-ca.pem");
    expect(other).toMatchObject({ servername: "other.test", path: "/other" });
    expect(other.headers.authorization).toBe("Bearer placeholder");

    // The secret's value never enters the sandbox, the emulator's logs, nor what the emulator recorded.
    expect((await run(sandbox, ["sh", "-c", "env; cat /etc/ssl/certs/ca-certificates.crt"])).stdout).not.toContain(SECRET_VALUE);
    expect(logs.some((line) => line.includes("api.example.test") && line.includes("Authorization"))).toBe(true);
    expect(logs.filter((line) => line.includes(SECRET_VALUE))).toEqual([]);
    expect(JSON.stringify(emu.emulator.inspect.sandboxCreates())).not.toContain(SECRET_VALUE);
  });

  it("experimentalUpdateOutboundPolicy changes the replacements for new connections ($$ is a literal $)", async () => {
    const secret = await emu.modal.secrets.fromName("egress-token");
    const sandbox = await sandboxWith({
      experimentalOutboundPolicy: new ExperimentalOutboundPolicy().withHeaderReplacement({
        domain: "*.example.test",
        secret,
        headers: { Authorization: "Bearer $TOKEN" },
      }),
    });
    expect((await request(sandbox, "https://api.example.test/before", "Bearer placeholder")).headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);

    await sandbox.experimentalUpdateOutboundPolicy(
      new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "other.test", headers: { Authorization: "Static $$TOKEN", "X-Added": "added" } }),
    );
    // api.example.test is no longer covered: relayed untouched (and verified against the destination's own CA).
    const relayed = await request(sandbox, "https://api.example.test/after", "Bearer placeholder", "/tmp/destination-ca.pem");
    expect(relayed.headers.authorization).toBe("Bearer placeholder");
    // other.test is: `$$TOKEN` is the literal text `$TOKEN`, and a header the sandbox did not send is added.
    const replaced = await request(sandbox, "https://other.test/after", "Bearer placeholder");
    expect(replaced.headers.authorization).toBe("Static $TOKEN");
    expect(replaced.headers["x-added"]).toBe("added");
  });

  it("carries an Upgrade (WebSocket-style) connection to a covered name with the replaced header, then its bytes both ways", async () => {
    const secret = await emu.modal.secrets.fromName("egress-token");
    const policy = new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "api.example.test", secret, headers: { Authorization: "Bearer $TOKEN" } });
    const sandbox = await sandboxWith({ experimentalOutboundPolicy: policy });
    await sandbox.filesystem.writeText(UPGRADE_CLIENT, "/tmp/upgrade.py");
    const upgraded = await run(sandbox, ["python3", "/tmp/upgrade.py"]);
    expect(upgraded.stdout, upgraded.stderr).toMatch(/^HTTP\/1\.1 101 /);
    expect(upgraded.stdout).toContain(`X-Seen-Authorization: Bearer ${SECRET_VALUE}`);
    expect(upgraded.stdout).toContain("echoed: ping");
  });

  it("works for V1 sandboxes (MODAL_SANDBOX_V2=0) too, created and updated", async () => {
    const v1 = emu.client({ MODAL_SANDBOX_V2: "0" });
    const secret = await v1.secrets.fromName("egress-token");
    const app = await v1.apps.fromName("emulator-egress-policy-v1", { createIfMissing: true });
    const sandbox = emu.track(
      await v1.sandboxes.create(app, v1.images.fromRegistry("python:3.12-slim"), {
        experimentalOutboundPolicy: new ExperimentalOutboundPolicy().withHeaderReplacement({
          domain: "*.example.test",
          secret,
          headers: { Authorization: "Bearer $TOKEN" },
        }),
      }),
    );
    expect(sandbox.sandboxId).not.toMatch(/^sb-v2-/);
    await run(sandbox, ["sh", "-c", `echo "${gateway} api.example.test other.test" >> /etc/hosts`]);
    await sandbox.filesystem.writeText(CLIENT, "/tmp/client.py");
    expect((await request(sandbox, "https://api.example.test/v1", "Bearer placeholder")).headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);
    await sandbox.experimentalUpdateOutboundPolicy(
      new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "*.example.test", headers: { Authorization: "none" } }),
    );
    expect((await request(sandbox, "https://api.example.test/v1", "Bearer placeholder")).headers.authorization).toBe("none");
  });

  it("covers the sandbox's sidecars too: they share its network, and are given the CA before their command starts", async () => {
    const secret = await emu.modal.secrets.fromName("egress-token");
    const policy = new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "api.example.test", secret, headers: { Authorization: "Bearer $TOKEN" } });
    const sandbox = await sandboxWith({ experimentalOutboundPolicy: policy });
    // The sidecar's own command runs the client as it starts: the CA must already be there.
    const sidecar = await sandbox.experimentalSidecars.create("client", python(), {
      command: [
        "sh",
        "-c",
        'python3 -c "$1" "$2" "$3" > /tmp/answer.tmp; mv /tmp/answer.tmp /tmp/answer; sleep 600',
        "sh",
        CLIENT,
        "https://api.example.test/sidecar",
        "Bearer placeholder",
      ],
    });
    let answered = "";
    for (let attempt = 0; attempt < 100 && !answered; attempt++) {
      answered = (await run(sidecar, ["sh", "-c", "cat /tmp/answer 2>/dev/null"])).stdout.trim();
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(answered, "the sidecar's request answered").toMatch(/^\{/);
    const answer = JSON.parse(answered) as Seen;
    expect(answer).toMatchObject({ servername: "api.example.test", path: "/sidecar" });
    expect(answer.headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);
  });

  it("keeps an outboundCidrAllowlist: HTTPS to an allowed address goes through the proxy, to another is rejected", async () => {
    const secret = await emu.modal.secrets.fromName("egress-token");
    const policy = new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "api.example.test", secret, headers: { Authorization: "Bearer $TOKEN" } });
    const allowed = await sandboxWith({ experimentalOutboundPolicy: policy, outboundCidrAllowlist: [`${gateway}/32`] });
    expect((await request(allowed, "https://api.example.test/", "Bearer placeholder")).headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);
    const elsewhere = await sandboxWith({ experimentalOutboundPolicy: policy, outboundCidrAllowlist: ["10.255.255.0/24"] });
    const blocked = await run(elsewhere, ["python3", "/tmp/client.py", "https://api.example.test/", "Bearer placeholder"]);
    expect(blocked.stdout).toMatch(/^FAILED/);

    // updateNetworkPolicy rebuilds both the allowlist and the redirect: the gateway allowed again, HTTPS there goes through the proxy.
    await elsewhere.updateNetworkPolicy({ outboundCidrAllowlist: [`${gateway}/32`], outboundDomainAllowlist: [] });
    expect((await request(elsewhere, "https://api.example.test/", "Bearer placeholder")).headers.authorization).toBe(`Bearer ${SECRET_VALUE}`);
    await allowed.updateNetworkPolicy({ outboundCidrAllowlist: ["10.255.255.0/24"], outboundDomainAllowlist: [] });
    expect((await run(allowed, ["python3", "/tmp/client.py", "https://api.example.test/", "Bearer placeholder"])).stdout).toMatch(/^FAILED/);
  });

  it("refuses an update for a sandbox created without a policy (FAILED_PRECONDITION), and a template naming a key the secret lacks", async () => {
    const plain = emu.track(await emu.modal.sandboxes.create(emu.app, python()));
    const update = new ExperimentalOutboundPolicy().withHeaderReplacement({ domain: "api.example.test", headers: { "X-Static": "value" } });
    await expect(plain.experimentalUpdateOutboundPolicy(update)).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: expect.stringContaining("created without an experimentalOutboundPolicy"),
    });

    const secret = await emu.modal.secrets.fromName("egress-token");
    const missingKey = new ExperimentalOutboundPolicy().withHeaderReplacement({
      domain: "api.example.test",
      secret,
      headers: { Authorization: "Bearer $NOPE" },
    });
    const refusal = await emu.modal.sandboxes.create(emu.app, python(), { experimentalOutboundPolicy: missingKey }).then(
      () => undefined,
      (error: unknown) => error as { code?: number; message: string },
    );
    expect(refusal?.code).toBe(Status.INVALID_ARGUMENT);
    expect(refusal?.message).toContain("$NOPE");
    expect(refusal?.message).not.toContain(SECRET_VALUE);
  });
});
