function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * Encodes a JWT (RFC 7519 compact form): the header and the claims as
 * base64url JSON, and `sign`'s base64url signature of the two.
 */
export function encodeJwt(header: Record<string, string>, claims: object, sign: (signingInput: string) => string): string {
  const signingInput = `${base64UrlJson(header)}.${base64UrlJson(claims)}`;
  return `${signingInput}.${sign(signingInput)}`;
}
