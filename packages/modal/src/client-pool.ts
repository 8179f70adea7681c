import { createHash } from "node:crypto";
import { type App, type Image, ModalClient } from "modal";

/**
 * How long a shared client stays open after the last handle released it, so
 * that the next sandbox (a loop of creates, a burst) reuses its connection,
 * auth token and lookups.
 */
export const CLIENT_IDLE_MS = 5_000;

interface Entry {
  readonly key: string;
  readonly client: ModalClient;
  holders: number;
  timer: NodeJS.Timeout | undefined;
}

/** The token pair given in `auth` (missing fields already taken from the environment). */
export interface ClientParams {
  tokenId: string;
  tokenSecret: string;
}

/**
 * One `ModalClient` per set of credentials and settings, shared by every
 * handle built with them: a new client costs a gRPC connection, an auth
 * token and fresh lookups of the App and image on the first call. Reference
 * counted; closed {@link SharedModalClients.idleMs} after the last handle
 * released it (the timer never keeps the process alive). A client that
 * failed to construct or to check out is never kept.
 */
export class SharedModalClients {
  /** Idle time before a released client is closed (tests shorten it). */
  idleMs = CLIENT_IDLE_MS;
  readonly #byKey = new Map<string, Entry>();
  readonly #byClient = new WeakMap<ModalClient, Entry>();

  /**
   * The shared client for `params` and the current `MODAL_*` environment
   * (which the SDK reads when it builds a client), new when there is none.
   * `check` runs on it before it is handed out; when it throws, a client
   * nobody else holds is closed at once and the error propagates.
   * @throws whatever `new ModalClient` or `check` throws.
   */
  acquire(params: ClientParams | undefined, check: (client: ModalClient) => void): ModalClient {
    const key = clientKey(params);
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      const client = new ModalClient(params);
      entry = { key, client, holders: 0, timer: undefined };
      this.#byKey.set(key, entry);
      this.#byClient.set(client, entry);
    }
    entry.holders++;
    this.#cancelIdle(entry);
    try {
      check(entry.client);
    } catch (error) {
      this.release(entry.client);
      if (entry.holders === 0) this.#close(entry);
      throw error;
    }
    return entry.client;
  }

  /** Gives back a client from {@link acquire}; the last release closes it after the idle time. */
  release(client: ModalClient): void {
    const entry = this.#byClient.get(client);
    if (entry === undefined || entry.holders === 0) return;
    entry.holders--;
    if (entry.holders > 0 || this.#byKey.get(entry.key) !== entry) return;
    entry.timer = setTimeout(() => this.#close(entry), this.idleMs);
    entry.timer.unref();
  }

  /** Closes now every client no handle holds (their idle time cut short). */
  closeIdle(): void {
    for (const entry of [...this.#byKey.values()]) if (entry.holders === 0) this.#close(entry);
  }

  /** How many shared clients are open (held or idle). */
  get size(): number {
    return this.#byKey.size;
  }

  #cancelIdle(entry: Entry): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  #close(entry: Entry): void {
    this.#cancelIdle(entry);
    if (entry.holders > 0 || this.#byKey.get(entry.key) !== entry) return;
    this.#byKey.delete(entry.key);
    entry.client.close();
  }
}

/** The clients shared by every `ModalSandbox` of this process. */
export const sharedModalClients = new SharedModalClients();

/**
 * What decides the client the SDK builds: the token pair passed to it and
 * every `MODAL_*` variable (server URL, tokens, profile, environment, ...; the
 * config file is read once per process). Hashed: the key holds no secret.
 */
function clientKey(params: ClientParams | undefined): string {
  const environment = Object.entries(process.env)
    .filter(([name, value]) => name.startsWith("MODAL_") && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256")
    .update(JSON.stringify([params?.tokenId ?? null, params?.tokenSecret ?? null, environment]))
    .digest("hex");
}

/**
 * Lookups kept while a client lives, keyed on the client object: its Apps
 * (per environment and name) and registry images (per environment and name;
 * an SDK `Image` remembers its built id, so reusing it saves the image
 * round trip of every later create). A lookup in flight is shared; a failed
 * one is forgotten at once.
 */
export class ClientLookups {
  readonly #apps = new Map<string, Promise<App>>();
  readonly #images = new Map<string, Image>();

  static of(client: ModalClient): ClientLookups {
    let lookups = LOOKUPS.get(client);
    if (lookups === undefined) {
      lookups = new ClientLookups();
      LOOKUPS.set(client, lookups);
    }
    return lookups;
  }

  /**
   * The App `name` (created when missing), looked up once per client and
   * environment; `cached` when an earlier (or concurrent) lookup gave it.
   */
  app(client: ModalClient, name: string): { app: Promise<App>; cached: boolean } {
    const key = lookupKey(client, name);
    const known = this.#apps.get(key);
    if (known !== undefined) return { app: known, cached: true };
    const app = client.apps.fromName(name, { createIfMissing: true });
    this.#apps.set(key, app);
    app.catch(() => {
      if (this.#apps.get(key) === app) this.#apps.delete(key);
    });
    return { app, cached: false };
  }

  /**
   * The registry image `name`: the one an earlier create built (`cached`),
   * else a new SDK `Image`, which the create builds.
   */
  image(client: ModalClient, name: string): { image: Image; cached: boolean } {
    const known = this.#images.get(lookupKey(client, name));
    return known !== undefined ? { image: known, cached: true } : { image: client.images.fromRegistry(name), cached: false };
  }

  /** Keeps `image` once a create built it (one that failed to build has no id and is never kept). */
  keepImage(client: ModalClient, name: string, image: Image): void {
    if (image.imageId) this.#images.set(lookupKey(client, name), image);
  }

  /** Forgets the App `appName` and the image `imageName` (a create said NOT_FOUND: one of them may be gone). */
  forget(client: ModalClient, appName: string, imageName: string): void {
    this.#apps.delete(lookupKey(client, appName));
    this.#images.delete(lookupKey(client, imageName));
  }
}

function lookupKey(client: ModalClient, name: string): string {
  return JSON.stringify([client.environmentName(), name]);
}

const LOOKUPS = new WeakMap<ModalClient, ClientLookups>();
