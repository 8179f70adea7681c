import { runConformanceSuite } from "@sandbox/core/conformance";
import { ModalClient } from "modal";
import { afterAll, beforeAll, describe } from "vitest";
import { ModalSandbox, type ModalSandboxOptions } from "../src/index.js";
import { dockerAvailable, type EmulatorSession, isLoopbackUrl, startEmulatorSession } from "./support/emulator.js";

/*
 * The whole @sandbox/core conformance suite against ModalSandbox, twice:
 *
 * 1. through @sandbox/modal-emulator: the real modal@0.11.1 SDK over real
 *    gRPC to an offline Modal whose sandboxes are Docker containers. Needs a
 *    Docker engine (and the offline images of scripts/build-offline-images.sh);
 *    skipped without one, a failure under CI.
 * 2. against real Modal, only when MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are
 *    set and MODAL_SERVER_URL does not point at this machine. Never replaced
 *    by a mock: without credentials it is skipped, and says so.
 *
 * No vi.mock anywhere: every call reaches a server.
 */

const withDocker = await dockerAvailable();
const realModal = Boolean(process.env.MODAL_TOKEN_ID && process.env.MODAL_TOKEN_SECRET) && !isLoopbackUrl(process.env.MODAL_SERVER_URL);
const appName = `conformance-${process.pid}`;

describe.runIf(withDocker)("@sandbox/modal through @sandbox/modal-emulator (needs a Docker engine)", () => {
  let session: EmulatorSession | undefined;
  const ready = () => {
    if (!session) throw new Error("the emulator did not start (see beforeAll)");
    return session;
  };
  beforeAll(async () => {
    session = await startEmulatorSession();
  }, 120_000);
  afterAll(async () => {
    await session?.stop();
  }, 120_000);

  const options = (extra: ModalSandboxOptions = {}): ModalSandboxOptions => ({ appName, ...extra });
  runConformanceSuite<ModalSandbox>({
    name: "modal (emulator)",
    create: (extra) => ModalSandbox.create(options(extra)),
    construct: (extra) => new ModalSandbox(options(extra)),
    fromId: (id) => ModalSandbox.fromId(id),
    fromName: (app, name) => ModalSandbox.fromName(app, name),
    appName,
    exists: (id) => ready().exists(id),
    fixtures: {
      async createVolume(name) {
        await ready().rawClient.volumes.fromName(name, { createIfMissing: true });
      },
      async deleteVolume(name) {
        await ready().rawClient.volumes.delete(name);
      },
      async createSecret(name, values) {
        await ready().putSecret(name, values);
      },
      createWithBadCredentials: () => ModalSandbox.create(options({ auth: { tokenId: "ak-refused", tokenSecret: "as-refused-secret" } })),
      createWithMissingVolume: () => ModalSandbox.create(options({ volumes: { "/data": `missing-volume-${process.pid}` } })),
    },
    unavailable: { gpu: "the emulator has no GPUs (it refuses GPU requests with RESOURCE_EXHAUSTED)" },
    // As @langchain/modal: id is a provisional placeholder until initialize().
    idBeforeInitialize: "provisional",
    // Ten seconds: a lifetime the emulator enforces with room for container start on a busy 2-core machine.
    timeouts: { createMs: 60_000, lifetimeMs: 10_000, teardownMs: 30_000 },
  });
});

// Without credentials every case of this block is reported as skipped under a title that says what it needs.
describe.runIf(realModal)("@sandbox/modal against real Modal (runs when MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are set and MODAL_SERVER_URL is unset)", () => {
  let probeClient: ModalClient | undefined;
  const client = () => (probeClient ??= new ModalClient({ logLevel: "error" }));
  afterAll(() => probeClient?.close());

  const options = (extra: ModalSandboxOptions = {}): ModalSandboxOptions => ({ appName, ...extra });
  runConformanceSuite<ModalSandbox>({
    name: "modal (real)",
    create: (extra) => ModalSandbox.create(options(extra)),
    construct: (extra) => new ModalSandbox(options(extra)),
    fromId: (id) => ModalSandbox.fromId(id),
    fromName: (app, name) => ModalSandbox.fromName(app, name),
    appName,
    // Probe through the raw SDK, not the adapter: a running sandbox answers poll() with null.
    async exists(id) {
      const sandbox = await client().sandboxes.fromId(id);
      try {
        return (await sandbox.poll()) === null;
      } catch {
        return false;
      } finally {
        sandbox.detach();
      }
    },
    fixtures: {
      async createVolume(name) {
        await client().volumes.fromName(name, { createIfMissing: true });
      },
      async deleteVolume(name) {
        await client().volumes.delete(name);
      },
      createWithBadCredentials: () => ModalSandbox.create(options({ auth: { tokenId: "ak-refused", tokenSecret: "as-refused-secret" } })),
      createWithMissingVolume: () => ModalSandbox.create(options({ volumes: { "/data": `missing-volume-${process.pid}-${Date.now()}` } })),
    },
    unavailable: {
      gpu: "GPU sandboxes are billed; this run does not ask for one",
      secrets: "named Modal Secrets cannot be created from the JS SDK, so the suite cannot seed one",
    },
    timeouts: { createMs: 120_000, lifetimeMs: 10_000, teardownMs: 60_000 },
    idBeforeInitialize: "provisional",
  });
});
