import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { connect, createServer } from "node:tls";
import { trustCertificateAuthority } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { createLocalCertificateAuthority } from "./local-ca.js";

/** Connects to a TLS server presenting the CA's server certificate; resolves with the verification outcome. */
async function handshake(ca: ReturnType<typeof createLocalCertificateAuthority>, host: string, trust: string | undefined): Promise<string> {
  const server = createServer({ cert: ca.serverCertificatePem, key: ca.serverKeyPem }, (socket) => socket.end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    return await new Promise<string>((resolve) => {
      const socket = connect({
        host: "127.0.0.1",
        servername: host === "127.0.0.1" ? undefined : host,
        port: (server.address() as AddressInfo).port,
        ...(trust ? { ca: trust } : {}),
      });
      socket.once("secureConnect", () => {
        socket.destroy();
        resolve("verified");
      });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
  } finally {
    server.close();
  }
}

describe("createLocalCertificateAuthority", () => {
  const ca = createLocalCertificateAuthority();

  it("makes a CA certificate and a server certificate for 127.0.0.1 and localhost that it signs", () => {
    const root = new X509Certificate(ca.caPem);
    const server = new X509Certificate(ca.serverCertificatePem);
    expect(root.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(root.publicKey)).toBe(true);
    expect(server.checkIssued(root)).toBe(true);
    expect(server.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(server.checkHost("localhost")).toBe("localhost");
    expect(new Date(server.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
  });

  it("issues a certificate for another name, signed by the same CA, with a key of its own", () => {
    const leaf = ca.issueServerCertificate(["api.example.test"]);
    const certificate = new X509Certificate(leaf.certificatePem);
    expect(certificate.checkIssued(new X509Certificate(ca.caPem))).toBe(true);
    expect(certificate.verify(new X509Certificate(ca.caPem).publicKey)).toBe(true);
    expect(certificate.subjectAltName).toBe("DNS:api.example.test");
    expect(certificate.checkHost("api.example.test")).toBe("api.example.test");
    expect(certificate.checkHost("localhost")).toBeUndefined();
    expect(leaf.keyPem).not.toBe(ca.serverKeyPem);
    expect(() => ca.issueServerCertificate(["bad name\u0000"])).toThrow(/not a DNS name/);
  });

  it("verifies in a TLS handshake for a client trusting the CA, and not for one without it or with another CA", async () => {
    expect(await handshake(ca, "127.0.0.1", ca.caPem)).toBe("verified");
    expect(await handshake(ca, "localhost", ca.caPem)).toBe("verified");
    expect(await handshake(ca, "127.0.0.1", undefined)).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    expect(await handshake(ca, "127.0.0.1", createLocalCertificateAuthority().caPem)).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    expect(await handshake(ca, "example.com", ca.caPem)).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("is trusted by Node's global fetch once the tests install it (trustCertificateAuthority), and no longer after", async () => {
    const server = createHttpsServer({ cert: ca.serverCertificatePem, key: ca.serverKeyPem }, (_request, response) => response.end("trusted"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const outcome = () =>
      fetch(url).then(
        (response) => response.text(),
        (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? String(error),
      );
    try {
      expect(await outcome()).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      const untrust = trustCertificateAuthority(ca.caPem);
      try {
        expect(await outcome()).toBe("trusted");
      } finally {
        await untrust();
      }
      expect(await outcome()).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
