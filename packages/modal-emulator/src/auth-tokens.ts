import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

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

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * Mints and verifies HS256 JWTs with a key that lives only in this process.
 *
 * Why JWTs at all: the SDK parses `exp` from both the control-plane auth token
 * and the router token to schedule refreshes; without `exp` it warns on every
 * client. The key never leaves the process, so tokens die with the emulator.
 */
export class TokenAuthority {
  readonly #key = randomBytes(32);
  readonly #lifetimeSeconds: number;

  /** @param lifetimeSeconds how long minted tokens stay valid; default one hour. */
  constructor(lifetimeSeconds = 3600) {
    this.#lifetimeSeconds = lifetimeSeconds;
  }

  /** Mints a signed token for the given scope and subject. */
  mint(scope: TokenClaims["scope"], subject: string, sandboxId?: string): string {
    const iat = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = { scope, subject, ...(sandboxId ? { sandboxId } : {}), iat, exp: iat + this.#lifetimeSeconds };
    const signingInput = `${base64UrlJson({ alg: "HS256", typ: "JWT" })}.${base64UrlJson(claims)}`;
    return `${signingInput}.${this.#sign(signingInput)}`;
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

/** Compares two secrets in constant time. */
export function secretsEqual(actual: string | undefined, expected: string): boolean {
  if (actual === undefined) return false;
  const actualBytes = Buffer.from(actual);
  const expectedBytes = Buffer.from(expected);
  return actualBytes.length === expectedBytes.length && timingSafeEqual(actualBytes, expectedBytes);
}
