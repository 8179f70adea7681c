import type { SandboxOptions } from "@sandbox/core";
import { type ConformanceShard, runConformanceSuite } from "@sandbox/core/conformance";
import { ModalClient } from "modal";
import { afterAll, describe } from "vitest";
import { ModalSandbox, type ModalSandboxOptions } from "../../src/index.js";
import { dockerAvailable, isLoopbackUrl, useEmulatorSession } from "./emulator.js";

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
 * No vi.mock anywhere: every call reaches a server. Each run is split into
 * shards, one `modal.<index>.conformance.test.ts` file per shard (three: through
 * the emulator the 100 MiB transfers of "files" weigh more than on local-docker), so that
 * vitest runs them in parallel (each file with its own emulator); together
 * the shards register every group of the suite once.
 */
export async function modalConformance(shard: ConformanceShard): Promise<void> {
  const withDocker = await dockerAvailable();
  const realModal = Boolean(process.env.MODAL_TOKEN_ID && process.env.MODAL_TOKEN_SECRET) && !isLoopbackUrl(process.env.MODAL_SERVER_URL);
  const appName = `conformance-${process.pid}`;
  const part = `${shard.index}/${shard.count}`;

  const options = (extra: ModalSandboxOptions = {}): ModalSandboxOptions => ({ appName, ...extra });

  /** What both runs share: how the suite creates, constructs and reconnects sandboxes. */
  const adapterCalls = {
    create: (extra?: SandboxOptions) => ModalSandbox.create(options(extra)),
    construct: (extra?: SandboxOptions) => new ModalSandbox(options(extra)),
    fromId: (id: string) => ModalSandbox.fromId(id),
    fromName: (app: string, name: string) => ModalSandbox.fromName(app, name),
    appName,
    // As @langchain/modal: id is a provisional placeholder until initialize().
    idBeforeInitialize: "provisional" as const,
  };

  describe.runIf(withDocker)("@sandbox/modal through @sandbox/modal-emulator (needs a Docker engine)", () => {
    const ready = useEmulatorSession();

    runConformanceSuite<ModalSandbox>(
      {
        name: `modal (emulator, ${part})`,
        ...adapterCalls,
        exists: (id) => ready().exists(id),
        // Another client ends the sandbox, as a user in the Modal dashboard would.
        async killFromOutside(id) {
          const other = await ready().rawClient.sandboxes.fromId(id);
          try {
            await other.terminate();
          } finally {
            other.detach();
          }
        },
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
        // Ten seconds: a lifetime the emulator enforces with room for container start on a busy 2-core machine.
        timeouts: { createMs: 60_000, lifetimeMs: 10_000, teardownMs: 30_000 },
      },
      { shard },
    );
  });

  // Without credentials every case of this block is reported as skipped under a title that says what it needs.
  describe.runIf(realModal)("@sandbox/modal against real Modal (runs when MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are set and MODAL_SERVER_URL is unset)", () => {
    let probeClient: ModalClient | undefined;
    const client = () => (probeClient ??= new ModalClient({ logLevel: "error" }));
    afterAll(() => probeClient?.close());

    runConformanceSuite<ModalSandbox>(
      {
        name: `modal (real, ${part})`,
        ...adapterCalls,
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
      },
      { shard },
    );
  });
}
