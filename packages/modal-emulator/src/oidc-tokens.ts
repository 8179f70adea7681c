import { createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject, randomBytes, sign } from "node:crypto";

/** The issuer and audience Modal's identity tokens carry (Modal's OIDC integration guide). */
export const OIDC_ISSUER = "https://oidc.modal.com";
export const OIDC_AUDIENCE = "oidc.modal.com";

/** What one sandbox's identity token says about it. */
export interface OidcSubject {
  workspaceId: string;
  environmentName: string;
  appId: string;
  appName: string;
  sandboxId: string;
  /** Token lifetime: the sandbox's, so it is valid as long as the sandbox runs. */
  lifetimeSeconds: number;
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * Signs the identity tokens `includeOidcIdentityToken` puts in a sandbox's
 * `MODAL_IDENTITY_TOKEN`: RS256 JWTs with a key pair made per emulator (the
 * private key never leaves the process; the public key is in {@link jwks}, so a
 * test can verify a token as a cloud provider would verify Modal's).
 */
export class OidcTokenIssuer {
  readonly #privateKey: KeyObject;
  readonly #keyId = randomBytes(8).toString("hex");
  /** The public key as a JSON Web Key Set, as an issuer's `jwks_uri` serves it. */
  readonly jwks: { keys: JsonWebKey[] };

  constructor() {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.#privateKey = privateKey;
    const publicJwk = createPublicKey(privateKey).export({ format: "jwk" });
    this.jwks = { keys: [{ ...publicJwk, kid: this.#keyId, alg: "RS256", use: "sig" }] };
  }

  /** Mints the token for one sandbox, claims shaped as Modal's. */
  mint(subject: OidcSubject): string {
    const iat = Math.floor(Date.now() / 1000);
    const claims = {
      iss: OIDC_ISSUER,
      aud: OIDC_AUDIENCE,
      sub: `modal:workspace_id:${subject.workspaceId}:environment_name:${subject.environmentName}:app_name:${subject.appName}:sandbox_id:${subject.sandboxId}`,
      iat,
      nbf: iat,
      exp: iat + subject.lifetimeSeconds,
      workspace_id: subject.workspaceId,
      environment_name: subject.environmentName,
      app_id: subject.appId,
      app_name: subject.appName,
      sandbox_id: subject.sandboxId,
    };
    const signingInput = `${base64UrlJson({ alg: "RS256", typ: "JWT", kid: this.#keyId })}.${base64UrlJson(claims)}`;
    return `${signingInput}.${sign("sha256", Buffer.from(signingInput), this.#privateKey).toString("base64url")}`;
  }
}
