import { createHash } from "node:crypto";
import type { DockerEngine } from "@sandbox/docker-engine";
import * as tar from "tar-stream";
import { mintObjectId } from "./object-ids.js";

/**
 * Registry tags mapped to local images by default, because nothing can be
 * pulled offline. Keys may end in `:*` to match every tag of a repository.
 * A difference from real Modal: these are local stand-ins, not the real images.
 */
export const DEFAULT_IMAGE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  "alpine:*": "sandbox-busybox:latest",
  alpine: "sandbox-busybox:latest",
  "busybox:*": "sandbox-busybox:latest",
  "python:*": "sandbox-python:bookworm",
  "debian:*": "sandbox-python:bookworm",
  "ubuntu:*": "sandbox-python:bookworm",
});

/** A built (or resolved) image the emulator knows by Modal image id. */
export interface ImageRecord {
  imageId: string;
  /** The local Docker image a sandbox of this image runs. */
  dockerImage: string;
  /** True when the emulator built it (and so removes it on stop). */
  built: boolean;
  /** The registry tag at the root of its layers (`alpine:3.21`), when it has one. */
  registryTag?: string;
}

/** The result of resolving one `ImageGetOrCreate` layer. */
export type ImageResolution = { ok: true; image: ImageRecord } | { ok: false; imageId: string; message: string };

/** Labels put on every image the emulator builds, so they can be found and removed. */
export interface ImageResolverOptions {
  engine: DockerEngine;
  aliases: Record<string, string>;
  labels: Record<string, string>;
  /** Repository name for built images, unique per emulator so two emulators never share a tag. */
  imageRepository: string;
  /** Where build and pull progress goes (for the bin's log); default: nowhere. */
  onProgress?: (line: string) => void;
}

/**
 * Turns the SDK's image layers into local Docker images: `FROM <tag>` resolves
 * through the alias map to a local image, and further Dockerfile commands are
 * built locally on top of it with the engine's builder.
 */
export class ImageResolver {
  readonly #options: ImageResolverOptions;
  readonly #images = new Map<string, ImageRecord>();
  /** Content key -> the resolution in flight or done, so the same layers give the same image id (as on Modal). */
  readonly #byContent = new Map<string, Promise<ImageResolution>>();

  constructor(options: ImageResolverOptions) {
    this.#options = options;
  }

  /** The image with this id, if known. */
  get(imageId: string): ImageRecord | undefined {
    return this.#images.get(imageId);
  }

  /** Every image built by this emulator (to remove on stop). */
  builtImages(): ImageRecord[] {
    return [...this.#images.values()].filter((image) => image.built);
  }

  /** Maps a registry tag to the local image name through the alias map. */
  resolveTag(tag: string): string {
    const aliases = this.#options.aliases;
    if (aliases[tag]) return aliases[tag];
    const repository = tag.includes(":") ? tag.slice(0, tag.lastIndexOf(":")) : tag;
    return aliases[`${repository}:*`] ?? tag;
  }

  /**
   * Resolves one layer: `dockerfileCommands` starting with `FROM <tag>` or
   * `FROM base` (with `baseImages` naming the parent image id). `forceBuild`
   * ignores the cache, as `docker build --no-cache`: the layer is built again
   * under a new id, which later unforced builds of it then get.
   */
  resolve(
    dockerfileCommands: string[],
    baseImages: Array<{ dockerTag: string; imageId: string }>,
    buildEnv: Record<string, string>,
    forceBuild = false,
  ): Promise<ImageResolution> {
    const fromLine = dockerfileCommands[0]?.trim() ?? "";
    const match = /^FROM\s+(\S+)/i.exec(fromLine);
    if (!match) {
      return Promise.resolve({
        ok: false,
        imageId: mintObjectId("image"),
        message: `modal-emulator expects dockerfileCommands to start with FROM, got ${JSON.stringify(fromLine)}`,
      });
    }
    const fromTag = match[1]!;
    const base = baseImages.find((candidate) => candidate.dockerTag === fromTag);
    let baseDockerImage: string;
    let registryTag: string | undefined;
    if (base) {
      const parent = this.#images.get(base.imageId);
      if (!parent) {
        return Promise.resolve({ ok: false, imageId: mintObjectId("image"), message: `Unknown base image ${base.imageId}` });
      }
      baseDockerImage = parent.dockerImage;
      registryTag = parent.registryTag;
    } else {
      baseDockerImage = this.resolveTag(fromTag);
      registryTag = fromTag;
    }
    const rest = dockerfileCommands.slice(1).filter((command) => command.trim() !== "");
    // The definition, not the local stand-in, names the image (as on Modal):
    // `alpine:3.21` and `busybox:1.36` share a stand-in but are two images,
    // so deleting one leaves the other's id working.
    const from = base ? { baseImageId: base.imageId } : { fromTag };
    const key = createHash("sha256").update(JSON.stringify({ from, baseDockerImage, rest, buildEnv })).digest("hex");
    let pending = forceBuild ? undefined : this.#byContent.get(key);
    if (!pending) {
      const created = this.#create(baseDockerImage, fromTag, registryTag, rest, buildEnv, key, forceBuild);
      pending = created;
      // A forced build replaces the cached one only once it succeeded. A
      // failure is not cached: the user may build or alias the image and retry.
      if (!forceBuild) this.#byContent.set(key, created);
      const forget = () => {
        if (this.#byContent.get(key) === created) this.#byContent.delete(key);
      };
      created.then((resolution) => {
        if (!resolution.ok) forget();
        else if (forceBuild) this.#byContent.set(key, created);
      }, forget);
    }
    return pending;
  }

  async #create(
    baseDockerImage: string,
    fromTag: string,
    registryTag: string | undefined,
    rest: string[],
    buildEnv: Record<string, string>,
    key: string,
    forceBuild: boolean,
  ): Promise<ImageResolution> {
    const imageId = mintObjectId("image");
    const engine = this.#options.engine;
    try {
      await engine.ensureImage(baseDockerImage, this.#options.onProgress);
    } catch (error) {
      return {
        ok: false,
        imageId,
        message:
          `Image "${fromTag}" resolves to the local image "${baseDockerImage}", which is not in the Docker engine ` +
          `and could not be pulled (${error instanceof Error ? error.message : String(error)}). ` +
          "Build or load it locally, or map the tag to a local image with the emulator's imageAliases option.",
      };
    }
    if (rest.length === 0) {
      const image: ImageRecord = { imageId, dockerImage: baseDockerImage, built: false, ...(registryTag ? { registryTag } : {}) };
      this.#images.set(imageId, image);
      return { ok: true, image };
    }
    // A forced build gets a tag of its own, so images still using the earlier build keep it.
    const dockerImage = `${this.#options.imageRepository}:${key.slice(0, 24)}${forceBuild ? `-${imageId.slice(3).toLowerCase()}` : ""}`;
    try {
      await this.#build(baseDockerImage, rest, buildEnv, dockerImage, forceBuild);
    } catch (error) {
      // Say what the layer really ran on: a stand-in, offline, so a package
      // manager (`apk add`, `apt-get install`, `pip install`) has nothing to fetch from.
      const standIn =
        registryTag && this.resolveTag(registryTag) !== registryTag
          ? ` (offline: "${registryTag}" runs on the local stand-in "${this.resolveTag(registryTag)}", and the build has no network to download packages from)`
          : "";
      return { ok: false, imageId, message: `Image build failed${standIn}: ${error instanceof Error ? error.message : String(error)}` };
    }
    const image: ImageRecord = { imageId, dockerImage, built: true, ...(registryTag ? { registryTag } : {}) };
    this.#images.set(imageId, image);
    return { ok: true, image };
  }

  async #build(baseDockerImage: string, commands: string[], buildEnv: Record<string, string>, tag: string, noCache: boolean): Promise<void> {
    // Layer env and secrets become build arguments: visible to RUN like on
    // Modal, but not baked into the image's environment.
    const argumentLines = Object.keys(buildEnv).map((name) => `ARG ${name}`);
    const dockerfile = [`FROM ${baseDockerImage}`, ...argumentLines, ...commands, ""].join("\n");
    const pack = tar.pack();
    pack.entry({ name: "Dockerfile", mode: 0o644 }, dockerfile);
    pack.finalize();
    const docker = this.#options.engine.docker;
    const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, {
      t: tag,
      labels: this.#options.labels,
      buildargs: buildEnv,
      forcerm: true,
      nocache: noCache,
    });
    const log: string[] = [];
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null, output: Array<{ error?: string; stream?: string }>) => {
          const failure = error?.message ?? output?.find((item) => item.error)?.error;
          if (failure) reject(new Error(`${failure}\n${log.slice(-20).join("")}`));
          else resolve();
        },
        (event: { stream?: string; error?: string }) => {
          if (event.stream) {
            log.push(event.stream);
            this.#options.onProgress?.(event.stream.trimEnd());
          }
        },
      );
    });
  }

  /**
   * Forgets an image (`images.delete`): its id no longer resolves, the same
   * layers build a new id, and an image the emulator built is removed from
   * the engine once no container uses it (else at `stop()`).
   * @returns false when the id is unknown.
   */
  async delete(imageId: string): Promise<boolean> {
    const image = this.#images.get(imageId);
    if (!image) return false;
    this.#images.delete(imageId);
    for (const [key, pending] of this.#byContent) {
      const resolution = await pending.catch(() => undefined);
      if (resolution?.ok && resolution.image.imageId === imageId) this.#byContent.delete(key);
    }
    const stillUsed = [...this.#images.values()].some((other) => other.dockerImage === image.dockerImage);
    if (image.built && !stillUsed) {
      const removed = await this.#options.engine.docker
        .getImage(image.dockerImage)
        .remove()
        .then(
          () => true,
          () => false,
        );
      // In use by a running sandbox: keep it listed so stop() removes it.
      if (!removed) this.#images.set(`deleted:${imageId}`, image);
    }
    return true;
  }

  /** Registers an image id (a new one unless given) for an existing Docker image (for snapshots). */
  register(dockerImage: string, built: boolean, imageId: string = mintObjectId("image")): ImageRecord {
    const image: ImageRecord = { imageId, dockerImage, built };
    this.#images.set(image.imageId, image);
    return image;
  }
}
