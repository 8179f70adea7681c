/** What an environment variable name must match: `[A-Za-z_][A-Za-z0-9_]*`. */
export const ENVIRONMENT_VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A problem found in a secrets file: it names the file and the entry, never a value. */
export type SecretStoreProblem = { ok: false; problem: string };

/**
 * Parses the text of a secrets file, `{ "secret-name": { "VARIABLE": "value" } }`
 * (the local store behind the `secrets` option, shared by local-docker and
 * the Modal emulator). Entries are checked one by one with {@link secretVariables}.
 */
export function parseSecretStore(text: string, path: string): { ok: true; secrets: Record<string, unknown> } | SecretStoreProblem {
  let store: unknown;
  try {
    store = JSON.parse(text);
  } catch {
    return { ok: false, problem: `the secret store ${path} is not valid JSON` };
  }
  if (typeof store !== "object" || store === null || Array.isArray(store)) {
    return { ok: false, problem: `the secret store ${path} must be a JSON object of secret name -> { VARIABLE: value }` };
  }
  return { ok: true, secrets: store as Record<string, unknown> };
}

/** The variables of secret `name` in a parsed store, checked: names are variable names, values strings. */
export function secretVariables(secrets: Record<string, unknown>, name: string, path: string): { ok: true; env: Record<string, string> } | SecretStoreProblem {
  const secret = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  if (secret === undefined) return { ok: false, problem: `secret "${name}" is not in the secret store ${path}` };
  if (typeof secret !== "object" || secret === null || Array.isArray(secret)) {
    return { ok: false, problem: `secret "${name}" in ${path} must be an object of VARIABLE -> string` };
  }
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret as Record<string, unknown>)) {
    if (!ENVIRONMENT_VARIABLE_NAME.test(key) || typeof value !== "string") {
      return { ok: false, problem: `secret "${name}" in ${path} has an invalid entry "${key}" (names must be variable names, values strings)` };
    }
    env[key] = value;
  }
  return { ok: true, env };
}
