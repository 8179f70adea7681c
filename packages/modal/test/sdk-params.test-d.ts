/*
 * Compile-time checks (run by `pnpm --filter @sandbox/modal typecheck`, which
 * includes test/): ModalSandboxOptions accepts every sandbox create parameter
 * of the pinned modal SDK, with the SDK's own type for each one it passes
 * through, and MODAL_SDK_PARAM_KEYS lists exactly those. After an SDK upgrade
 * that adds a parameter, this file stops compiling until the adapter handles it.
 */
import type { SandboxOptions } from "@sandbox/core";
import type { SandboxCreateParams } from "modal";
import type { MODAL_SDK_PARAM_KEYS, ModalSandboxOptions } from "../src/index.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

/** Every key of the SDK's SandboxCreateParams is a key of ModalSandboxOptions. */
export type EveryKeyAccepted = Assert<Equal<Exclude<keyof SandboxCreateParams, keyof ModalSandboxOptions>, never>>;

/** The runtime key list names exactly the SDK keys not covered by the common options. */
export type KeyListExact = Assert<Equal<(typeof MODAL_SDK_PARAM_KEYS)[number], Exclude<keyof SandboxCreateParams, keyof SandboxOptions>>>;

/** Each passed-through parameter has the SDK's type (optional, as in the SDK). */
export type SameTypes = Assert<
  Equal<{ [K in (typeof MODAL_SDK_PARAM_KEYS)[number]]: ModalSandboxOptions[K] }, { [K in (typeof MODAL_SDK_PARAM_KEYS)[number]]: SandboxCreateParams[K] }>
>;

/** The common options that overlap an SDK parameter keep a type the SDK's accepts or that the adapter maps (volumes/secrets are names). */
export type OverlapsKnown = Assert<
  Equal<
    Extract<keyof SandboxCreateParams, keyof SandboxOptions>,
    "cpu" | "memoryMiB" | "gpu" | "timeoutMs" | "workdir" | "env" | "secrets" | "volumes" | "blockNetwork" | "name"
  >
>;
