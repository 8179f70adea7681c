import { ModalClient } from "modal";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLIENT_IDLE_MS, sharedModalClients } from "../src/client-pool.js";
import { ModalSandbox, ModalSandboxError } from "../src/index.js";
import { dockerAvailable, EMULATOR_TOKEN_ID, EMULATOR_TOKEN_SECRET, useEmulatorSession } from "./support/emulator.js";
import { runSupportScript } from "./support/run-child.js";

/*
 * One ModalClient per set of credentials, shared by the handles built with
 * them, with its App and image lookups: counted from the emulator's own log
 * of the RPCs it received, through the real modal SDK.
 */

const withDocker = await dockerAvailable();
const app = (label: string) => `client-sharing-${label}-${process.pid}`;

/** How many calls of each method `calls` holds, by the method's name (`AppGetOrCreate`). */
function countByMethod(calls: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const path of calls) {
    const method = path.slice(path.lastIndexOf("/") + 1);
    counts[method] = (counts[method] ?? 0) + 1;
  }
  return counts;
}

describe.runIf(withDocker)("a ModalClient shared per credentials (needs a Docker engine)", () => {
  const session = useEmulatorSession();
  const opened: ModalSandbox[] = [];
  const open = async (options: ConstructorParameters<typeof ModalSandbox>[0]) => {
    const sandbox = await ModalSandbox.create(options);
    opened.push(sandbox);
    return sandbox;
  };
  /** The RPCs the emulator received while `work` ran, counted by method. */
  const during = async (work: () => Promise<unknown>) => {
    const before = (await session().calls()).length;
    await work();
    return countByMethod((await session().calls()).slice(before));
  };

  // Each test starts without shared clients: the previous test's are closed (soon) here.
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(opened.splice(0).map((sandbox) => sandbox.close().catch(() => undefined)));
    sharedModalClients.closeIdle();
    expect(sharedModalClients.size).toBe(0);
    sharedModalClients.idleMs = CLIENT_IDLE_MS;
  });

  it("sandboxes with the same credentials share one client: a second create makes no auth, App or image call", async () => {
    const first = await open({ appName: app("same") });
    let second: ModalSandbox | undefined;
    const calls = await during(async () => {
      second = await open({ appName: app("same") });
    });
    expect(second!.client).toBe(first.client);
    expect((calls.SandboxCreateV2 ?? 0) + (calls.SandboxCreate ?? 0)).toBe(1);
    expect(calls.AuthTokenGet ?? 0, "no new auth token").toBe(0);
    expect(calls.AppGetOrCreate ?? 0, "the App is looked up once per client").toBe(0);
    expect(calls.ImageGetOrCreate ?? 0, "the built image is reused").toBe(0);
    expect((await second!.execute("echo ok")).output).toBe("ok\n");

    // A burst on a new App: one lookup shared by the creates in flight.
    const burst = await during(() => Promise.all([0, 1, 2].map(() => open({ appName: app("burst") }))));
    expect(burst.AppGetOrCreate).toBe(1);
    expect(burst.ImageGetOrCreate ?? 0).toBe(0);
    expect(new Set(opened.map((sandbox) => sandbox.client)).size).toBe(1);
  });

  it("other credentials get their own client: a refused secret fails although a valid client is shared", async () => {
    const valid = await open({ appName: app("other") });
    const error = await ModalSandbox.create({ appName: app("other"), auth: { tokenSecret: "as-not-the-emulators" } }).then(
      (sandbox) => {
        opened.push(sandbox);
        return undefined;
      },
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ModalSandboxError);
    expect((error as ModalSandboxError).code).toBe("AUTHENTICATION_FAILED");
    expect((error as ModalSandboxError).message).not.toContain("as-not-the-emulators");
    // The same tokens given through auth are another key: a client of their own, which works.
    const explicit = await open({ appName: app("other"), auth: { tokenId: EMULATOR_TOKEN_ID, tokenSecret: EMULATOR_TOKEN_SECRET } });
    expect(explicit.client).not.toBe(valid.client);
    expect((await explicit.execute("echo ok")).output).toBe("ok\n");
  });

  it("the last close closes the shared client after the idle time, not before; the next create builds a new one", async () => {
    sharedModalClients.idleMs = 400;
    const close = vi.spyOn(ModalClient.prototype, "close");
    const first = await open({ appName: app("idle") });
    const second = await open({ appName: app("idle") });
    const client = first.client;
    await first.close();
    await second.close();
    expect(close, "closed while idle for less than idleMs").not.toHaveBeenCalled();
    await vi.waitFor(() => expect(close).toHaveBeenCalledTimes(1), { timeout: 5_000, interval: 50 });
    expect(close.mock.contexts[0]).toBe(client);
    expect(sharedModalClients.size).toBe(0);
    let next: ModalSandbox | undefined;
    const calls = await during(async () => {
      next = await open({ appName: app("idle") });
    });
    expect(next!.client).not.toBe(client);
    expect(calls.AuthTokenGet, "a new client fetches its own auth token").toBe(1);
    expect(calls.AppGetOrCreate, "and looks the App up again").toBe(1);
  });

  it("a create during the idle time reuses the client and cancels its close", async () => {
    sharedModalClients.idleMs = 400;
    const close = vi.spyOn(ModalClient.prototype, "close");
    const first = await open({ appName: app("reuse") });
    const client = first.client;
    await first.close();
    const again = await open({ appName: app("reuse") });
    expect(again.client).toBe(client);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(close).not.toHaveBeenCalled();
    expect((await again.execute("echo ok")).output).toBe("ok\n");
  });

  it("a client passed in is never closed, and its App and image are looked up once", async () => {
    sharedModalClients.idleMs = 100;
    const client = new ModalClient({ logLevel: "error" });
    const close = vi.spyOn(client, "close");
    try {
      const first = await open({ client, appName: app("passed") });
      const calls = await during(() => open({ client, appName: app("passed") }));
      expect(calls.AppGetOrCreate ?? 0).toBe(0);
      expect(calls.ImageGetOrCreate ?? 0).toBe(0);
      expect(first.client).toBe(client);
      await Promise.all(opened.splice(0).map((sandbox) => sandbox.close()));
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(close).not.toHaveBeenCalled();
    } finally {
      client.close();
    }
  });

  it("a process that created and closed a sandbox exits by itself at once, before the idle time", { timeout: 90_000 }, async () => {
    const exit = await runSupportScript(new URL("./support/create-and-close.ts", import.meta.url), [app("child")]);
    const { stdout, stderr } = exit;
    expect(exit.code, `the process did not exit on its own after close(); stderr:\n${stderr}`).toBe(0);
    const closedAt = Number(/^ok closed-at (\d+)$/m.exec(stdout)?.[1]);
    expect(closedAt, `stdout: ${stdout}`).toBeGreaterThan(0);
    expect(exit.atMs - closedAt, "the idle timer of the shared client kept the process alive").toBeLessThan(CLIENT_IDLE_MS / 2);
  });
});
