import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { LocalDockerSandbox } from "../src/index.js";

const available = await engineAvailable();

describe.runIf(available)("ports on a real engine (skipped when no Docker engine answers)", () => {
  it("publishes declared ports on 127.0.0.1 only, each on a random host port, seen by a fromId handle too", { timeout: 120_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, timeoutMs: 60_000, ports: [8080, 9090] });
    try {
      const info = await sandbox.container.inspect();
      const bindings = info.HostConfig.PortBindings as Record<string, Array<{ HostIp: string; HostPort: string }>>;
      expect(Object.keys(bindings).sort()).toEqual(["8080/tcp", "9090/tcp"]);
      for (const hosts of Object.values(bindings))
        for (const host of hosts) expect(host.HostIp, "a port must never be published beyond loopback").toBe("127.0.0.1");
      const published = info.NetworkSettings.Ports as Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
      for (const hosts of Object.values(published)) for (const host of hosts ?? []) expect(host.HostIp).toBe("127.0.0.1");
      const urls = await sandbox.portUrls();
      expect(Object.keys(urls).map(Number).sort()).toEqual([8080, 9090]);
      for (const url of Object.values(urls)) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const again = await LocalDockerSandbox.fromId(sandbox.id);
      try {
        expect(await again.portUrl(8080)).toBe(urls[8080]);
      } finally {
        await again.detach();
      }
    } finally {
      await sandbox.close();
    }
  });
});
