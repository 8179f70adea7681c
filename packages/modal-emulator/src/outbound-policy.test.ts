import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { connect } from "node:tls";
import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { serverNameOf } from "./egress-proxy.js";
import { domainMatches, expandHeaderTemplate, replacementFor, resolveOutboundPolicy } from "./outbound-policy.js";

const secrets: Record<string, Record<string, string>> = { "st-1": { TOKEN: "t0ken", OTHER_KEY: "o" } };
const valuesOf = (secretId: string) => {
  const values = secrets[secretId];
  if (!values) throw Object.assign(new Error(`Secret ${secretId} not found`), { code: Status.NOT_FOUND });
  return values;
};

describe("expandHeaderTemplate", () => {
  it("substitutes $KEY with the secret's value, $$ with a literal $, and leaves a $ before anything else", () => {
    expect(expandHeaderTemplate("Bearer $TOKEN", secrets["st-1"], "h")).toBe("Bearer t0ken");
    expect(expandHeaderTemplate("$TOKEN-$OTHER_KEY", secrets["st-1"], "h")).toBe("t0ken-o");
    expect(expandHeaderTemplate("cost $$5 and $$TOKEN", secrets["st-1"], "h")).toBe("cost $5 and $TOKEN");
    expect(expandHeaderTemplate("$ 1 $5 $", undefined, "h")).toBe("$ 1 $5 $");
  });

  it("refuses a key the secret lacks, or any key without a secret, naming the key and never a value", () => {
    expect(() => expandHeaderTemplate("Bearer $NOPE", secrets["st-1"], "Header value for Authorization")).toThrow(
      expect.objectContaining({
        code: Status.INVALID_ARGUMENT,
        details: expect.stringMatching(/Authorization references \$NOPE, which its secret does not have/),
      }),
    );
    expect(() => expandHeaderTemplate("$TOKEN", undefined, "h")).toThrow(/no secret was passed/);
    const refusal = (() => {
      try {
        expandHeaderTemplate("$TOKEN $NOPE", secrets["st-1"], "h");
      } catch (error) {
        return error as Error;
      }
    })();
    expect(refusal?.message).toContain("$NOPE");
    expect(refusal?.message).not.toContain("t0ken");
  });
});

describe("domainMatches", () => {
  it("matches names exactly, `*.name` as the name and everything under it, `*` as everything, case-insensitively", () => {
    expect(domainMatches("api.example.com", "api.example.com")).toBe(true);
    expect(domainMatches("api.example.com", "API.Example.com.")).toBe(true);
    expect(domainMatches("api.example.com", "x.api.example.com")).toBe(false);
    expect(domainMatches("*.example.com", "example.com")).toBe(true);
    expect(domainMatches("*.example.com", "a.b.example.com")).toBe(true);
    expect(domainMatches("*.example.com", "badexample.com")).toBe(false);
    expect(domainMatches("*", "anything.test")).toBe(true);
  });
});

describe("resolveOutboundPolicy", () => {
  it("resolves every entry in order; the first entry whose domain matches applies", () => {
    const policy = resolveOutboundPolicy(
      {
        headerReplacements: [
          { domain: "api.example.com", secretId: "st-1", headers: { Authorization: "Bearer $TOKEN" } },
          { domain: "*.example.com", secretId: "", headers: { "X-Static": "s" } },
        ],
      },
      valuesOf,
    );
    expect(replacementFor(policy, "api.example.com")?.headers).toEqual([["Authorization", "Bearer t0ken"]]);
    expect(replacementFor(policy, "www.example.com")?.headers).toEqual([["X-Static", "s"]]);
    expect(replacementFor(policy, "example.org")).toBeUndefined();
  });

  it("refuses what the SDK refuses: bad domains and header names, control characters, no headers, more than 25 headers", () => {
    const refused = (entry: { domain?: string; secretId?: string; headers?: Record<string, string> }) => () =>
      resolveOutboundPolicy({ headerReplacements: [entry] }, valuesOf);
    expect(refused({ domain: "not a domain", headers: { A: "b" } })).toThrow(/Invalid domain/);
    expect(refused({ domain: "*.*.example.com", headers: { A: "b" } })).toThrow(/Invalid domain/);
    expect(refused({ domain: "example.com", headers: {} })).toThrow(/at least one header/);
    expect(refused({ domain: "example.com", headers: { "Bad Name": "b" } })).toThrow(/Invalid header name/);
    expect(refused({ domain: "example.com", headers: { A: "line\nbreak" } })).toThrow(/control characters/);
    expect(refused({ domain: "example.com", secretId: "st-missing", headers: { A: "$TOKEN" } })).toThrow(/not found/);
    const many = Object.fromEntries(Array.from({ length: 26 }, (_, index) => [`X-H${index}`, "v"]));
    expect(refused({ domain: "example.com", headers: many })).toThrow(/more than 25/);
  });
});

describe("serverNameOf", () => {
  /** The first bytes a real TLS client (Node's) sends for `servername`. */
  async function clientHello(servername: string | undefined): Promise<Buffer> {
    const server = createTcpServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const received = new Promise<Buffer>((resolve) => server.once("connection", (socket) => socket.once("data", (chunk: Buffer) => resolve(chunk))));
      const client = connect({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, ...(servername ? { servername } : {}) });
      client.on("error", () => undefined);
      const hello = await received;
      client.destroy();
      return hello;
    } finally {
      server.close();
    }
  }

  it("reads the server name of a real ClientHello, and nothing from one without SNI or from non-TLS bytes", async () => {
    expect(serverNameOf(await clientHello("API.Example.test"))).toBe("api.example.test");
    expect(serverNameOf(await clientHello(undefined))).toBeUndefined();
    expect(serverNameOf(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toBeUndefined();
    expect(serverNameOf(Buffer.from([0x16, 3, 1, 0, 10, 1, 0]))).toBeUndefined();
  });
});
