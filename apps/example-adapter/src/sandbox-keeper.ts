import { spawn } from "node:child_process";
import { open, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ChrootSandboxError } from "./chroot-error.js";
import { childrenOf, delay, killQuietly, processesRootedAt, rootOf } from "./host-processes.js";
import { STANDARD_PATH } from "./host-tools.js";

/**
 * A sandbox's life is one process tree, started detached so that it outlives
 * the host process that created it:
 *
 *   supervisor (host sh)                     removes the sandbox directory when the namespaces end
 *   └─ unshare --pid --mount [--net]         new namespaces; --kill-child ends them if unshare dies
 *      └─ setup (host sh) -> chroot -> init  pid 1 of the sandbox: mounts /proc, /dev, /sys, then
 *         └─ sleep <lifetime>                waits out the lifetime, reaping orphans meanwhile
 *
 * When pid 1 of a pid namespace exits, the kernel kills everything else in
 * it. So killing `init` (close) or the end of `sleep` (lifetime) ends every
 * process of the sandbox, and the supervisor then deletes its files.
 */
const SUPERVISOR_SCRIPT = `
dir=$1 lifetime=$2 network=$3 setup=$4 init=$5
unshare --pid --fork --kill-child --mount-proc="$dir/root/proc" $network -- sh -c "$setup" sandbox-setup "$dir/root" "$init" "$lifetime" "$network"
rm -rf --one-file-system -- "$dir"
`;

/** Runs in the new mount namespace, so these mounts never show on the host. */
const SETUP_SCRIPT = `
root=$1
mount -t tmpfs -o mode=0755,nosuid,size=1m sandbox-dev "$root/dev" &&
  mknod -m 666 "$root/dev/null" c 1 3 && mknod -m 666 "$root/dev/zero" c 1 5 &&
  mknod -m 666 "$root/dev/full" c 1 7 && mknod -m 666 "$root/dev/random" c 1 8 &&
  mknod -m 666 "$root/dev/urandom" c 1 9 && mknod -m 666 "$root/dev/tty" c 5 0 &&
  ln -s /proc/self/fd "$root/dev/fd" && ln -s /proc/self/fd/0 "$root/dev/stdin" &&
  ln -s /proc/self/fd/1 "$root/dev/stdout" && ln -s /proc/self/fd/2 "$root/dev/stderr" &&
  mkdir -m 1777 "$root/dev/shm" &&
  mount -t sysfs -o ro,nosuid,nodev,noexec sandbox-sys "$root/sys" || exit 1
exec chroot "$root" /bin/sh -c "$2" sandbox-init "$3" "$4"
`;

/** pid 1 inside the sandbox (busybox sh): its \`wait\` also reaps orphans handed to it. */
const INIT_SCRIPT = `if [ "$2" = --net ]; then ip link set lo up; fi; sleep "$1" & wait`;

/** How long a sandbox may take to start or to be torn down. */
const STEP_TIMEOUT_MS = 10_000;

export interface KeeperSettings {
  /** The sandbox directory; the root is `<dir>/root`. */
  dir: string;
  lifetimeSeconds: number;
  /** Give the sandbox its own network namespace with only loopback. */
  blockNetwork: boolean;
}

/**
 * Starts the process tree above and resolves with the host pid of the
 * sandbox's init once it runs inside the root. Throws
 * `SANDBOX_CREATION_FAILED` with what the tools printed when it does not.
 */
export async function startKeeper({ dir, lifetimeSeconds, blockNetwork }: KeeperSettings): Promise<number> {
  const root = join(dir, "root");
  // The supervisor outlives us, so it cannot write to a pipe of ours: it
  // logs to a file, which we can still read through our handle after the
  // supervisor deleted the directory.
  const log = await open(join(dir, "keeper.log"), "w+");
  try {
    const supervisor = spawn(
      "sh",
      ["-c", SUPERVISOR_SCRIPT, "supervisor", dir, String(lifetimeSeconds), blockNetwork ? "--net" : "", SETUP_SCRIPT, INIT_SCRIPT],
      { detached: true, stdio: ["ignore", log.fd, log.fd], env: { PATH: STANDARD_PATH } },
    );
    let exited = false;
    supervisor.on("exit", () => (exited = true));
    await new Promise<void>((resolve, reject) => {
      supervisor.once("spawn", resolve);
      supervisor.once("error", reject);
    });
    supervisor.unref();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (!exited && Date.now() < deadline) {
      for (const unshare of childrenOf(supervisor.pid!)) {
        for (const init of childrenOf(unshare)) {
          if (rootOf(init) === root) return init;
        }
      }
      await delay(10);
    }
    const { bytesRead, buffer } = await log.read(Buffer.alloc(4096), 0, 4096, 0);
    const printed = buffer.subarray(0, bytesRead).toString("utf8").trim();
    if (!exited) killQuietly(-supervisor.pid!);
    throw new ChrootSandboxError("SANDBOX_CREATION_FAILED", {
      message: `the sandbox did not start${exited ? "" : ` within ${STEP_TIMEOUT_MS} ms`}${printed ? `: ${printed}` : ""}`,
    });
  } finally {
    await log.close();
  }
}

/** Whether the sandbox's init (and so the sandbox) is still alive. */
export function isKeeperAlive(initPid: number, root: string): boolean {
  return rootOf(initPid) === root;
}

/**
 * Ends a sandbox and deletes its files (and the registry directory when it
 * was the last); resolves once no process is left in it and the directory is
 * gone. Safe to call for a sandbox that already
 * ended (closed elsewhere, or its lifetime ran out).
 */
export async function stopKeeper(initPid: number | undefined, dir: string): Promise<void> {
  const root = join(dir, "root");
  if (initPid !== undefined && isKeeperAlive(initPid, root)) killQuietly(initPid);
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    // Anything still rooted there (normally nothing once init is gone).
    const left = processesRootedAt(root);
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      throw new ChrootSandboxError("PROVIDER_UNAVAILABLE", { message: `processes ${left.join(", ")} of the sandbox did not end after SIGKILL` });
    }
    left.forEach(killQuietly);
    await delay(20);
  }
  // The supervisor deletes the directory too; whoever comes first wins.
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  // The registry directory goes with its last sandbox (rmdir refuses while others remain).
  await rmdir(dirname(dir)).catch(() => undefined);
}
