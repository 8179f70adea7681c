import { sandboxErrorThrownBy } from "@sandbox/core/conformance";
import type { Secret, Volume } from "modal";
import { afterEach, describe, expect, it } from "vitest";
import { stubModalClient, V1_SANDBOX_ID, V2_SANDBOX_ID } from "../test/support/stub-control-plane.js";
import { DEFAULT_MODAL_APP_NAME, toSandboxCreateParams } from "./modal-options.js";
import { ModalSandbox } from "./modal-sandbox.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";
import { MODAL_TAGS } from "./owner-tags.js";

const none = { volumes: {}, secrets: [] };

describe("toSandboxCreateParams: documented options -> SDK create parameters", () => {
  it("defaults the lifetime to 300000 ms and passes the tags", () => {
    const params = toSandboxCreateParams({}, none, { a: "b" });
    expect(params).toEqual({ timeoutMs: 300_000, tags: { a: "b" } });
  });

  it("keeps timeoutMs as the sandbox lifetime", () => {
    expect(toSandboxCreateParams({ timeoutMs: 600_000 }, none, {}).timeoutMs).toBe(600_000);
  });

  it.each([
    ["T4", "T4"],
    ["l4", "L4"],
    ["A10G", "A10G"],
    ["A100", "A100"],
    ["A100:2", "A100:2"],
    ["a100-80gb:4", "A100-80GB:4"],
    ["H100:1", "H100"],
  ])("maps gpu %s to %s", (gpu, expected) => {
    expect(toSandboxCreateParams({ gpu }, none, {}).gpu).toBe(expected);
  });

  it("maps fractional cpu to an enforced request + limit", () => {
    const params = toSandboxCreateParams({ cpu: 0.5 }, none, {});
    expect(params.cpu).toBe(0.5);
    expect(params.cpuLimit).toBe(0.5);
  });

  it("maps memoryMiB to an enforced request + limit", () => {
    const params = toSandboxCreateParams({ memoryMiB: 512 }, none, {});
    expect(params.memoryMiB).toBe(512);
    expect(params.memoryLimitMiB).toBe(512);
  });

  it("passes looked-up volumes by mount path and secrets in order", () => {
    const data = { volumeId: "vo-1" } as Volume;
    const models = { volumeId: "vo-2" } as Volume;
    const keys = { secretId: "st-1" } as unknown as Secret;
    const params = toSandboxCreateParams({}, { volumes: { "/data": data, "/models": models }, secrets: [keys] }, {});
    expect(params.volumes).toEqual({ "/data": data, "/models": models });
    expect(params.secrets).toEqual([keys]);
  });

  it("passes env, workdir, blockNetwork and name as they are; blockNetwork false asks for nothing", () => {
    const params = toSandboxCreateParams({ env: { A: "1" }, workdir: "/app", blockNetwork: true, name: "my-sandbox" }, none, {});
    expect(params).toMatchObject({ env: { A: "1" }, workdir: "/app", blockNetwork: true, name: "my-sandbox" });
    expect(toSandboxCreateParams({ blockNetwork: false }, none, {}).blockNetwork).toBeUndefined();
  });
});

describe("options are checked before any network call", () => {
  it.each([
    [{ timeoutMs: 1500 }, "timeoutMs"],
    [{ timeoutMs: 0 }, "timeoutMs"],
    [{ timeoutMs: 90_000_000 }, "timeoutMs"],
    [{ cpu: -1 }, "cpu"],
    [{ memoryMiB: 1.5 }, "memoryMiB"],
    [{ gpu: "A100:x" }, "gpu"],
    [{ gpu: "A100:9" }, "gpu"],
    [{ volumes: { data: "v" } }, "volumes"],
    [{ secrets: ["bad name"] }, "secrets"],
    [{ workdir: "app" }, "workdir"],
    [{ name: "has space" }, "name"],
    [{ appName: "bad/app" }, "appName"],
    [{ auth: { tokenId: 1 } }, "auth"],
    [{ auth: { tokenSecret: "as 1" } }, "auth"],
    [{ auth: { extra: "x" } }, "auth"],
    [{ cpuLimit: 2 }, "cpuLimit"],
    [{ cpu: 2, cpuLimit: 1 }, "cpuLimit"],
    [{ cpu: 1, cpuLimit: "2" }, "cpuLimit"],
    [{ memoryLimitMiB: 512 }, "memoryLimitMiB"],
    [{ memoryMiB: 512, memoryLimitMiB: 256 }, "memoryLimitMiB"],
    [{ memoryMiB: 512, memoryLimitMiB: 600.5 }, "memoryLimitMiB"],
    [{ runtime: "runc" }, "runtime"],
    [{ idleTimeoutMs: 1500 }, "idleTimeoutMs"],
    [{ idleTimeoutMs: -1000 }, "idleTimeoutMs"],
    [{ command: [] }, "command"],
    [{ command: "sleep 10" }, "command"],
    [{ command: ["sleep", 10] }, "command"],
    [{ cloudBucketMounts: { bucket: { bucketName: "b" } } }, "cloudBucketMounts"],
    [{ cloudBucketMounts: { "/bucket": "b" } }, "cloudBucketMounts"],
    [{ pty: "yes" }, "pty"],
    [{ encryptedPorts: [0] }, "encryptedPorts"],
    [{ h2Ports: [70000] }, "h2Ports"],
    [{ unencryptedPorts: ["80"] }, "unencryptedPorts"],
    [{ outboundCidrAllowlist: ["not a cidr"] }, "outboundCidrAllowlist"],
    [{ cidrAllowlist: "10.0.0.0/8" }, "cidrAllowlist"],
    [{ cidrAllowlist: ["10.0.0.0/8"], outboundCidrAllowlist: ["10.0.0.0/8"] }, "cidrAllowlist"],
    [{ outboundDomainAllowlist: ["exa mple.com"] }, "outboundDomainAllowlist"],
    [{ inboundCidrAllowlist: [42] }, "inboundCidrAllowlist"],
    [{ blockNetwork: true, outboundCidrAllowlist: ["10.0.0.0/8"] }, "outboundCidrAllowlist"],
    [{ blockNetwork: true, inboundCidrAllowlist: ["10.0.0.0/8"] }, "inboundCidrAllowlist"],
    [{ blockNetwork: true, i6pn: true }, "i6pn"],
    [{ experimentalOutboundPolicy: {} }, "experimentalOutboundPolicy"],
    [{ i6pn: 1 }, "i6pn"],
    [{ cloud: "" }, "cloud"],
    [{ regions: [] }, "regions"],
    [{ regions: "us-east-1" }, "regions"],
    [{ verbose: "true" }, "verbose"],
    [{ proxy: "pr-1" }, "proxy"],
    [{ readinessProbe: { tcpPort: 80 } }, "readinessProbe"],
    [{ tags: ["a"] }, "tags"],
    [{ tags: { team: 1 } }, "tags"],
    [{ tags: { sandbox_managed: "false" } }, "tags"],
    [{ tags: { sandbox_owner_pid: "1" } }, "tags"],
    [{ experimentalOptions: { flag: 1 } }, "experimentalOptions"],
    [{ customDomain: 5 }, "customDomain"],
    [{ includeOidcIdentityToken: "yes" }, "includeOidcIdentityToken"],
    [{ experimentalEnableSnapshot: 1 }, "experimentalEnableSnapshot"],
    [{ experimentalEnableSnapshot: true, gpu: "T4" }, "experimentalEnableSnapshot"],
    [{ auth: { tokenId: "ak-1", tokenSecret: "" } }, "auth"],
    [{ client: {} }, "client"],
    [{ imageName: "" }, "imageName"],
    [{ unknownOption: true }, "unknownOption"],
  ])("%j -> INVALID_OPTIONS naming %s", (options, option) => {
    const { client, calls } = stubModalClient();
    const error = sandboxErrorThrownBy(
      () => new ModalSandbox({ ...(options as object), ...(option === "client" || option === "auth" ? {} : { client }) }),
      ModalSandboxError,
    );
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.details.option).toBe(option);
    expect(error.message).toMatch(/^invalid option/);
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect(calls).toEqual([]);
  });

  it("says why a timeoutMs that is not whole seconds is refused", () => {
    expect(sandboxErrorThrownBy(() => new ModalSandbox({ timeoutMs: 1500 }), ModalSandboxError).message).toContain("whole number of seconds");
  });

  it("never quotes a token value", () => {
    const error = sandboxErrorThrownBy(() => new ModalSandbox({ auth: { tokenId: "ak-visible", tokenSecret: "as secret with spaces" } }), ModalSandboxError);
    expect(error.message).not.toContain("as secret");
  });

  it("refuses auth together with client", () => {
    const { client } = stubModalClient();
    expect(sandboxErrorThrownBy(() => new ModalSandbox({ client, auth: { tokenId: "ak-1", tokenSecret: "as-1" } }), ModalSandboxError).details.option).toBe(
      "auth",
    );
  });
});

describe("toSandboxCreateParams: SDK create parameters and overlaps", () => {
  it("ports become encryptedPorts (TLS tunnels), merged with the SDK lists; a port already unencrypted or h2 stays there", () => {
    expect(toSandboxCreateParams({ ports: [8080, 3000] }, none, {}).encryptedPorts).toEqual([8080, 3000]);
    const params = toSandboxCreateParams({ ports: [8080, 9090, 7000], encryptedPorts: [443], unencryptedPorts: [9090], h2Ports: [7000] }, none, {});
    expect(params).toMatchObject({ encryptedPorts: [443, 8080], unencryptedPorts: [9090], h2Ports: [7000] });
    expect(toSandboxCreateParams({}, none, {}).encryptedPorts).toBeUndefined();
  });

  it("an explicit cpuLimit / memoryLimitMiB is the hard limit; cpu / memoryMiB alone is also the limit", () => {
    expect(toSandboxCreateParams({ cpu: 0.5, cpuLimit: 2, memoryMiB: 256, memoryLimitMiB: 1024 }, none, {})).toMatchObject({
      cpu: 0.5,
      cpuLimit: 2,
      memoryMiB: 256,
      memoryLimitMiB: 1024,
    });
    expect(toSandboxCreateParams({ cpu: 0.5, memoryMiB: 256 }, none, {})).toMatchObject({ cpu: 0.5, cpuLimit: 0.5, memoryMiB: 256, memoryLimitMiB: 256 });
  });

  it("adds the user's tags to the owner tags, owner tags last", () => {
    const params = toSandboxCreateParams({ tags: { team: "agents" } }, none, { [MODAL_TAGS.managed]: "true" });
    expect(params.tags).toEqual({ team: "agents", [MODAL_TAGS.managed]: "true" });
  });

  it("passes cidrAllowlist as outboundCidrAllowlist", () => {
    expect(toSandboxCreateParams({ cidrAllowlist: ["10.0.0.0/8"] }, none, {}).outboundCidrAllowlist).toEqual(["10.0.0.0/8"]);
  });

  it("passes every other SDK parameter as given", () => {
    const given = {
      runtime: "gvisor",
      idleTimeoutMs: 60_000,
      command: ["sleep", "60"],
      pty: true,
      encryptedPorts: [443],
      h2Ports: [8443],
      unencryptedPorts: [80],
      outboundCidrAllowlist: ["10.0.0.0/8"],
      outboundDomainAllowlist: ["*.example.com"],
      inboundCidrAllowlist: ["192.168.0.0/16"],
      i6pn: true,
      cloud: "aws",
      regions: ["us-east-1"],
      verbose: true,
      experimentalOptions: { flag: true },
      customDomain: "example.com",
      includeOidcIdentityToken: true,
      experimentalEnableSnapshot: true,
    } as const;
    expect(toSandboxCreateParams({ ...given, regions: [...given.regions] } as never, none, {})).toMatchObject(given);
  });
});

describe("SDK create parameters on the wire (stubbed control plane)", () => {
  it("reaches the create request: idle timeout, command, regions, cloud, limits, tags", async () => {
    const { client, calls } = stubModalClient();
    const sandbox = new ModalSandbox({
      client,
      idleTimeoutMs: 60_000,
      command: ["sleep", "60"],
      regions: ["us-east-1"],
      cloud: "aws",
      cpu: 0.5,
      cpuLimit: 1,
      memoryMiB: 256,
      memoryLimitMiB: 512,
      tags: { team: "agents" },
      verbose: true,
      customDomain: "example.com",
    });
    await sandbox.initialize();
    try {
      const create = calls.find((call) => call.method === "sandboxCreate" || call.method === "sandboxCreateV2")!;
      const definition = create.request.definition;
      expect(definition).toMatchObject({
        idleTimeoutSecs: 60,
        entrypointArgs: ["sleep", "60"],
        cloudProviderStr: "aws",
        verbose: true,
        customDomain: "example.com",
      });
      expect(definition.schedulerPlacement.regions).toEqual(["us-east-1"]);
      expect(definition.resources).toMatchObject({ milliCpu: 500, milliCpuMax: 1000, memoryMb: 256, memoryMbMax: 512 });
      expect(create.request.tags).toEqual(
        expect.arrayContaining([
          { tagName: "team", tagValue: "agents" },
          { tagName: MODAL_TAGS.managed, tagValue: "true" },
        ]),
      );
    } finally {
      await sandbox.close();
    }
  });
});

describe("create through the real SDK: what reaches the wire (stubbed control plane)", () => {
  const opened: ModalSandbox[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((sandbox) => sandbox.close()));
  });

  it("sends gpu A100:2 as gpuConfig { gpuType A100, count 2 } on the V1 family, with cpu, memory and lifetime", async () => {
    const { client, calls } = stubModalClient();
    const sandbox = new ModalSandbox({ client, gpu: "A100:2", cpu: 0.25, memoryMiB: 768, timeoutMs: 600_000 });
    opened.push(sandbox);
    await sandbox.initialize();
    expect(sandbox.id).toBe(V1_SANDBOX_ID);
    const create = calls.find((call) => call.method === "sandboxCreate");
    expect(create, "GPU sandboxes use the V1 create RPC").toBeDefined();
    expect(calls.some((call) => call.method === "sandboxCreateV2")).toBe(false);
    const definition = create!.request.definition;
    expect(definition.resources.gpuConfig).toMatchObject({ gpuType: "A100", count: 2 });
    expect(definition.resources).toMatchObject({ milliCpu: 250, milliCpuMax: 250, memoryMb: 768, memoryMbMax: 768 });
    expect(definition.timeoutSecs).toBe(600);
  });

  it("creates without a GPU on the V2 family: image, workdir, env, blockNetwork, name, volumes, secrets, tags", async () => {
    const { client, calls } = stubModalClient();
    const sandbox = new ModalSandbox({
      client,
      imageName: "python:3.12-slim",
      workdir: "/app",
      env: { GREETING: "hi" },
      blockNetwork: true,
      name: "named-one",
      volumes: { "/data": "my-data-volume" },
      secrets: ["my-api-keys"],
    });
    opened.push(sandbox);
    await sandbox.initialize();
    expect(sandbox.id).toBe(V2_SANDBOX_ID);
    expect(calls.find((call) => call.method === "appGetOrCreate")!.request).toMatchObject({ appName: DEFAULT_MODAL_APP_NAME, objectCreationType: 1 });
    expect(calls.find((call) => call.method === "imageGetOrCreate")!.request.image.dockerfileCommands).toEqual(["FROM python:3.12-slim"]);
    const volumeLookup = calls.find((call) => call.method === "volumeGetOrCreate")!.request;
    expect(volumeLookup).toMatchObject({ deploymentName: "my-data-volume", objectCreationType: 0 });
    const create = calls.find((call) => call.method === "sandboxCreateV2")!.request;
    expect(create.definition).toMatchObject({
      workdir: "/app",
      name: "named-one",
      timeoutSecs: 300,
      networkAccess: { networkAccessType: 2 },
      volumeMounts: [{ volumeId: "vo-my-data-volume", mountPath: "/data" }],
    });
    expect(create.secretSources).toEqual(
      expect.arrayContaining([expect.objectContaining({ secretId: "st-my-api-keys" }), expect.objectContaining({ env: { contents: { GREETING: "hi" } } })]),
    );
    const tags = Object.fromEntries(create.tags.map((tag: { tagName: string; tagValue: string }) => [tag.tagName, tag.tagValue]));
    expect(tags).toMatchObject({
      [MODAL_TAGS.managed]: "true",
      [MODAL_TAGS.provider]: "modal",
      [MODAL_TAGS.app]: DEFAULT_MODAL_APP_NAME,
      [MODAL_TAGS.ownerPid]: String(process.pid),
    });
    expect(Number(tags[MODAL_TAGS.expiresAt])).toBeGreaterThan(Date.now());
    expect(tags[MODAL_TAGS.runId]).toBeTruthy();
  });

  it("close() terminates the sandbox and leaves a client passed in open", async () => {
    const { client, calls } = stubModalClient();
    const closed: string[] = [];
    const originalClose = client.close.bind(client);
    client.close = () => {
      closed.push("client");
      originalClose();
    };
    const sandbox = new ModalSandbox({ client });
    await sandbox.initialize();
    await sandbox.close();
    expect(calls.some((call) => call.method === "sandboxTerminateV2")).toBe(true);
    expect(closed).toEqual([]);
  });
});
