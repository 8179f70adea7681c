import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseCpuLimit, parseMemoryLimit, parseNetworkProbe, parseProcessList, shellQuote, sleepMarker, uniqueSleepSeconds } from "./sandbox-probes.js";

// Outputs captured from the busybox image on a Docker engine (cgroup v1).
const NETWORK_DEFAULT = `sys eth0 0x1003
sys lo 0x9
dev lo
dev eth0
route4 eth0 00000000 00000000
route4 eth0 000011AC 0000FFFF
route6 lo 00000000000000000000000000000000 00
route6 lo 00000000000000000000000000000000 00
`;
const NETWORK_NONE = `sys lo 0x9
dev lo
route6 lo 00000000000000000000000000000000 00
route6 lo 00000000000000000000000000000000 00
`;

describe("shellQuote", () => {
  it("quotes any text as one word for sh", () => {
    const words = ["plain", "with space", "it's", 'say "hi"', "$HOME `id` $(id)", "new\nline", "", "\\", "'''"];
    for (const word of words) {
      const printed = execFileSync("sh", ["-c", `printf '%s' ${shellQuote(word)}`], { encoding: "utf8" });
      expect(printed).toBe(word);
    }
  });
});

describe("parseProcessList", () => {
  it("keeps lines that start with a pid, from busybox and procps alike", () => {
    const busybox = "PID   COMMAND\n    1 sleep 300\n   12 sh -c sleep 31234; echo\n   20 {ps} sh -c x\n";
    const procps = "    PID COMMAND\n      1 /sbin/docker-init -- sleep 300\n     45 sleep 31234\n";
    expect(parseProcessList(busybox).map((process) => process.pid)).toEqual([1, 12, 20]);
    expect(parseProcessList(procps).map((process) => process.line)).toEqual(["1 /sbin/docker-init -- sleep 300", "45 sleep 31234"]);
  });
});

describe("sleepMarker", () => {
  it("matches the marker and not a longer number", () => {
    expect(sleepMarker(31234).test("45 sleep 31234")).toBe(true);
    expect(sleepMarker(31234).test("12 sh -c sleep 31234; echo")).toBe(true);
    expect(sleepMarker(31234).test("45 sleep 312345")).toBe(false);
    expect(sleepMarker(31234).test("45 [sleep]")).toBe(false);
  });

  it("hands out distinct markers", () => {
    const markers = new Set(Array.from({ length: 100 }, () => uniqueSleepSeconds()));
    expect(markers.size).toBe(100);
  });
});

describe("parseNetworkProbe", () => {
  it("sees an up eth0 and its default route on a default network", () => {
    const probe = parseNetworkProbe(NETWORK_DEFAULT);
    expect(probe.activeInterfaces).toEqual(["eth0"]);
    expect(probe.defaultRoutes).toEqual(["ipv4 default via eth0"]);
  });

  it("sees only loopback and no default route with no network", () => {
    const probe = parseNetworkProbe(NETWORK_NONE);
    expect(probe.interfaces).toEqual(["lo"]);
    expect(probe.activeInterfaces).toEqual([]);
    expect(probe.defaultRoutes).toEqual([]);
  });

  it("counts an interface whose flags cannot be read as active, and finds IPv6 default routes", () => {
    const probe = parseNetworkProbe("dev lo\ndev eth1\nroute6 eth1 00000000000000000000000000000000 00\n");
    expect(probe.activeInterfaces).toEqual(["eth1"]);
    expect(probe.defaultRoutes).toEqual(["ipv6 default via eth1"]);
  });

  it("does not count a non-loopback interface that is down", () => {
    expect(parseNetworkProbe("sys lo 0x9\nsys eth0 0x1002\n").activeInterfaces).toEqual([]);
  });
});

describe("cgroup readings", () => {
  it("reads memory limits of cgroup v1 and v2, and unlimited", () => {
    expect(parseMemoryLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes 268435456\n").value).toBe(268_435_456);
    expect(parseMemoryLimit("/sys/fs/cgroup/memory.max 134217728\n").value).toBe(134_217_728);
    expect(parseMemoryLimit("/sys/fs/cgroup/memory.max max\n").value).toBe(Number.POSITIVE_INFINITY);
    expect(parseMemoryLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes 9223372036854771712\n").value).toBe(Number.POSITIVE_INFINITY);
    expect(parseMemoryLimit("").value).toBeNull();
  });

  it("reads CPU quotas of cgroup v1 and v2, and unlimited", () => {
    expect(parseCpuLimit("v1 50000 100000\n").value).toBe(0.5);
    expect(parseCpuLimit("v2 150000 100000\n").value).toBe(1.5);
    expect(parseCpuLimit("v2 max 100000\n").value).toBe(Number.POSITIVE_INFINITY);
    expect(parseCpuLimit("v1 -1 100000\n").value).toBe(Number.POSITIVE_INFINITY);
    expect(parseCpuLimit("").value).toBeNull();
  });
});
