import { spawnSync } from "node:child_process";
import { ModalClient, type Sandbox } from "modal";
import { afterAll, describe, expect, it } from "vitest";
import { MODAL_TAGS, ModalSandbox, reap } from "../src/index.js";
import { currentOwner, DETACHED_OWNER, ownerTags } from "../src/owner-tags.js";
import { dockerAvailable, useEmulatorSession } from "./support/emulator.js";

/*
 * Tags and reap() against @sandbox/modal-emulator: sandboxes of a dead owner
 * and expired ones are terminated, in both RPC families (V2, and V1 as GPU
 * sandboxes or MODAL_SANDBOX_V2=0 create them); a live owner's are kept.
 * Real SDK, real gRPC, real containers; no mocks.
 */

const withDocker = await dockerAvailable();
const appName = `reap-${process.pid}`;

/** The pid of a process that has exited. */
function deadPid(): number {
  const finished = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(finished.stdout);
}

describe.runIf(withDocker)("tags and reap() through @sandbox/modal-emulator (needs a Docker engine)", () => {
  useEmulatorSession();
  const opened: Array<{ terminate(): Promise<unknown> }> = [];
  // Registered after the session's hooks, so it runs before the emulator stops.
  afterAll(async () => {
    await Promise.all(opened.map((sandbox) => sandbox.terminate().catch(() => undefined)));
  }, 120_000);

  /** Creates a sandbox with the raw SDK and the given tags; V1 when `v1`. */
  async function rawSandbox(tags: Record<string, string>, v1 = false): Promise<Sandbox> {
    const saved = process.env.MODAL_SANDBOX_V2;
    if (v1) process.env.MODAL_SANDBOX_V2 = "0";
    const client = new ModalClient({ logLevel: "error" });
    if (saved === undefined) delete process.env.MODAL_SANDBOX_V2;
    else process.env.MODAL_SANDBOX_V2 = saved;
    const app = await client.apps.fromName(appName, { createIfMissing: true });
    const sandbox = await client.sandboxes.create(app, client.images.fromRegistry("alpine:3.21"), { tags, timeoutMs: 600_000 });
    opened.push(sandbox);
    return sandbox;
  }

  it("detach() hands the sandbox over: reap() keeps it once the owner is gone, until it expires", async () => {
    const sandbox = await ModalSandbox.create({ appName, timeoutMs: 120_000 });
    const id = sandbox.id;
    // Stand in for a creator process that detaches and then exits.
    await sandbox.instance.setTags({ ...(await sandbox.instance.getTags()), [MODAL_TAGS.ownerPid]: String(deadPid()) });
    await sandbox.detach();
    const again = await ModalSandbox.fromId(id);
    try {
      const tags = await again.instance.getTags();
      expect(tags[MODAL_TAGS.ownerPid]).toBe(DETACHED_OWNER);
      const report = await reap({ appName });
      expect(report.terminated.map((entry: { id: string }) => entry.id)).not.toContain(id);
      expect((await again.execute("echo still-here")).output).toBe("still-here\n");
    } finally {
      await again.close();
    }
  });

  it("tags every sandbox with owner, run and expiry", async () => {
    const sandbox = await ModalSandbox.create({ appName, timeoutMs: 120_000 });
    try {
      const tags = await sandbox.instance.getTags();
      // Every tag this process would give a sandbox, the expiry aside (checked against the clock below).
      const { [MODAL_TAGS.expiresAt]: _expiry, ...expected } = ownerTags(appName, 120_000);
      expect(tags).toMatchObject(expected);
      const owner = currentOwner();
      expect([tags[MODAL_TAGS.managed], tags[MODAL_TAGS.ownerPid], tags[MODAL_TAGS.ownerStart]]).toEqual(["true", String(owner.pid), owner.start]);
      const expiresAt = Number(tags[MODAL_TAGS.expiresAt]);
      expect(expiresAt).toBeGreaterThan(Date.now() + 100_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
    } finally {
      await sandbox.close();
    }
  });

  it("terminates expired and orphaned sandboxes of both families, keeps a live owner's", async () => {
    const live = ownerTags(appName, 600_000);
    const orphanTags = { ...live, [MODAL_TAGS.ownerPid]: String(deadPid()) };
    const expiredTags = { ...live, [MODAL_TAGS.expiresAt]: String(Date.now() - 1000) };
    const [orphanV2, orphanV1, expiredV2, keptV2, foreign] = await Promise.all([
      rawSandbox(orphanTags),
      rawSandbox(orphanTags, true),
      rawSandbox(expiredTags),
      rawSandbox(live),
      rawSandbox({ owner: "someone else" }),
    ]);
    expect(orphanV1.sandboxId).toMatch(/^sb-[A-Za-z0-9]{22}$/);

    const report = await reap({ appName });
    const byId = new Map(report.terminated.map((entry) => [entry.id, entry.reason]));
    expect(byId.get(orphanV2.sandboxId)).toBe("owner-gone");
    expect(byId.get(orphanV1.sandboxId)).toBe("owner-gone");
    expect(byId.get(expiredV2.sandboxId)).toBe("expired");
    expect(byId.has(keptV2.sandboxId)).toBe(false);
    expect(byId.has(foreign.sandboxId), "sandboxes without this project's tags are never touched").toBe(false);
    expect(report.kept).toBeGreaterThanOrEqual(1);

    expect(await orphanV2.poll()).not.toBeNull();
    expect(await orphanV1.poll()).not.toBeNull();
    expect(await expiredV2.poll()).not.toBeNull();
    expect(await keptV2.poll()).toBeNull();
    expect(await foreign.poll()).toBeNull();
  });

  it("reap() of an app that does not exist terminates nothing", async () => {
    expect(await reap({ appName: `no-such-app-${process.pid}` })).toEqual({ terminated: [], kept: 0 });
  });
});
