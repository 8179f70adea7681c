import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";

/**
 * `experimentalOutboundPolicy` (at create) and `experimentalUpdateOutboundPolicy`
 * (`TaskSetOutboundPolicy`): header replacements for outbound HTTPS, checked
 * and resolved here, applied by the egress proxy (egress-proxy.ts).
 *
 * The wire message is the SDK's `ExperimentalOutboundPolicy`: a list of
 * `{ domain, secretId, headers }`. A domain is a name, `*.name` (the name and
 * every name under it, as the SDK documents) or `*` (every name); header
 * values are templates where `$KEY` is the value of `KEY` in the entry's
 * secret and `$$` a literal `$`. The emulator checks what the SDK checks
 * before sending (so a client that skips the SDK's checks is refused the
 * same way), resolves every template once, and keeps the values only in
 * memory: they are never logged nor put in an error.
 */

/** The wire form, as the SDK's `ExperimentalOutboundPolicy` decodes. */
export interface OutboundPolicyMessage {
  headerReplacements?: Array<{ domain?: string; secretId?: string; headers?: Record<string, string | undefined> }>;
}

/** One entry, resolved: the domain pattern and the headers to set, with secret values substituted. */
export interface ResolvedHeaderReplacement {
  /** The domain as written (`api.example.com`, `*.example.com`, `*`). */
  domain: string;
  /** Header name (as written) and value to set; a header of that name sent by the sandbox is replaced. */
  headers: Array<[name: string, value: string]>;
}

/** A checked policy: its entries in order; the first whose domain matches a name applies. */
export interface ResolvedOutboundPolicy {
  replacements: ResolvedHeaderReplacement[];
}

/** The SDK's own limits and grammar (modal@0.11.1 `outbound_policy.ts`). */
const DOMAIN_PATTERN = /^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const HEADER_NAME_PATTERN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const MAX_HEADER_REPLACEMENTS = 25;
const TEMPLATE_KEY = /^[A-Za-z_][A-Za-z0-9_]*/;

function hasControlCharacter(value: string): boolean {
  for (const character of value) {
    const code = character.codePointAt(0)!;
    if ((code < 32 && character !== "\t") || code === 127) return true;
  }
  return false;
}

/**
 * Expands a header value template: `$KEY` is `values[KEY]`, `$$` a literal
 * `$`, and a `$` before anything else stays as it is.
 * @throws ServerError INVALID_ARGUMENT naming the missing key (never a value).
 */
export function expandHeaderTemplate(template: string, values: Readonly<Record<string, string>> | undefined, where: string): string {
  let expanded = "";
  for (let index = 0; index < template.length; ) {
    const character = template[index]!;
    if (character !== "$") {
      expanded += character;
      index += 1;
      continue;
    }
    if (template[index + 1] === "$") {
      expanded += "$";
      index += 2;
      continue;
    }
    const key = TEMPLATE_KEY.exec(template.slice(index + 1))?.[0];
    if (!key) {
      expanded += "$";
      index += 1;
      continue;
    }
    if (!values) fail(Status.INVALID_ARGUMENT, `${where} references $${key}, but no secret was passed`);
    if (!Object.hasOwn(values, key)) fail(Status.INVALID_ARGUMENT, `${where} references $${key}, which its secret does not have`);
    expanded += values[key];
    index += 1 + key.length;
  }
  return expanded;
}

/**
 * Checks a policy as the SDK does and resolves its templates with the
 * secrets' values.
 * @param secretValues the values of a secret by id; throws NOT_FOUND for an unknown one.
 * @throws ServerError INVALID_ARGUMENT naming the bad domain, header or key; NOT_FOUND for an unknown secret.
 */
export function resolveOutboundPolicy(
  message: OutboundPolicyMessage,
  secretValues: (secretId: string) => Readonly<Record<string, string>>,
): ResolvedOutboundPolicy {
  let total = 0;
  const replacements = (message.headerReplacements ?? []).map((entry): ResolvedHeaderReplacement => {
    const domain = entry.domain ?? "";
    if (domain !== "*" && !DOMAIN_PATTERN.test(domain))
      fail(Status.INVALID_ARGUMENT, `Invalid domain in experimentalOutboundPolicy: ${JSON.stringify(domain)}`);
    const entries = Object.entries(entry.headers ?? {}).filter((pair): pair is [string, string] => pair[1] !== undefined);
    if (entries.length === 0) fail(Status.INVALID_ARGUMENT, `experimentalOutboundPolicy: the replacement for ${domain} must contain at least one header`);
    const values = entry.secretId ? secretValues(entry.secretId) : undefined;
    const headers = entries.map(([name, template]): [string, string] => {
      if (!HEADER_NAME_PATTERN.test(name)) fail(Status.INVALID_ARGUMENT, `Invalid header name in experimentalOutboundPolicy: ${JSON.stringify(name)}`);
      if (hasControlCharacter(template))
        fail(Status.INVALID_ARGUMENT, `Header value for ${JSON.stringify(name)} must not contain control characters (except tab)`);
      return [name, expandHeaderTemplate(template, values, `Header value for ${JSON.stringify(name)} (domain ${domain})`)];
    });
    total += headers.length;
    return { domain, headers };
  });
  if (total > MAX_HEADER_REPLACEMENTS) fail(Status.INVALID_ARGUMENT, `Outbound policy cannot have more than ${MAX_HEADER_REPLACEMENTS} header replacements`);
  return { replacements };
}

/** Whether `pattern` (a name, `*.name` or `*`) covers the server name `name`, case-insensitively. */
export function domainMatches(pattern: string, name: string): boolean {
  const host = name.toLowerCase().replace(/\.$/, "");
  const wanted = pattern.toLowerCase();
  if (wanted === "*") return true;
  if (wanted.startsWith("*.")) {
    const apex = wanted.slice(2);
    return host === apex || host.endsWith(`.${apex}`);
  }
  return host === wanted;
}

/** The first replacement whose domain covers `serverName`, or `undefined`. */
export function replacementFor(policy: ResolvedOutboundPolicy, serverName: string): ResolvedHeaderReplacement | undefined {
  return policy.replacements.find((replacement) => domainMatches(replacement.domain, serverName));
}
