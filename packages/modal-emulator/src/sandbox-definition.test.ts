import { LABELS } from "@sandbox/docker-engine";
import { ServerError, Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { MODAL_OBJECT_LABELS } from "./emulator-labels.js";
import type { SandboxDefinition } from "./modal-sdk-definitions.js";
import { CONTAINER_LIFETIME_GRACE_MS, checkSandboxDefinition, containerSpecOf, planVolumeMounts, reservationOf } from "./sandbox-definition.js";

const noGpu = { gpuAvailable: false };

async function statusOf(promise: Promise<unknown>): Promise<{ code: Status; details: string }> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ServerError);
  return { code: (error as ServerError).code, details: (error as ServerError).details };
}

describe("checkSandboxDefinition", () => {
  it("applies Modal's defaults: 300 s lifetime, no idle timeout, open network, no GPU, no ports", async () => {
    const checked = await checkSandboxDefinition({}, noGpu);
    expect(checked).toEqual({
      timeoutSecs: 300,
      idleTimeoutSecs: undefined,
      gpu: undefined,
      blockNetwork: false,
      allowlist: undefined,
      readinessProbe: undefined,
      openPorts: [],
      inboundCidrs: [],
      i6pn: false,
    });
  });

  it("keeps the timeouts, the blocked network and a GPU type asked for on a host with GPUs", async () => {
    const definition = {
      timeoutSecs: 42,
      idleTimeoutSecs: 7,
      networkAccess: { networkAccessType: 2 },
      resources: { gpuConfig: { gpuType: "A10G", count: 0 } },
    } as Partial<SandboxDefinition>;
    const checked = await checkSandboxDefinition(definition, { gpuAvailable: true });
    expect(checked).toMatchObject({ timeoutSecs: 42, idleTimeoutSecs: 7, blockNetwork: true, gpu: { count: 1, type: "A10G" } });
  });

  it("keeps the opened ports with their encryption and HTTP/2, for the tunnels", async () => {
    const definition = {
      openPorts: { ports: [{ port: 8080 }, { port: 9090, unencrypted: true }, { port: 8443, tunnelType: 1 }] },
    } as Partial<SandboxDefinition>;
    expect((await checkSandboxDefinition(definition, noGpu)).openPorts).toEqual([
      { port: 8080, unencrypted: false, h2: false },
      { port: 9090, unencrypted: true, h2: false },
      { port: 8443, unencrypted: false, h2: true },
    ]);
  });

  it("refuses a GPU on a host without one as RESOURCE_EXHAUSTED, naming the GPU", async () => {
    const definition = { resources: { gpuConfig: { gpuType: "H100", count: 2 } } } as Partial<SandboxDefinition>;
    const { code, details } = await statusOf(checkSandboxDefinition(definition, noGpu));
    expect(code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(details).toContain("H100:2");
  });

  it.each([
    ["cloudBucketMounts", { cloudBucketMounts: [{ bucketName: "b" }] }],
    ["i6pn", { i6pnEnabled: true, networkAccess: { networkAccessType: 2 } }],
    ["experimentalOptions.enable_docker", { experimentalOptionsV2: { enable_docker: "true" } }],
    ["experimentalOptions (gpu_snapshot)", { experimentalOptionsV2: { gpu_snapshot: "true" } }],
    ["readinessProbe needs", { readinessProbe: {} }],
    ["Invalid port 0", { openPorts: { ports: [{ port: 0 }] } }],
    ["Port 8080 is opened twice", { openPorts: { ports: [{ port: 8080 }, { port: 8080, unencrypted: true }] } }],
    ["blockNetwork has no network", { openPorts: { ports: [{ port: 8080 }] }, networkAccess: { networkAccessType: 2 } }],
  ])("refuses %s as INVALID_ARGUMENT, naming it", async (named, fields) => {
    const { code, details } = await statusOf(checkSandboxDefinition(fields as Partial<SandboxDefinition>, noGpu));
    expect(code).toBe(Status.INVALID_ARGUMENT);
    expect(details).toContain(named);
  });
});

describe("planVolumeMounts", () => {
  const volume = { volumeId: "vo-1", name: "data", environmentName: "main", dockerVolumeName: "docker-vo-1" };

  it("resolves each mount to its volume and normalises subPath", () => {
    const definition = { volumeMounts: [{ volumeId: "vo-1", mountPath: "/data", readOnly: true, subPath: "/a/b/" }] } as Partial<SandboxDefinition>;
    expect(planVolumeMounts(definition, () => volume)).toEqual([{ volume, mountPath: "/data", readOnly: true, subPath: "a/b" }]);
  });

  it("refuses a missing volume (NOT_FOUND) and a subPath leaving the volume (INVALID_ARGUMENT)", () => {
    const missing = { volumeMounts: [{ volumeId: "vo-missing", mountPath: "/data" }] } as Partial<SandboxDefinition>;
    expect(() => planVolumeMounts(missing, () => undefined)).toThrow(expect.objectContaining({ code: Status.NOT_FOUND }));
    const escaping = { volumeMounts: [{ volumeId: "vo-1", mountPath: "/data", subPath: "a/../../etc" }] } as Partial<SandboxDefinition>;
    expect(() => planVolumeMounts(escaping, () => volume)).toThrow(expect.objectContaining({ code: Status.INVALID_ARGUMENT }));
  });
});

describe("containerSpecOf", () => {
  it("turns limits into hard limits, the timeout into a lifetime with grace, and labels the sandbox", async () => {
    const definition = {
      workdir: "/work",
      timeoutSecs: 60,
      resources: { milliCpu: 250, milliCpuMax: 1500, memoryMb: 128, memoryMbMax: 512 },
    } as Partial<SandboxDefinition>;
    const checked = await checkSandboxDefinition(definition, noGpu);
    const spec = containerSpecOf({
      sandboxId: "sb-1",
      appId: "ap-1",
      dockerImage: "sandbox-busybox:latest",
      definition,
      checked,
      environment: { A: "1" },
      labels: { owner: "test" },
      volumes: [{ volumeName: "v", mountPath: "/data", readOnly: false }],
      nowMs: 1_000,
    });
    const lifetimeMs = 60_000 + CONTAINER_LIFETIME_GRACE_MS;
    expect(spec).toEqual({
      image: "sandbox-busybox:latest",
      name: "modal-emulator-sb-1",
      labels: { owner: "test", [MODAL_OBJECT_LABELS.sandboxId]: "sb-1", [MODAL_OBJECT_LABELS.appId]: "ap-1", [LABELS.expiresAt]: String(1_000 + lifetimeMs) },
      env: { A: "1" },
      workdir: "/work",
      cpu: 1.5,
      memoryMiB: 512,
      blockNetwork: false,
      volumes: [{ volumeName: "v", mountPath: "/data", readOnly: false }],
      lifetimeMs,
    });
    // The requests become reservations, set after create.
    expect(reservationOf(definition)).toEqual({ CpuShares: 256, MemoryReservation: 128 * 1024 * 1024 });
  });

  it("leaves a memory request equal to the limit to the limit (Docker refuses such a reservation)", () => {
    expect(reservationOf({ resources: { memoryMb: 512, memoryMbMax: 512 } } as Partial<SandboxDefinition>)).toBeUndefined();
  });
});
