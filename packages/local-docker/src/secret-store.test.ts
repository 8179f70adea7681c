import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultSecretsFile, resolveSecrets } from "./secret-store.js";

const directory = mkdtempSync(join(tmpdir(), "sandbox-secrets-"));
const file = join(directory, "secrets.json");
writeFileSync(
  file,
  JSON.stringify({ keys: { API_KEY: "s3cr3t-value" }, db: { DB_URL: "postgres://u:pw-value@h/db", API_KEY: "override" }, bad: { "1X": "v" } }),
);

describe("secret store", () => {
  it("reads the path from SANDBOX_SECRETS_FILE, else a file under the home directory", () => {
    expect(defaultSecretsFile({ SANDBOX_SECRETS_FILE: "/x/s.json" })).toBe("/x/s.json");
    expect(defaultSecretsFile({})).toMatch(/\.config\/sandbox\/secrets\.json$/);
  });

  it("resolves names to environment, later secrets winning", () => {
    expect(resolveSecrets(["keys", "db"], file)).toEqual({ ok: true, env: { API_KEY: "override", DB_URL: "postgres://u:pw-value@h/db" } });
  });

  it("names a missing secret and the store, never a value", () => {
    const result = resolveSecrets(["keys", "missing"], file);
    expect(result).toEqual({ ok: false, problem: expect.stringContaining('secret "missing" is not in the secret store') });
    expect(JSON.stringify(result)).not.toContain("s3cr3t-value");
  });

  it("reports a missing store file and invalid entries", () => {
    expect(resolveSecrets(["keys"], join(directory, "none.json"))).toEqual({
      ok: false,
      problem: expect.stringMatching(/"keys" cannot be read: .*does not exist/),
    });
    expect(resolveSecrets(["bad"], file)).toEqual({ ok: false, problem: expect.stringContaining('invalid entry "1X"') });
  });
});
