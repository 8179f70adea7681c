import { describe, expect, it } from "vitest";
import { secretsEqual, TokenAuthority, tokenKeyFor } from "./auth-tokens.js";

describe("TokenAuthority", () => {
  it("mints JWTs with exp that it verifies", () => {
    const authority = new TokenAuthority(60);
    const token = authority.mint("command-router", "ta-1", "sb-1");
    expect(token.split(".")).toHaveLength(3);
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000 + 50);
    expect(authority.verify(token)).toMatchObject({ scope: "command-router", subject: "ta-1", sandboxId: "sb-1" });
  });

  it("rejects tokens of another authority, tampered tokens and expired tokens", () => {
    const authority = new TokenAuthority(60);
    const token = authority.mint("control-plane", "client");
    expect(new TokenAuthority().verify(token)).toBeUndefined();
    const [header, , signature] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ scope: "control-plane", subject: "x", exp: 9e9, iat: 0 })).toString("base64url");
    expect(authority.verify(`${header}.${forged}.${signature}`)).toBeUndefined();
    expect(authority.verify("not-a-jwt")).toBeUndefined();
    expect(new TokenAuthority(-1).verify(new TokenAuthority(-1).mint("control-plane", "c"))).toBeUndefined();
  });

  it("with a key from the credentials, tokens survive a restart with the same credentials only", () => {
    const token = new TokenAuthority(60, tokenKeyFor("ak-1", "as-1")).mint("control-plane", "client");
    expect(new TokenAuthority(60, tokenKeyFor("ak-1", "as-1")).verify(token)).toMatchObject({ scope: "control-plane", subject: "client" });
    expect(new TokenAuthority(60, tokenKeyFor("ak-1", "as-2")).verify(token)).toBeUndefined();
    expect(new TokenAuthority(60, tokenKeyFor("ak-2", "as-1")).verify(token)).toBeUndefined();
    expect(tokenKeyFor("ak-1", "as-1").toString("hex")).not.toContain(Buffer.from("as-1").toString("hex"));
  });

  it("compares secrets exactly", () => {
    expect(secretsEqual("abc", "abc")).toBe(true);
    expect(secretsEqual("abd", "abc")).toBe(false);
    expect(secretsEqual("ab", "abc")).toBe(false);
    expect(secretsEqual(undefined, "abc")).toBe(false);
  });
});
