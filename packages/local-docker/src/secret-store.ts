import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Where named secrets come from: a JSON file mapping secret name to
 * environment variables, `{ "my-api-keys": { "API_KEY": "..." } }`.
 * Path: the `secretsFile` option, else `SANDBOX_SECRETS_FILE`, else
 * `~/.config/sandbox/secrets.json`. Values are only ever injected as
 * container environment; they never reach labels, logs or error messages.
 */
export function defaultSecretsFile(environment: Record<string, string | undefined> = process.env): string {
  return environment.SANDBOX_SECRETS_FILE ?? join(homedir(), ".config", "sandbox", "secrets.json");
}

/** Result of resolving secret names. */
export type SecretResolution =
  | { ok: true; env: Record<string, string> }
  | { ok: false; problem: string };

/** Resolves `names` from the store at `path`. Later secrets override earlier ones. */
export function resolveSecrets(names: readonly string[], path: string): SecretResolution {
  let store: unknown;
  try {
    store = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : "is not valid JSON";
    return { ok: false, problem: `secret(s) ${names.map((name) => `"${name}"`).join(", ")} cannot be read: the secret store ${path} ${reason}` };
  }
  if (typeof store !== "object" || store === null || Array.isArray(store)) {
    return { ok: false, problem: `the secret store ${path} must be a JSON object of secret name -> { VARIABLE: value }` };
  }
  const env: Record<string, string> = {};
  for (const name of names) {
    const secret = (store as Record<string, unknown>)[name];
    if (secret === undefined) return { ok: false, problem: `secret "${name}" is not in the secret store ${path}` };
    if (typeof secret !== "object" || secret === null || Array.isArray(secret)) {
      return { ok: false, problem: `secret "${name}" in ${path} must be an object of VARIABLE -> string` };
    }
    for (const [key, value] of Object.entries(secret as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || typeof value !== "string") {
        return { ok: false, problem: `secret "${name}" in ${path} has an invalid entry "${key}" (names must be variable names, values strings)` };
      }
      env[key] = value;
    }
  }
  return { ok: true, env };
}
