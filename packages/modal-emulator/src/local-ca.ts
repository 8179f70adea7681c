import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

/**
 * A certificate authority of this emulator's own, made at start with
 * node:crypto (ECDSA P-256, SHA-256): it signs the certificate the TLS
 * tunnels (`tunnel.url` of every opened port) present for `127.0.0.1` and
 * `localhost`. A client that trusts the CA's certificate (for Node,
 * `NODE_EXTRA_CA_CERTS=<file>` or the `ca` option of `https` / `tls`)
 * verifies the tunnels as it verifies Modal's; one that does not refuses them.
 *
 * Certificates are DER-encoded here by hand (node:crypto signs but does not
 * build X.509): only the fields a TLS client checks are written.
 */
export interface LocalCertificateAuthority {
  /** The CA's certificate, PEM: what a client trusts. */
  readonly caPem: string;
  /** The tunnels' certificate (for the names and addresses given), PEM. */
  readonly serverCertificatePem: string;
  /** The tunnels' private key, PEM (PKCS#8). Never leaves the emulator. */
  readonly serverKeyPem: string;
  /**
   * Signs a new server certificate (and key) for `hosts` (DNS names and IPv4
   * addresses), as the egress proxy needs one for each name it intercepts.
   */
  issueServerCertificate(hosts: readonly string[]): { certificatePem: string; keyPem: string };
}

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extendedKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const octetString = (value: Buffer) => tlv(0x04, value);
const explicit = (index: number, value: Buffer) => tlv(0xa0 + index, value);

function integer(value: Buffer): Buffer {
  let bytes = value;
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  return tlv(0x02, (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const encoded = [part & 0x7f];
    for (let rest = part >> 7; rest > 0; rest >>= 7) encoded.unshift(0x80 | (rest & 0x7f));
    bytes.push(...encoded);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function bitString(value: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), value);
}

/** UTCTime for years before 2050, GeneralizedTime after, as RFC 5280 asks. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function name(commonName: string): Buffer {
  const attribute = (type: string, value: string) => set(sequence(oid(type), tlv(0x0c, Buffer.from(value, "utf8"))));
  return sequence(attribute(OID.organization, "modal-emulator"), attribute(OID.commonName, commonName));
}

function extension(type: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(type), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), octetString(value));
}

function subjectAltNames(hosts: readonly string[]): Buffer {
  const entries = hosts.map((host) => {
    const family = isIP(host);
    if (family === 4) return tlv(0x87, Buffer.from(host.split(".").map(Number)));
    if (family === 6) throw new Error("IPv6 tunnel addresses are not used");
    if (!/^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$/.test(host)) throw new Error(`not a DNS name: ${JSON.stringify(host)}`);
    return tlv(0x82, Buffer.from(host, "ascii"));
  });
  return sequence(...entries);
}

interface CertificateInput {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

function certificate(input: CertificateInput): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name(input.issuer),
    sequence(time(input.notBefore), time(input.notAfter)),
    name(input.subject),
    input.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, sequence(...input.extensions)),
  );
  const signature = sign("sha256", tbs, input.signingKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** Validity of the generated certificates: from a day ago (clock skew) for a year. */
const VALIDITY_MS = 365 * 24 * 3600 * 1000;

/** Makes a fresh CA and a server certificate it signs for `hosts` (IPv4 addresses and DNS names). */
export function createLocalCertificateAuthority(hosts: readonly string[] = ["127.0.0.1", "localhost"], now = new Date()): LocalCertificateAuthority {
  const notBefore = new Date(now.getTime() - 24 * 3600 * 1000);
  const notAfter = new Date(now.getTime() + VALIDITY_MS);
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const server = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const caName = `modal-emulator local CA ${randomBytes(4).toString("hex")}`;
  const caPem = certificate({
    subject: caName,
    issuer: caName,
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    notBefore,
    notAfter,
    extensions: [
      extension(OID.basicConstraints, true, sequence(tlv(0x01, Buffer.from([0xff])))),
      // keyCertSign and cRLSign (bits 5 and 6).
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
    ],
  });
  const serverCertificateFor = (names: readonly string[], publicKey: KeyObject) =>
    certificate({
      subject: names[0] ?? "localhost",
      issuer: caName,
      publicKey,
      signingKey: ca.privateKey,
      notBefore,
      notAfter,
      extensions: [
        extension(OID.basicConstraints, true, sequence()),
        // digitalSignature (bit 0).
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
        extension(OID.extendedKeyUsage, false, sequence(oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, subjectAltNames(names)),
      ],
    });
  return {
    caPem,
    serverCertificatePem: serverCertificateFor(hosts, createPublicKey(server.privateKey)),
    serverKeyPem: server.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    issueServerCertificate(names) {
      const leaf = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return { certificatePem: serverCertificateFor(names, leaf.publicKey), keyPem: leaf.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
    },
  };
}
