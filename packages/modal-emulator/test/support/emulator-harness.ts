import { DockerEngine } from "@sandbox/docker-engine";
import { dockerEngineAvailable } from "@sandbox/test-support";
import { type App, type Image, ModalClient, type Sandbox, type SandboxExecParams } from "modal";
import { afterAll, beforeAll, expect } from "vitest";
import { INSTANCE_LABEL, type ModalEmulator, type ModalEmulatorOptions, startModalEmulator } from "../../src/index.js";

/*
 * The start-up every emulator integration file shares: one emulator, a real
 * modal@0.11.1 SDK client pointed at it, an app, and at the end every tracked
 * sandbox terminated, every client closed, the emulator stopped and nothing of
 * it left on the engine (containers, volumes, networks, images).
 */

/** The engine the emulator's containers run on, for assertions on them. */
export const engine = new DockerEngine();
/** Whether a Docker engine answers; under CI a missing one throws (a CI run never skips these files). */
export const engineReachable = await dockerEngineAvailable();

export interface EmulatorHarnessOptions {
  /** The app every test of the file creates its sandboxes in. */
  appName: string;
  /** Emulator options besides the credentials. */
  emulator?: Omit<ModalEmulatorOptions, "tokenId" | "tokenSecret">;
}

export interface EmulatorHarness {
  readonly tokenId: string;
  readonly tokenSecret: string;
  readonly emulator: ModalEmulator;
  /** A V2 client (the SDK's default) with the emulator's credentials. */
  readonly modal: ModalClient;
  readonly app: App;
  /**
   * Another client of this emulator, closed at the end. The SDK reads `MODAL_*`
   * variables when a client is constructed: `environment` is set for that
   * moment only (`undefined` unsets); `MODAL_SERVER_URL` defaults to the emulator.
   */
  client(environment?: Record<string, string | undefined>, credentials?: { tokenId?: string; tokenSecret?: string }): ModalClient;
  /** `modal.images.fromRegistry(tag)`, one Image per tag for the whole file (so it is built once). */
  image(tag: string): Image;
  /** Terminates the sandbox at the end of the file (the emulator removes it anyway; this keeps the order Modal code sees). */
  track<T extends Sandbox>(sandbox: T): T;
}

/** Constructs a ModalClient while `environment` is set in `process.env`, then restores it. */
export function clientWith(environment: Record<string, string | undefined>, credentials: { tokenId: string; tokenSecret: string }): ModalClient {
  const saved = Object.fromEntries(Object.keys(environment).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(environment);
  try {
    return new ModalClient({ ...credentials, logLevel: "error" });
  } finally {
    apply(saved);
  }
}

/**
 * Registers the file's `beforeAll` / `afterAll` (call it inside the
 * `describe`) and returns the harness; its fields are set once `beforeAll` ran.
 */
export function useModalEmulator(options: EmulatorHarnessOptions): EmulatorHarness {
  const tokenId = `ak-${options.appName}`;
  const tokenSecret = `as-${options.appName}-secret`;
  const clients: ModalClient[] = [];
  const sandboxes: Sandbox[] = [];
  const images = new Map<string, Image>();
  let started: { emulator: ModalEmulator; modal: ModalClient; app: App } | undefined;
  const current = () => {
    if (!started) throw new Error("the emulator harness is used before its beforeAll ran");
    return started;
  };
  const harness: EmulatorHarness = {
    tokenId,
    tokenSecret,
    get emulator() {
      return current().emulator;
    },
    get modal() {
      return current().modal;
    },
    get app() {
      return current().app;
    },
    client(environment = {}, credentials = {}) {
      const client = clientWith(
        { MODAL_SERVER_URL: current().emulator.url, ...environment },
        { tokenId: credentials.tokenId ?? tokenId, tokenSecret: credentials.tokenSecret ?? tokenSecret },
      );
      clients.push(client);
      return client;
    },
    image(tag) {
      let image = images.get(tag);
      if (!image) {
        image = current().modal.images.fromRegistry(tag);
        images.set(tag, image);
      }
      return image;
    },
    track(sandbox) {
      sandboxes.push(sandbox);
      return sandbox;
    },
  };

  beforeAll(async () => {
    const emulator = await startModalEmulator({ ...options.emulator, tokenId, tokenSecret });
    started = { emulator, modal: undefined as never, app: undefined as never };
    const modal = harness.client({ MODAL_SANDBOX_V2: undefined });
    started.modal = modal;
    started.app = await modal.apps.fromName(options.appName, { createIfMissing: true });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(sandboxes.map((sandbox) => sandbox.terminate().catch(() => undefined)));
    for (const sandbox of sandboxes) sandbox.detach();
    for (const client of clients) client.close();
    if (!started) return;
    const instance = { [INSTANCE_LABEL]: started.emulator.labels[INSTANCE_LABEL]! };
    await started.emulator.stop();
    expect(await engine.listContainers(instance), "no emulator container may outlive stop()").toEqual([]);
    expect(await engine.listVolumes(instance), "no emulator volume may outlive stop()").toEqual([]);
    const networks = await engine.docker.listNetworks({ filters: { label: [`${INSTANCE_LABEL}=${instance[INSTANCE_LABEL]}`] } });
    expect(
      networks.map((network) => network.Name),
      "no emulator network may outlive stop()",
    ).toEqual([]);
    const images = await engine.docker.listImages({ filters: JSON.stringify({ label: [`${INSTANCE_LABEL}=${instance[INSTANCE_LABEL]}`] }) });
    expect(images, "no emulator image may outlive stop()").toEqual([]);
  }, 120_000);

  return harness;
}

/** Runs `argv` in the sandbox as text; its whole stdout, stderr and exit code. */
export async function run(sandbox: Pick<Sandbox, "exec">, argv: string[], params: SandboxExecParams = {}) {
  const process = await sandbox.exec(argv, { ...params, mode: "text" });
  const [stdout, stderr] = await Promise.all([process.stdout.readText(), process.stderr.readText()]);
  return { stdout, stderr, exitCode: await process.wait() };
}
