import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";
import type { ControlPlaneRequest } from "./modal-sdk-definitions.js";
import { mintObjectId } from "./object-ids.js";
import { ObjectCreationType } from "./protocol-values.js";

/** A named or ephemeral secret. */
interface SecretRecord {
  secretId: string;
  name: string | undefined;
  values: Record<string, string>;
}

/** Where a sandbox or exec takes environment variables from: a secret by id, or inline values. */
export type SecretSource = { secretId?: string | undefined; env?: { contents?: Record<string, string | undefined> } | undefined };

function assignDefined(target: Record<string, string>, values: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(values)) if (value !== undefined) target[key] = value;
}

/** Secrets by id and name: the seeded named ones and those the SDK creates. */
export class SecretStore {
  readonly #byId = new Map<string, SecretRecord>();
  readonly #idsByName = new Map<string, string>();

  /** Adds or replaces a named secret (the seed file and the library API use this). */
  putNamed(name: string, values: Record<string, string>): string {
    const secretId = this.#idsByName.get(name) ?? mintObjectId("secret");
    this.#byId.set(secretId, { secretId, name, values: { ...values } });
    this.#idsByName.set(name, secretId);
    return secretId;
  }

  /** `SecretGetOrCreate`: an ephemeral secret, a named one (created when asked), checked for required keys. */
  getOrCreate(request: ControlPlaneRequest<"secretGetOrCreate">): string {
    const creationType = request.objectCreationType ?? 0;
    if (creationType === ObjectCreationType.ephemeral) {
      const secretId = mintObjectId("secret");
      const values: Record<string, string> = {};
      assignDefined(values, request.envDict ?? {});
      this.#byId.set(secretId, { secretId, name: undefined, values });
      return secretId;
    }
    const name = request.deploymentName ?? "";
    const secretId = this.#idsByName.get(name);
    if (!secretId) {
      if (creationType !== ObjectCreationType.unspecified && request.envDict) {
        const values: Record<string, string> = {};
        assignDefined(values, request.envDict);
        return this.putNamed(name, values);
      }
      fail(Status.NOT_FOUND, `Secret '${name}' not found. modal-emulator serves named secrets from its seed (secrets option or --secrets-file).`);
    }
    const values = this.#values(secretId);
    const missing = (request.requiredKeys ?? []).filter((key) => !(key in values));
    if (missing.length > 0) fail(Status.FAILED_PRECONDITION, `Secret is missing key(s): ${missing.join(", ")}`);
    return secretId;
  }

  delete(secretId: string): void {
    const secret = this.#byId.get(secretId);
    if (!secret) fail(Status.NOT_FOUND, `Secret ${secretId} not found`);
    this.#byId.delete(secretId);
    if (secret.name) this.#idsByName.delete(secret.name);
  }

  /** Merges secrets and inline env in order (later wins), as the sandbox or exec sees them. */
  resolveEnvironment(
    secretIds: readonly string[] | undefined,
    secretSources: ReadonlyArray<SecretSource> | undefined,
    inlineEnv?: Record<string, string | undefined>,
  ): Record<string, string> {
    const environment: Record<string, string> = {};
    for (const secretId of secretIds ?? []) Object.assign(environment, this.#values(secretId));
    for (const source of secretSources ?? []) {
      if (source.secretId) Object.assign(environment, this.#values(source.secretId));
      else if (source.env?.contents) assignDefined(environment, source.env.contents);
    }
    assignDefined(environment, inlineEnv ?? {});
    return environment;
  }

  /** A secret's values by id (the egress proxy's header templates read them). */
  valuesOf(secretId: string): Readonly<Record<string, string>> {
    return this.#values(secretId);
  }

  #values(secretId: string): Record<string, string> {
    const secret = this.#byId.get(secretId);
    if (!secret) fail(Status.NOT_FOUND, `Secret ${secretId} not found`);
    return secret.values;
  }
}
