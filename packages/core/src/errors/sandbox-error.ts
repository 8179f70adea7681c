import { SandboxError as DeepAgentsSandboxError } from "deepagents";
import { SANDBOX_ERROR_CODES, type SandboxErrorCode } from "./error-codes.js";

/**
 * Marker that identifies our errors across duplicated copies of this package
 * (two versions in node_modules each have their own class, so `instanceof`
 * fails across them; a registered symbol does not). Each provider subclass
 * carries a marker of its own too, so its `isInstance` claims only its errors.
 */
const SANDBOX_ERROR_MARKER = Symbol.for("@sandbox/core/SandboxError");

/** Options for constructing a {@link SandboxError}. */
export interface SandboxErrorOptions {
  /** Human-readable message; defaults to the code's message from the table. */
  message?: string;
  /** Provider name, e.g. `"modal"`, `"local-docker"`. Shown as a `[provider]` prefix where the error is displayed. */
  provider?: string;
  /** Overrides the code's default retryability. */
  retryable?: boolean;
  /** The underlying error, kept as `cause`. */
  cause?: unknown;
  /** Partial combined output of a command that timed out or was aborted. */
  output?: string;
  /** Whether {@link output} was cut at the output limit. */
  truncated?: boolean;
  /** Extra structured facts (never secret values). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * The one error type every adapter throws. Switch on `code`.
 *
 * It extends deepagents' own `SandboxError`, so code written against
 * deepagents (`SandboxError.isInstance` from `deepagents`) recognises it too.
 * Messages never contain secret values or tokens: adapters redact what they
 * quote from providers.
 *
 * `message` is the raw text; the provider is shown where the error is
 * displayed: `toString()` and the stack's first line (so `console.error`,
 * `util.inspect` and uncaught errors) read
 * `ModalSandboxError: [modal] could not create sandbox: ...`.
 *
 * @example
 * ```ts
 * try { await sandbox.execute("sleep 100", { timeoutMs: 1000 }); }
 * catch (error) {
 *   if (SandboxError.isInstance(error) && error.code === "COMMAND_TIMEOUT") console.log(error.output);
 * }
 * ```
 */
export class SandboxError extends DeepAgentsSandboxError {
  declare readonly code: SandboxErrorCode;
  /** Provider that raised the error (`"core"` when raised by core itself). */
  readonly provider: string;
  /** Whether repeating the same call may succeed (network blips, capacity). */
  readonly retryable: boolean;
  /** For `COMMAND_TIMEOUT`: the combined output received before the kill. */
  readonly output?: string;
  /** For `COMMAND_TIMEOUT`: whether {@link output} hit the output limit. */
  readonly truncated?: boolean;
  /** Structured facts about the failure, for logs and programs. */
  readonly details: Readonly<Record<string, unknown>>;

  /**
   * This class's marker, `Symbol.for("<package>/<Class>")`. A provider's
   * error class declares its own, so that its {@link isInstance} claims only
   * its errors (and its subclasses'), from any copy of its package.
   */
  static readonly marker: symbol = SANDBOX_ERROR_MARKER;
  /**
   * The provider every error of this class is raised by; a provider's error
   * class declares it (it wins over `options.provider`). Undefined here:
   * `options.provider`, else `"core"`.
   */
  static readonly provider: string | undefined = undefined;

  constructor(code: SandboxErrorCode, options: SandboxErrorOptions = {}) {
    const provider = new.target.provider ?? options.provider ?? "core";
    const entry = SANDBOX_ERROR_CODES[code];
    const text = options.message ?? entry.message;
    const cause = options.cause instanceof Error ? options.cause : options.cause === undefined ? undefined : new Error(String(options.cause));
    super(text, code, cause);
    // deepagents' constructor resets the prototype to its own class, which
    // would break `instanceof` for this class and every provider subclass.
    Object.setPrototypeOf(this, new.target.prototype);
    // Carries the marker of every class it is an instance of (this one's, its parents').
    for (let type: typeof SandboxError = new.target; type.marker !== undefined; type = Object.getPrototypeOf(type)) {
      Object.defineProperty(this, type.marker, { value: true, configurable: true });
    }
    // The parent declares `name` read-only; subclasses get their own class name.
    Object.defineProperty(this, "name", { value: new.target.name, configurable: true, writable: true, enumerable: false });
    this.provider = provider;
    this.retryable = options.retryable ?? entry.retryable;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    if (options.output !== undefined) this.output = options.output;
    if (options.truncated !== undefined) this.truncated = options.truncated;
    // The stack is formatted on first read; show the provider in its header as toString() does.
    const header = `${this.name}: ${this.message}`;
    if (typeof this.stack === "string" && this.stack.startsWith(header)) this.stack = this.toString() + this.stack.slice(header.length);
  }

  /** `Name: [provider] message`: the message with the provider that raised it. */
  override toString(): string {
    return `${this.name}: [${this.provider}] ${this.message}`;
  }

  /**
   * True for an error of the class it is called on (by its {@link marker}),
   * from any copy of its package, and for its subclasses' errors:
   * `SandboxError.isInstance` for every provider's errors,
   * `LocalDockerSandboxError.isInstance` only for local-docker's. Called
   * unbound (`errors.filter(SandboxError.isInstance)`) it answers as
   * `SandboxError.isInstance`. A subclass may override it to narrow the type
   * further (as `ModalSandboxError` does for its codes).
   */
  static override isInstance(this: { readonly marker: symbol } | undefined, error: unknown): error is SandboxError {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class it is called on (a provider's), by design
    return hasErrorMarker(error, this?.marker ?? SANDBOX_ERROR_MARKER);
  }

  /** True when `error` is a {@link SandboxError} carrying `code`. */
  static hasCode(error: unknown, code: SandboxErrorCode): error is SandboxError {
    return SandboxError.isInstance(error) && error.code === code;
  }
}

/**
 * True when `error` is an object carrying `marker` set to `true`: how an
 * error class's `isInstance` recognises its errors from any copy of its
 * package (each class declares its own `Symbol.for(...)` marker).
 */
export function hasErrorMarker(error: unknown, marker: symbol): boolean {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[marker] === true;
}
