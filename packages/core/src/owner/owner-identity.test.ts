import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { currentOwner, ownerIsGone, processStart } from "./owner-identity.js";

const self = currentOwner();
const labelsFor = (pid: number, start: string, host = self.host) => ({ host, pid: String(pid), start });

describe("owner identity", () => {
  it("records host, pid and a boot-qualified start time", () => {
    expect(self.pid).toBe(process.pid);
    expect(self.start).toMatch(/^[0-9a-f-]+:\d+$/);
  });

  it("judges a live owner alive", () => {
    expect(ownerIsGone(labelsFor(process.pid, self.start))).toBe(false);
  });

  it("judges a dead pid gone", () => {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const pid = Number(child.stdout.toString());
    expect(processStart(pid)).toBeNull();
    expect(ownerIsGone(labelsFor(pid, self.start))).toBe(true);
  });

  it("judges a reused pid (other start time) gone", () => {
    const [boot] = self.start.split(":");
    expect(ownerIsGone(labelsFor(process.pid, `${boot}:1`))).toBe(true);
  });

  it("judges an owner from before a reboot gone", () => {
    const [, ticks] = self.start.split(":");
    expect(ownerIsGone(labelsFor(process.pid, `00000000-other-boot:${ticks}`))).toBe(true);
  });

  it("never judges an owner on another host gone", () => {
    expect(ownerIsGone(labelsFor(999_999_999, self.start, "some-other-host"))).toBe(false);
  });

  it("keeps sandboxes whose labels say nothing provable", () => {
    expect(ownerIsGone({ host: self.host, pid: "not-a-pid" })).toBe(false);
  });
});
