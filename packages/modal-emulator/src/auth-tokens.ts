import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { encodeJwt } from "./jwt.js";

/** Claims carried by the tokens the emulator mints. */
export interface TokenClaims {
  /** What the token is for: the control plane, or one task's command router. */
  scope: "control-plane" | "command-router";
  /** The token id that authenticated (control plane) or the task id (router). */
  subject: string;
  /** The sandbox the router token is scoped to. */
  sandboxId?: string;
  /** Expiry, Unix epoch seconds. */
  exp: number;
  iat: number;
}

/**
 * Mints and verifies HS256 JWTs with a key that lives only in this process.
 *
 * Why JWTs at all: the SDK parses `exp` from both the control-plane auth token
 * and the router token to schedule refreshes; without `exp` it warns on every
 * client. The key never leaves the process. Derived from the credentials
 * ({@link tokenKeyFor}), tokens survive a restart of the emulator with the
 * same credentials, as Modal's survive a server restart: a client that kept
 * running is answered about its sandboxes instead of being refused.
 */
export class TokenAuthority {
  readonly #key: Buffer;
  readonly #lifetimeSeconds: number;

  /**
   * @param lifetimeSeconds how long minted tokens stay valid; default one hour.
   * @param key the signing key; default a random one (tokens die with this process).
   */
  constructor(lifetimeSeconds = 3600, key: Buffer = randomBytes(32)) {
    this.#lifetimeSeconds = lifetimeSeconds;
    this.#key = key;
  }

  /** Mints a signed token for the given scope and subject. */
  mint(scope: TokenClaims["scope"], subject: string, sandboxId?: string): string {
    const iat = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = { scope, subject, ...(sandboxId ? { sandboxId } : {}), iat, exp: iat + this.#lifetimeSeconds };
    return encodeJwt({ alg: "HS256", typ: "JWT" }, claims, (signingInput) => this.#sign(signingInput));
  }

  /** Returns the claims of a valid, unexpired token of this authority, else `undefined`. */
  verify(token: string): TokenClaims | undefined {
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.#sign(`${header}.${payload}`));
    const actual = Buffer.from(signature);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.exp !== "number" || claims.exp <= Date.now() / 1000) return undefined;
    return claims;
  }

  #sign(signingInput: string): string {
    return createHmac("sha256", this.#key).update(signingInput).digest("base64url");
  }
}

/** A signing key derived from the emulator's credentials (one-way: the key reveals neither). */
export function tokenKeyFor(tokenId: string, tokenSecret: string): Buffer {
  return createHash("sha256").update("modal-emulator token key\0").update(tokenId).update("\0").update(tokenSecret).digest();
}

/** Compares two secrets in constant time. */
export function secretsEqual(actual: string | undefined, expected: string): boolean {
  if (actual === undefined) return false;
  const actualBytes = Buffer.from(actual);
  const expectedBytes = Buffer.from(expected);
  return actualBytes.length === expectedBytes.length && timingSafeEqual(actualBytes, expectedBytes);
}
