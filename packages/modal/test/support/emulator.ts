import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DockerEngine } from "@sandbox/local-docker/engine";
import { trustCertificateAuthority } from "@sandbox/test-support";
import { ModalClient } from "modal";
import { afterAll, beforeAll } from "vitest";

/** Credentials the test emulators are started with (not secrets: the emulator is local). */
export const EMULATOR_TOKEN_ID = "ak-modal-adapter-tests";
export const EMULATOR_TOKEN_SECRET = "as-modal-adapter-tests-secret";

/** Whether a Docker engine answers (the emulator runs sandboxes as containers); under CI a missing one throws. */
export { dockerEngineAvailable as dockerAvailable } from "@sandbox/test-support";

const MODAL_VARIABLES = ["MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"] as const;
const CHILD_SCRIPT = fileURLToPath(new URL("./emulator-child.mjs", import.meta.url));

/** A sandbox as the emulator sees it (what `inspect.sandboxes()` returns). */
export interface EmulatedSandbox {
  sandboxId: string;
  family: "v1" | "v2";
  name: string | undefined;
  tags: Record<string, string>;
  containerId: string;
  result: { status: number } | undefined;
}

/** A started emulator (in its own process) plus the environment switch the SDK needs. */
export interface EmulatorSession {
  /** Control-plane URL, e.g. `http://127.0.0.1:43117`. */
  url: string;
  /**
   * The CA of the emulator's TLS tunnels (`tunnel.url` is https, as on Modal).
   * This process's global `fetch` trusts it until `stop()`.
   */
  tunnelCa: { certificatePem: string; certificatePath: string };
  /** Process id of the emulator's own process (to measure its memory). */
  pid: number;
  /** A raw SDK client on the emulator, for fixtures and probes that must not go through the adapter. */
  rawClient: ModalClient;
  /** Adds or replaces a named Modal Secret. */
  putSecret(name: string, values: Record<string, string>): Promise<void>;
  /** Every sandbox the emulator created, running or finished. */
  sandboxes(): Promise<EmulatedSandbox[]>;
  /** How many exec starts the emulator has received so far (its inspection log). */
  execStarts(): Promise<number>;
  /** The method path of every RPC the emulator has received so far, in order (e.g. `/modal.client.ModalClient/AppGetOrCreate`). */
  calls(): Promise<string[]>;
  /** True when the sandbox is running or its container still exists. */
  exists(sandboxId: string): Promise<boolean>;
  /** Stops the emulator (removing every container it made) and restores the environment. */
  stop(): Promise<void>;
}

interface ChildReply {
  id?: number;
  type?: string;
  url?: string;
  tunnelCa?: { certificatePem: string; certificatePath: string };
  message?: string;
  result?: unknown;
  error?: string;
}

/**
 * Starts an emulator in a child process and points the `modal` SDK at it
 * through the variables it reads when a client is constructed
 * (`MODAL_SERVER_URL`, `MODAL_TOKEN_ID`, `MODAL_TOKEN_SECRET`): exactly how a
 * user points the SDK at a Modal server. The global `fetch` of this process
 * trusts the emulator's tunnel CA meanwhile, as a user's client does with
 * `NODE_EXTRA_CA_CERTS`. `stop()` restores the previous values and trust.
 */
export async function startEmulatorSession(
  options: { tokenId?: string; tokenSecret?: string; secrets?: Record<string, Record<string, string>>; imageAliases?: Record<string, string> } = {},
): Promise<EmulatorSession> {
  const tokenId = options.tokenId ?? EMULATOR_TOKEN_ID;
  const tokenSecret = options.tokenSecret ?? EMULATOR_TOKEN_SECRET;
  const child: ChildProcess = fork(CHILD_SCRIPT, [JSON.stringify({ ...options, tokenId, tokenSecret })], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  const { url, tunnelCa } = await new Promise<{ url: string; tunnelCa: EmulatorSession["tunnelCa"] }>((resolve, reject) => {
    const onMessage = (message: ChildReply) => {
      if (message.type === "ready" && message.url && message.tunnelCa) resolve({ url: message.url, tunnelCa: message.tunnelCa });
      else if (message.type === "failed") reject(new Error(`the emulator did not start: ${message.message}`));
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`the emulator process exited with code ${code} before it was ready`)));
  });
  child.on("message", (message: ChildReply) => {
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.result);
  });
  const request = <T>(type: string, body: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, type, ...body });
    });

  const saved = Object.fromEntries(MODAL_VARIABLES.map((name) => [name, process.env[name]]));
  process.env.MODAL_SERVER_URL = url;
  process.env.MODAL_TOKEN_ID = tokenId;
  process.env.MODAL_TOKEN_SECRET = tokenSecret;
  const untrustTunnelCa = trustCertificateAuthority(tunnelCa.certificatePem);
  const rawClient = new ModalClient({ logLevel: "error" });
  const engine = new DockerEngine();
  const sandboxes = () => request<EmulatedSandbox[]>("sandboxes");
  let stopping: Promise<void> | undefined;
  return {
    url,
    tunnelCa,
    pid: child.pid!,
    rawClient,
    putSecret: (name, values) => request<void>("putSecret", { name, values }),
    sandboxes,
    execStarts: () => request<number>("execStarts"),
    calls: () => request<string[]>("calls"),
    async exists(sandboxId) {
      const record = (await sandboxes()).find((sandbox) => sandbox.sandboxId === sandboxId);
      if (!record) return false;
      if (record.result === undefined) return true;
      return engine
        .container(record.containerId)
        .inspect()
        .then(
          () => true,
          () => false,
        );
    },
    stop() {
      stopping ??= (async () => {
        rawClient.close();
        try {
          const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
          if (child.connected) await request("stop").catch(() => undefined);
          await exited;
        } finally {
          await untrustTunnelCa();
          for (const name of MODAL_VARIABLES) {
            if (saved[name] === undefined) delete process.env[name];
            else process.env[name] = saved[name];
          }
        }
      })();
      return stopping;
    },
  };
}

/** Options of {@link startEmulatorSession}. */
export type EmulatorSessionOptions = NonNullable<Parameters<typeof startEmulatorSession>[0]>;

/**
 * Starts an emulator before the tests of the enclosing `describe` and stops it
 * after them (the hooks run only when the block runs, so a skipped block
 * starts nothing). Returns the session's getter, which throws when the
 * emulator did not start instead of handing out `undefined`.
 */
export function useEmulatorSession(options: EmulatorSessionOptions = {}): () => EmulatorSession {
  let session: EmulatorSession | undefined;
  beforeAll(async () => {
    session = await startEmulatorSession(options);
  }, 120_000);
  afterAll(async () => {
    await session?.stop();
  }, 120_000);
  return () => {
    if (!session) throw new Error("the emulator did not start (see beforeAll)");
    return session;
  };
}

/** Whether `url` points at this machine (an emulator), not at Modal. */
export function isLoopbackUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    return ["localhost", "127.0.0.1", "[::1]", "::1"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}
