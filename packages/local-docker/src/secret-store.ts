import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseSecretStore, secretVariables } from "@sandbox/core";

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
export type SecretResolution = { ok: true; env: Record<string, string> } | { ok: false; problem: string };

/** Resolves `names` from the store at `path`. Later secrets override earlier ones. */
export function resolveSecrets(names: readonly string[], path: string): SecretResolution {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : "cannot be read";
    return { ok: false, problem: `secret(s) ${names.map((name) => `"${name}"`).join(", ")} cannot be read: the secret store ${path} ${reason}` };
  }
  const store = parseSecretStore(text, path);
  if (!store.ok) return store;
  const env: Record<string, string> = {};
  for (const name of names) {
    const secret = secretVariables(store.secrets, name, path);
    if (!secret.ok) return secret;
    Object.assign(env, secret.env);
  }
  return { ok: true, env };
}
