import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { compileFunction } from "node:vm";
import type { ContainerProcess, ModalClient } from "modal";

/**
 * The one place that reaches into the pinned `modal` SDK bundle for its
 * generated gRPC service definitions.
 *
 * Why: `modal@0.11.1` ships no `.proto` files and does not export its ts-proto
 * definitions, but they are exact: reusing them means the emulator decodes and
 * encodes every message with the very code the SDK uses, so no field can drift
 * (a hand-written proto subset silently drops fields such as exec env vars).
 * The cost is reaching into an internal; that is contained here, and loading
 * fails loudly when the names move (for example after an SDK upgrade).
 *
 * How: the bundle is evaluated once more, as CommonJS, through `vm.compileFunction`
 * (a documented Node API, no `Module._compile`), with `require` bound to the
 * bundle's own location. Kept rather than generating a committed copy of the
 * definitions: that copy would be thousands of lines of the SDK's generated
 * code in this repository, and it could drift from the installed SDK, which
 * is exactly what reusing the live definitions rules out. The second
 * evaluation costs one parse at emulator start; the emulator runs no SDK
 * client code from it.
 */

/** The SDK version these definitions were verified against. */
export const PINNED_MODAL_SDK_VERSION = "0.11.1";

/** A ts-proto message codec, as the generated definitions carry them. */
export interface MessageCodec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromPartial(object: unknown): unknown;
}

/** One method of a ts-proto generic service definition. */
export interface MethodDefinition {
  name: string;
  requestType: MessageCodec;
  requestStream: boolean;
  responseType: MessageCodec;
  responseStream: boolean;
  options: object;
}

/** A ts-proto generic service definition (what nice-grpc's server accepts). */
export interface ServiceDefinition {
  name: string;
  fullName: string;
  methods: Record<string, MethodDefinition>;
}

/** The definitions the emulator serves. */
export interface ModalSdkDefinitions {
  /** `modal.client.ModalClient`, the control plane. */
  controlPlane: ServiceDefinition;
  /** `modal.task_command_router.TaskCommandRouter`, the per-task router. */
  commandRouter: ServiceDefinition;
  /** The version of the `modal` package they were loaded from. */
  sdkVersion: string;
}

const EXPECTED_SERVICES = {
  ModalClientDefinition: "modal.client.ModalClient",
  TaskCommandRouterDefinition: "modal.task_command_router.TaskCommandRouter",
} as const;

let cached: ModalSdkDefinitions | undefined;

/**
 * Loads the generated service definitions from the installed `modal` SDK.
 *
 * It evaluates the SDK's CommonJS bundle once more as a private module with a
 * one-line suffix that hands back the two top-level definition constants
 * (module-private in the bundle, so no export reaches them).
 *
 * @throws Error when the installed SDK is not the pinned version or the
 *   definitions are missing or renamed.
 */
export function loadModalSdkDefinitions(): ModalSdkDefinitions {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const bundlePath = require.resolve("modal");
  const packageJsonPath = path.join(path.dirname(bundlePath), "..", "package.json");
  const sdkVersion = (JSON.parse(readFileSync(packageJsonPath, "utf8")) as { version: string }).version;
  if (sdkVersion !== PINNED_MODAL_SDK_VERSION) {
    throw new Error(
      `@sandbox/modal-emulator speaks the wire protocol of modal@${PINNED_MODAL_SDK_VERSION}, ` +
        `but modal@${sdkVersion} is installed at ${packageJsonPath}. Pin "modal": "${PINNED_MODAL_SDK_VERSION}".`,
    );
  }
  if (!bundlePath.endsWith(".cjs")) {
    throw new Error(`Expected the modal SDK's CommonJS bundle, resolved ${bundlePath}`);
  }
  const source = readFileSync(bundlePath, "utf8");
  const names = Object.keys(EXPECTED_SERVICES);
  const suffix = `\n;return { ${names.map((name) => `${name}: typeof ${name} === "undefined" ? undefined : ${name}`).join(", ")} };\n`;
  const evaluateBundle = compileFunction(source + suffix, ["exports", "require", "module", "__filename", "__dirname"], { filename: bundlePath });
  const bundleModule = { exports: {} };
  const found = (evaluateBundle(bundleModule.exports, createRequire(bundlePath), bundleModule, bundlePath, path.dirname(bundlePath)) ?? {}) as Record<
    string,
    ServiceDefinition | undefined
  >;
  const services: Record<string, ServiceDefinition> = {};
  for (const [constantName, fullName] of Object.entries(EXPECTED_SERVICES)) {
    const definition = found[constantName];
    if (!definition || definition.fullName !== fullName || typeof definition.methods !== "object") {
      throw new Error(
        `The modal SDK bundle at ${bundlePath} no longer defines ${constantName} for ${fullName}; ` +
          "the emulator's definition loader (src/modal-sdk-definitions.ts) must be updated for this SDK.",
      );
    }
    services[constantName] = definition;
  }
  cached = {
    controlPlane: services.ModalClientDefinition!,
    commandRouter: services.TaskCommandRouterDefinition!,
    sdkVersion,
  };
  return cached;
}

/* ---------------------------------------------------------------------------
 * Message types, derived from the SDK's own declarations so they cannot drift.
 * The control-plane client type is public (`ModalClient.cpClient`); the router
 * client type is reachable through `ContainerProcess`'s constructor.
 * ------------------------------------------------------------------------- */

type ControlPlaneClient = ModalClient["cpClient"];
/** Names of the unary control-plane methods. */
export type ControlPlaneMethodName = {
  [Name in keyof ControlPlaneClient]: ControlPlaneClient[Name] extends (...args: never[]) => Promise<unknown> ? Name : never;
}[keyof ControlPlaneClient];

/** The request of a server-streaming control-plane method. */
export type ControlPlaneStreamRequest<Name extends keyof ControlPlaneClient> = NonNullable<Parameters<ControlPlaneClient[Name]>[0]>;

/** The request of a unary control-plane method, as the SDK sends it. */
export type ControlPlaneRequest<Name extends ControlPlaneMethodName> = NonNullable<Parameters<ControlPlaneClient[Name]>[0]>;
/** The full response of a unary control-plane method. */
export type ControlPlaneResponse<Name extends ControlPlaneMethodName> = Awaited<ReturnType<ControlPlaneClient[Name]>>;

/** The SDK's command-router client, whose method signatures name the router messages. */
export type CommandRouterClient = ConstructorParameters<typeof ContainerProcess>[2];
/** `TaskExecStartRequest`, as the SDK builds it. */
export type TaskExecStartRequest = Parameters<CommandRouterClient["execStart"]>[0];
/** A sandbox definition inside a create request. */
export type SandboxDefinition = NonNullable<ControlPlaneRequest<"sandboxCreate">["definition"]>;

/** Makes every field of a message optional, recursively: what nice-grpc accepts as a response. */
export type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends Array<infer Item>
    ? Array<DeepPartial<Item>>
    : T extends object
      ? { [Key in keyof T]?: DeepPartial<T[Key]> }
      : T;
