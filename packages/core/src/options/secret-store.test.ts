import { describe, expect, it } from "vitest";
import { ENVIRONMENT_VARIABLE_NAME, parseSecretStore, secretVariables } from "./secret-store.js";

describe("secret store parsing", () => {
  it("parses an object of secrets and returns one secret's variables", () => {
    const parsed = parseSecretStore('{ "keys": { "API_KEY": "v1", "_X2": "v2" } }', "/s.json");
    expect(parsed).toEqual({ ok: true, secrets: { keys: { API_KEY: "v1", _X2: "v2" } } });
    if (!parsed.ok) return;
    expect(secretVariables(parsed.secrets, "keys", "/s.json")).toEqual({ ok: true, env: { API_KEY: "v1", _X2: "v2" } });
  });

  it.each([
    ["not json", "is not valid JSON"],
    ["[1]", "must be a JSON object"],
    ["null", "must be a JSON object"],
  ])("refuses %s naming the file", (text, problem) => {
    expect(parseSecretStore(text, "/s.json")).toEqual({ ok: false, problem: expect.stringContaining(problem) });
    expect(parseSecretStore(text, "/s.json")).toEqual({ ok: false, problem: expect.stringContaining("/s.json") });
  });

  it("names a missing secret, a non-object secret and a bad entry, never a value", () => {
    const secrets = { list: ["s3cr3t"], bad: { "1X": "s3cr3t" }, number: { A: 1 } };
    expect(secretVariables(secrets, "missing", "/s.json")).toEqual({ ok: false, problem: 'secret "missing" is not in the secret store /s.json' });
    expect(secretVariables(secrets, "toString", "/s.json")).toEqual({ ok: false, problem: 'secret "toString" is not in the secret store /s.json' });
    expect(secretVariables(secrets, "list", "/s.json")).toEqual({ ok: false, problem: expect.stringContaining("must be an object") });
    expect(secretVariables(secrets, "bad", "/s.json")).toEqual({ ok: false, problem: expect.stringContaining('invalid entry "1X"') });
    expect(secretVariables(secrets, "number", "/s.json")).toEqual({ ok: false, problem: expect.stringContaining('invalid entry "A"') });
    expect(JSON.stringify(secretVariables(secrets, "bad", "/s.json"))).not.toContain("s3cr3t");
  });

  it("variable names: letters, digits and underscores, not starting with a digit", () => {
    for (const name of ["A", "_", "a_1"]) expect(ENVIRONMENT_VARIABLE_NAME.test(name)).toBe(true);
    for (const name of ["1A", "A-B", "", "A B"]) expect(ENVIRONMENT_VARIABLE_NAME.test(name)).toBe(false);
  });
});
