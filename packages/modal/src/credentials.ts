import { CREDENTIALS_HINT } from "./error-mapping.js";
import { ModalSandboxError } from "./modal-sandbox-error.js";

/**
 * Modal API token pair, as created at https://modal.com/settings/tokens.
 * Either field may be left out: the missing one is read from the
 * environment (`MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`).
 */
export interface ModalCredentials {
  /** Token id (`ak-...`). Default: `MODAL_TOKEN_ID`. */
  tokenId?: string;
  /** Token secret (`as-...`). Default: `MODAL_TOKEN_SECRET`. Never appears in an error message. */
  tokenSecret?: string;
}

/** Where {@link getAuthCredentials} reads credentials from: `{ auth }` (sandbox options) or the pair itself. */
export type ModalCredentialsSource = { auth?: ModalCredentials } | ModalCredentials;

const FIELDS = [
  ["tokenId", "MODAL_TOKEN_ID"],
  ["tokenSecret", "MODAL_TOKEN_SECRET"],
] as const;

function credentialsOf(options: ModalCredentialsSource | undefined): ModalCredentials {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new ModalSandboxError("INVALID_OPTIONS", { message: 'invalid option "auth": must be { tokenId?, tokenSecret? }', details: { option: "auth" } });
  }
  if ("auth" in options) return (options.auth ?? {}) as ModalCredentials;
  return options as ModalCredentials;
}

/**
 * Resolves the Modal token pair: each field from `options.auth` (or from
 * `options` itself when it is a `{ tokenId?, tokenSecret? }` pair), else from
 * `MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`. Token values are never quoted in
 * errors.
 *
 * Unlike `new ModalSandbox()` without `auth`, this does not read
 * `~/.modal.toml`: it answers exactly "which tokens would the environment
 * give me", as `@langchain/modal`'s helper of the same name does.
 *
 * @throws `AUTHENTICATION_FAILED` naming each missing field and its variable.
 * @throws `INVALID_OPTIONS` when a given field is not a non-empty string.
 *
 * @example
 * ```ts
 * const { tokenId, tokenSecret } = getAuthCredentials({ auth: { tokenId: "ak-..." } }); // secret from MODAL_TOKEN_SECRET
 * ```
 */
export function getAuthCredentials(options?: ModalCredentialsSource): { tokenId: string; tokenSecret: string } {
  const given = credentialsOf(options);
  const resolved: Partial<Record<"tokenId" | "tokenSecret", string>> = {};
  const missing: string[] = [];
  for (const [field, variable] of FIELDS) {
    const value = given[field];
    if (value !== undefined) {
      if (typeof value !== "string" || value.trim() === "" || /\s/.test(value)) {
        throw new ModalSandboxError("INVALID_OPTIONS", {
          message: `invalid option "auth": ${field} must be a non-empty string without spaces`,
          details: { option: "auth", field },
        });
      }
      resolved[field] = value;
      continue;
    }
    const fromEnvironment = process.env[variable]?.trim();
    if (fromEnvironment) resolved[field] = fromEnvironment;
    else missing.push(`${field} (auth.${field} or ${variable})`);
  }
  if (missing.length > 0) {
    throw new ModalSandboxError("AUTHENTICATION_FAILED", {
      message: `missing Modal credentials: ${missing.join(" and ")}; ${CREDENTIALS_HINT}`,
      details: { missing: missing.map((entry) => entry.split(" ")[0]) },
    });
  }
  return { tokenId: resolved.tokenId!, tokenSecret: resolved.tokenSecret! };
}
