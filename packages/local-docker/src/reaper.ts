import {
  currentOwner,
  DockerEngine,
  EngineError,
  LABELS,
  type OwnerIdentity,
  ownerIsGone,
  removeSandboxNetworkIfUnused,
  SANDBOX_NETWORKS,
} from "@sandbox/docker-engine";
import type Docker from "dockerode";
import { LOCAL_DOCKER_PROVIDER } from "./local-docker-error.js";

/**
 * Written by `detach()`: the sandbox is meant to outlive its creator and be
 * picked up by another process, so it is never reaped as orphaned, only at
 * its expiry. (Container labels are immutable, hence a file.)
 */
export const DETACHED_MARKER_PATH = "/.sandbox-detached";

/** Engine states of a container that may still run commands; a paused one resumes where it was. Any other state (exited, dead) is "stopped". */
const LIVE_STATES = new Set(["running", "created", "restarting", "paused"]);

/** What {@link reap} removed and why. */
export interface ReapReport {
  removed: Array<{ id: string; name: string; reason: "expired" | "owner-gone" | "stopped" }>;
  /** Sandboxes left alone (alive owner, not expired). */
  kept: number;
}

/** Options of {@link reap}. */
export interface ReapOptions {
  /** Client to use; default from `DOCKER_HOST` / the local socket. */
  docker?: Docker;
  /** Only this app's sandboxes. Default: every app. */
  appName?: string;
  /** Current time, for tests. */
  now?: number;
  /** Identity judged "self" (never reaped as orphan). */
  self?: OwnerIdentity;
}

/**
 * Removes this adapter's sandboxes that are expired (past their lifetime
 * label), stopped (exited or dead; a paused one is not), or whose owner process is provably gone (same host, and
 * the pid is dead or belongs to a newer process). Sandboxes of live owners
 * and of other hosts are kept until they expire. The managed sandbox
 * networks are removed when no container uses them. Volumes are never
 * reaped: they are meant to outlive sandboxes.
 */
export async function reap(options: ReapOptions = {}): Promise<ReapReport> {
  return reapWith(new DockerEngine({ docker: options.docker }), options);
}

/** {@link reap} on a given engine (the start-up reap passes the sandbox's own). */
export async function reapWith(engine: DockerEngine, options: ReapOptions = {}): Promise<ReapReport> {
  const now = options.now ?? Date.now();
  const self = options.self ?? currentOwner();
  const filter: Record<string, string> = { [LABELS.managed]: "true", [LABELS.provider]: LOCAL_DOCKER_PROVIDER };
  if (options.appName) filter[LABELS.app] = options.appName;
  const containers = await engine.listContainers(filter);
  const report: ReapReport = { removed: [], kept: 0 };
  await Promise.all(
    containers.map(async (container) => {
      const expiresAt = Number(container.labels[LABELS.expiresAt]);
      const reason = !LIVE_STATES.has(container.state)
        ? "stopped"
        : Number.isFinite(expiresAt) && expiresAt <= now
          ? "expired"
          : ownerIsGone(container.labels, self) && !(await isDetached(engine, container.id))
            ? "owner-gone"
            : undefined;
      if (!reason) {
        report.kept += 1;
        return;
      }
      await engine.container(container.id).remove();
      report.removed.push({ id: container.id, name: container.name, reason });
    }),
  );
  // Kill sidecars a crash or an engine restart left behind.
  await engine.removeIdleKillSidecars().catch(() => undefined);
  // The managed sandbox networks go when no container uses them any more.
  for (const network of Object.values(SANDBOX_NETWORKS)) await removeSandboxNetworkIfUnused(engine.docker, network.name).catch(() => undefined);
  return report;
}

async function isDetached(engine: DockerEngine, id: string): Promise<boolean> {
  return (
    (await engine
      .container(id)
      .stat(DETACHED_MARKER_PATH)
      .catch(() => null)) !== null
  );
}

const reapedClients = new WeakSet<Docker>();
let reapedDefault = false;

/**
 * The start-up reap: once per process per engine client (every dockerode
 * client passed in is reaped once, and the default client once), errors
 * ignored so creation is never blocked by it.
 */
export async function reapOnce(engine: DockerEngine, client?: Docker): Promise<void> {
  if (client === undefined) {
    if (reapedDefault) return;
    reapedDefault = true;
  } else {
    if (reapedClients.has(client)) return;
    reapedClients.add(client);
  }
  await reapWith(engine).catch(() => undefined);
}

/**
 * Provider probe for tests and leak checks: does a container with this id
 * still exist (running or not)? Goes to the engine directly, not through a
 * sandbox handle.
 */
export async function localDockerSandboxExists(id: string, docker?: Docker): Promise<boolean> {
  try {
    await new DockerEngine({ docker }).container(id).inspect();
    return true;
  } catch (error) {
    if (error instanceof EngineError && error.kind === "not-found") return false;
    throw error;
  }
}
