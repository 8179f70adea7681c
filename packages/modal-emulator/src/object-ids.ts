import { randomBytes } from "node:crypto";

const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Random base62 characters, the alphabet Modal's object ids use. */
export function randomBase62(length: number): string {
  let result = "";
  while (result.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 62 * 4: rejecting the tail keeps every character equally likely.
      if (byte < 248 && result.length < length) result += BASE62_ALPHABET[byte % 62];
    }
  }
  return result;
}

/** The id prefixes Modal uses, one per kind of object. */
export type ObjectKind = "app" | "image" | "secret" | "volume" | "task" | "environment";

const PREFIXES: Record<ObjectKind, string> = {
  app: "ap",
  image: "im",
  secret: "st",
  volume: "vo",
  task: "ta",
  environment: "en",
};

/** Mints an id of Modal's shape, `<prefix>-` followed by 22 base62 characters. */
export function mintObjectId(kind: ObjectKind): string {
  return `${PREFIXES[kind]}-${randomBase62(22)}`;
}

/**
 * Mints a sandbox id whose shape tells the SDK which RPC family to use.
 *
 * The SDK treats `sb-` plus exactly 22 base62 characters as a V1 sandbox and
 * anything else as V2, so a V2 id carries an extra `v2-` segment.
 */
export function mintSandboxId(family: "v1" | "v2"): string {
  return family === "v1" ? `sb-${randomBase62(22)}` : `sb-v2-${randomBase62(22)}`;
}
