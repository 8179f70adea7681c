import { SandboxError as DeepAgentsSandboxError } from "deepagents";
import { isSandboxErrorCode, type SandboxErrorCode } from "../errors/error-codes.js";
import { SandboxError } from "../errors/sandbox-error.js";

/** Returned by {@link outcomeOf} when the action did not throw. */
export const DID_NOT_THROW: unique symbol = Symbol("did not throw");

/**
 * Runs `action` and returns what it threw or rejected with, or
 * {@link DID_NOT_THROW}. A synchronous throw counts the same as a rejection:
 * the contract allows either for invalid input.
 */
export async function outcomeOf(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  return DID_NOT_THROW;
}

/** Awaits `action`, turning a rejection into an error that says what was being done. */
export async function mustResolve<T>(action: () => Promise<T>, doing: string): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw new Error(`${doing} must resolve with a result, but it rejected with ${describeThrown(error)}`);
  }
}

/** A one-line description of any thrown value, for assertion messages. */
export function describeThrown(value: unknown): string {
  if (value === DID_NOT_THROW) return "it did not throw (resolved / returned normally)";
  if (SandboxError.isInstance(value)) return `SandboxError ${value.code} from provider "${value.provider}": ${value.message}`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return `non-Error value ${JSON.stringify(value)}`;
  } catch {
    return `non-Error value ${String(value)}`;
  }
}

/**
 * Asserts that `thrown` is a well-formed `SandboxError` with `code` raised by
 * `provider`: recognised by `SandboxError.isInstance`, by `instanceof`, and by
 * deepagents' own `SandboxError.isInstance`; `code` known; `retryable` a
 * boolean; the provider shown where the error is displayed (`String(error)`)
 * and not baked into the raw `message`. Throws an `Error` whose message
 * says what the adapter did instead, so a failing case reads like a bug report.
 */
export function assertSandboxError(thrown: unknown, code: SandboxErrorCode, provider: string, doing: string): asserts thrown is SandboxError {
  const fail = (problem: string): never => {
    throw new Error(`${doing}: expected a SandboxError with code ${code} from provider "${provider}", but ${problem}`);
  };
  if (thrown === DID_NOT_THROW) fail("it did not throw (resolved / returned normally)");
  if (!SandboxError.isInstance(thrown)) {
    fail(`it threw something SandboxError.isInstance() does not recognise: ${describeThrown(thrown)}`);
  }
  const error = thrown as SandboxError;
  if (error.code !== code) fail(`it threw code ${String(error.code)}: ${error.message}`);
  if (!(error instanceof SandboxError)) {
    fail("the error is not `instanceof SandboxError` from this copy of @sandbox/core (does the adapter bundle its own copy of core?)");
  }
  if (!DeepAgentsSandboxError.isInstance(error)) {
    fail("deepagents' SandboxError.isInstance() does not recognise it (SandboxError must extend deepagents' SandboxError)");
  }
  if (!isSandboxErrorCode(error.code)) fail(`its code ${String(error.code)} is not in SANDBOX_ERROR_CODES`);
  if (error.provider !== provider) fail(`its provider is "${String(error.provider)}" instead of the adapter's "${provider}"`);
  if (typeof error.retryable !== "boolean") fail(`its retryable flag is ${String(error.retryable)} instead of a boolean`);
  if (typeof error.message !== "string" || error.message.startsWith(`[${provider}]`)) {
    fail(`its message repeats the "[${provider}]" prefix that String(error) adds: ${JSON.stringify(error.message)}`);
  }
  if (!String(error).includes(`[${provider}] `)) {
    fail(`String(error) does not show the provider "[${provider}]": ${JSON.stringify(String(error))}`);
  }
}

/** Runs `action` and asserts it throws or rejects with a `SandboxError` carrying `code`. */
export async function expectSandboxError(action: () => unknown, code: SandboxErrorCode, provider: string, doing: string): Promise<SandboxError> {
  const thrown = await outcomeOf(action);
  assertSandboxError(thrown, code, provider, doing);
  return thrown;
}

/** An error class with a marker-based `isInstance` (`SandboxError` or a provider's subclass). */
export interface SandboxErrorClass<ErrorType extends SandboxError> {
  readonly name: string;
  isInstance(error: unknown): error is ErrorType;
}

function sandboxErrorOrFail<ErrorType extends SandboxError>(outcome: unknown, errorClass: SandboxErrorClass<ErrorType>): ErrorType {
  if (outcome === DID_NOT_THROW) throw new Error(`expected a ${errorClass.name}, but ${describeThrown(outcome)}`);
  if (!errorClass.isInstance(outcome)) throw new Error(`expected a ${errorClass.name}, got ${describeThrown(outcome)}`);
  return outcome;
}

/**
 * Runs `action` (a sync throw counts like a rejection) and returns the
 * `SandboxError` it raised, or fails with what it did instead. Pass a
 * provider class (`ModalSandboxError`) to require that class.
 */
export async function sandboxErrorOf(action: () => unknown): Promise<SandboxError>;
export async function sandboxErrorOf<ErrorType extends SandboxError>(action: () => unknown, errorClass: SandboxErrorClass<ErrorType>): Promise<ErrorType>;
export async function sandboxErrorOf(action: () => unknown, errorClass: SandboxErrorClass<SandboxError> = SandboxError): Promise<SandboxError> {
  return sandboxErrorOrFail(await outcomeOf(action), errorClass);
}

/** The synchronous form of {@link sandboxErrorOf}, for constructors and validators. */
export function sandboxErrorThrownBy(action: () => unknown): SandboxError;
export function sandboxErrorThrownBy<ErrorType extends SandboxError>(action: () => unknown, errorClass: SandboxErrorClass<ErrorType>): ErrorType;
export function sandboxErrorThrownBy(action: () => unknown, errorClass: SandboxErrorClass<SandboxError> = SandboxError): SandboxError {
  let outcome: unknown = DID_NOT_THROW;
  try {
    action();
  } catch (error) {
    outcome = error;
  }
  return sandboxErrorOrFail(outcome, errorClass);
}

/**
 * Every piece of text an error exposes: message, stack, details, output, and
 * the same for its `cause` chain. Used to prove a secret appears nowhere.
 */
export function allErrorText(error: unknown, depth = 0): string {
  if (depth > 8 || error === null || error === undefined) return "";
  if (typeof error !== "object") return String(error);
  const record = error as Record<string, unknown>;
  const parts: string[] = [String(record.message ?? ""), String(record.stack ?? "")];
  for (const key of ["details", "output"]) {
    if (record[key] !== undefined) {
      try {
        parts.push(JSON.stringify(record[key]));
      } catch {
        parts.push(String(record[key]));
      }
    }
  }
  try {
    parts.push(JSON.stringify(error));
  } catch {
    // Circular structures: the fields above already cover the text.
  }
  parts.push(allErrorText(record.cause, depth + 1));
  return parts.join("\n");
}
