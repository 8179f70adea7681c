import type { DockerEngine, EngineContainer } from "@sandbox/docker-engine";

/**
 * The image the volume helper containers run: it needs `sh`, `find`, `cp -a`,
 * `rm` and `xargs -0`. The offline busybox image has them.
 */
export const DEFAULT_VOLUME_HELPER_IMAGE = "sandbox-busybox:latest";
/** How long a helper container may live: copies of huge volumes take time. */
const HELPER_LIFETIME_MS = 30 * 60_000;
const CENTRAL = "/central";
const PRIVATE = "/private";

/** One volume mounted in one sandbox, through its own copy. */
export interface SandboxVolumeMount {
  volumeId: string;
  /** The volume's committed state (shared by every sandbox). */
  centralVolumeName: string;
  /** This sandbox's working copy, mounted at `mountPath`. */
  privateVolumeName: string;
  mountPath: string;
  readOnly: boolean;
  /** Directory inside the volume that is mounted (`subPath`), "" for the root. */
  subPath: string;
  /**
   * Relative path -> "size|mode|mtime" at the last mount, reload or commit:
   * a commit publishes only what changed since, and deletes what is gone.
   */
  baseline: Map<string, string>;
}

/**
 * Gives volumes Modal's commit/reload visibility on Docker volumes.
 *
 * Why: on Modal a sandbox works on its own view of a volume; its writes reach
 * other sandboxes only once committed (`sync <mount>` in the sandbox, or when
 * it ends), and another sandbox sees them only after it reloads
 * (`reloadVolumes()`). A Docker volume mounted into two containers is shared
 * live, so each sandbox mounts a private copy instead, and commit and reload
 * copy between it and the volume's committed state.
 *
 * Cost: each mount, commit and reload starts a short-lived helper container
 * (about a second on an idle engine) and copies the whole mounted tree
 * (time and disk proportional to the volume's size; one copy per mounting
 * sandbox while it lives).
 */
export class VolumeSync {
  readonly #engine: DockerEngine;
  readonly #labels: Record<string, string>;
  readonly #image: string;
  /** One operation at a time per committed volume, so commits and reloads never interleave. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(engine: DockerEngine, labels: Record<string, string>, image = DEFAULT_VOLUME_HELPER_IMAGE) {
    this.#engine = engine;
    this.#labels = labels;
    this.#image = image;
  }

  /** Creates the private copy and fills it from the committed state. */
  async mount(mount: Omit<SandboxVolumeMount, "baseline">): Promise<SandboxVolumeMount> {
    await this.#engine.ensureVolume(mount.privateVolumeName, { ...this.#labels, "dev.sandbox.modal-emulator.volume-copy-of": mount.volumeId });
    const full: SandboxVolumeMount = { ...mount, baseline: new Map() };
    await this.reload(full);
    return full;
  }

  /** Replaces the private copy with the committed state. */
  async reload(mount: SandboxVolumeMount): Promise<void> {
    await this.#serialized(mount.centralVolumeName, () =>
      this.#withHelper(mount, async (helper) => {
        await run(helper, [
          "sh",
          "-c",
          `mkdir -p "${CENTRAL}/$1" && find ${PRIVATE} -mindepth 1 -maxdepth 1 -exec rm -rf {} + && cp -a "${CENTRAL}/$1/." ${PRIVATE}/`,
          "volume-reload",
          mount.subPath,
        ]);
        mount.baseline = await listing(helper);
      }),
    );
  }

  /**
   * Publishes the private copy: files written overwrite the committed ones,
   * and paths deleted since the last sync are deleted there too. Read-only
   * mounts have nothing to commit.
   */
  async commit(mount: SandboxVolumeMount): Promise<void> {
    if (mount.readOnly) return;
    await this.#serialized(mount.centralVolumeName, () =>
      this.#withHelper(mount, async (helper) => {
        const current = await listing(helper);
        const deleted = [...mount.baseline.keys()].filter((path) => !current.has(path));
        // Only what this sandbox changed is published: an untouched stale copy never overwrites another's commit.
        const changed = [...current].filter(([path, signature]) => mount.baseline.get(path) !== signature).map(([path]) => path);
        const script = [
          'C="/central/$1"',
          'mkdir -p "$C" && cd /private || exit 1',
          "while IFS= read -r p; do",
          '  [ "$p" = "--" ] && break',
          '  rm -rf "$C/$p"',
          "done",
          "while IFS= read -r p; do",
          '  if [ -d "$p" ] && [ ! -L "$p" ]; then mkdir -p "$C/$p"',
          '  else mkdir -p "$C/$(dirname "$p")" && rm -rf "$C/$p" && cp -a "$p" "$C/$p" || exit 1; fi',
          "done",
        ].join("\n");
        const input = [...deleted, "--", ...changed].map((path) => `${path}\n`).join("");
        await run(helper, ["sh", "-c", script, "volume-commit", mount.subPath], Buffer.from(input));
        mount.baseline = current;
      }),
    );
  }

  /** Removes the private copy (after the sandbox's container is gone). */
  async unmount(mount: SandboxVolumeMount): Promise<void> {
    await this.#engine.removeVolume(mount.privateVolumeName).catch(() => undefined);
  }

  async #withHelper<T>(mount: SandboxVolumeMount, work: (helper: EngineContainer) => Promise<T>): Promise<T> {
    const helper = await this.#engine.createContainer({
      image: this.#image,
      labels: { ...this.#labels, "dev.sandbox.modal-emulator.volume-helper": mount.volumeId },
      blockNetwork: true,
      volumes: [
        { volumeName: mount.centralVolumeName, mountPath: CENTRAL },
        { volumeName: mount.privateVolumeName, mountPath: PRIVATE },
      ],
      lifetimeMs: HELPER_LIFETIME_MS,
    });
    try {
      return await work(helper);
    } finally {
      await helper.remove().catch(() => undefined);
    }
  }

  async #serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#queues.set(key, settled);
    void settled.then(() => {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    });
    return next;
  }
}

/**
 * Every path under the private copy with its "size|mode|mtime" signature
 * (mtime with nanoseconds). Paths holding a newline are not supported.
 */
async function listing(helper: EngineContainer): Promise<Map<string, string>> {
  const output = await run(helper, ["sh", "-c", `cd ${PRIVATE} && find . -mindepth 1 -exec stat -c '%s|%f|%y|%n' {} +`]);
  const result = new Map<string, string>();
  for (const line of output.toString("utf8").split("\n")) {
    const parts = line.split("|");
    if (parts.length < 4) continue;
    result.set(parts.slice(3).join("|"), parts.slice(0, 3).join("|"));
  }
  return result;
}

async function run(container: EngineContainer, argv: string[], stdin?: Buffer): Promise<Buffer> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const exec = await container.exec(argv, {
    stdin: stdin !== undefined,
    onStdout: (chunk) => stdout.push(chunk),
    onStderr: (chunk) => stderr.push(chunk),
  });
  if (stdin !== undefined && exec.stdin) {
    const input = exec.stdin;
    await new Promise<void>((resolve) => input.end(stdin, () => resolve()));
  }
  const { exitCode } = await exec.done;
  if (exitCode !== 0) {
    throw new Error(`modal-emulator volume sync failed (exit ${exitCode}): ${Buffer.concat(stderr).toString("utf8").trim()}`);
  }
  return Buffer.concat(stdout);
}
