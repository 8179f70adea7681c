/**
 * Replaces every occurrence of each secret value in `text` with `[redacted]`.
 *
 * Adapters register the secret values they know (tokens, resolved secret
 * environment values) so that no message, even one quoting a provider's own
 * error text, carries them. Values shorter than 4 characters are ignored: they
 * would redact ordinary words and are not secrets worth the name.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  const ordered = [...secrets].filter((secret) => typeof secret === "string").sort((a, b) => b.length - a.length);
  for (const secret of ordered) {
    if (typeof secret !== "string" || secret.length < 4) continue;
    result = result.split(secret).join("[redacted]");
  }
  return result;
}
