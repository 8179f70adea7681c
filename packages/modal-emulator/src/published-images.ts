import { Status } from "nice-grpc";
import { normalizeEnvironment } from "./app-store.js";
import { fail } from "./grpc-errors.js";
import type { ImageResolver } from "./image-resolver.js";
import { randomBase62 } from "./object-ids.js";

/**
 * Modal's named images (`image.publish(name)`, `images.fromName(name)`),
 * kept in the emulator: a name (`[[workspace/]environment/]name:tag`, the
 * SDK always sends the tag) points at an image id, per environment; publishing
 * again moves it to the new image. There is one workspace offline, so a
 * workspace prefix is accepted and ignored.
 */
export class PublishedImages {
  readonly #images: ImageResolver;
  /** `environment/name:tag` -> image id. */
  readonly #byName = new Map<string, string>();

  constructor(images: ImageResolver) {
    this.#images = images;
  }

  /** `ImagePublish`: points the name at a built image. */
  publish(request: { imageId?: string; tag?: string; environmentName?: string }): { imageId: string; revisionId: string } {
    const imageId = request.imageId ?? "";
    if (!this.#images.get(imageId)) fail(Status.NOT_FOUND, `Could not find image with ID ${imageId}`);
    this.#byName.set(keyOf(request.tag ?? "", request.environmentName), imageId);
    return { imageId, revisionId: `ir-${randomBase62(22)}` };
  }

  /** `ImageGetByTag`: the image a name points at, or NOT_FOUND (also when that image was deleted since). */
  get(request: { tag?: string; environmentName?: string }): { imageId: string } {
    const tag = request.tag ?? "";
    const imageId = this.#byName.get(keyOf(tag, request.environmentName));
    if (!imageId || !this.#images.get(imageId)) fail(Status.NOT_FOUND, `Image '${tag}' not found`);
    return { imageId };
  }
}

/** The store key of a named image reference: `environment/name:tag`. */
function keyOf(reference: string, environmentName: string | undefined): string {
  if (!reference) fail(Status.INVALID_ARGUMENT, "an image name is required");
  const withTag = /:[^/]+$/.test(reference) ? reference : `${reference}:latest`;
  const parts = withTag.split("/");
  const nameAndTag = parts.at(-1)!;
  const prefix = parts.slice(0, -1);
  if (prefix.length > 2 || prefix.some((part) => part === "")) fail(Status.INVALID_ARGUMENT, `Invalid image name '${reference}'`);
  const environment = prefix.length > 0 ? prefix.at(-1)! : normalizeEnvironment(environmentName);
  return `${environment}/${nameAndTag}`;
}
