import { EngineError } from "./engine-errors.js";

/**
 * What went wrong with one file of a transfer. Finer than the contract's four
 * per-file codes, so an adapter that speaks another protocol (the Modal
 * emulator) can answer in its own terms; {@link fileOperationCodeOf} folds it
 * into the contract's codes.
 */
export type ContainerFileProblem =
  /** Nothing there (also: through a symlink whose target does not exist). */
  | "not_found"
  /** A component of the path is not a directory (a path under a regular file). */
  | "not_a_directory"
  | "is_directory"
  /** Denied, read-only, or a busy mount point. */
  | "permission_denied"
  /** A FIFO, socket or device: no content to copy (a FIFO would block). */
  | "not_regular"
  /** Larger than the read cap, by its size or by what it streamed. */
  | "too_large"
  /** A read in the sandbox outlasted its time bound (its reader was killed). */
  | "timed_out"
  /** A symlink loop, a name too long, a relative path. */
  | "invalid";

/** The words the OS (strerror) uses for each problem; the emulator sends them to the SDK. */
export const CONTAINER_FILE_PROBLEM_MESSAGES: Readonly<Record<ContainerFileProblem, string>> = Object.freeze({
  not_found: "No such file or directory",
  not_a_directory: "Not a directory",
  is_directory: "Is a directory",
  permission_denied: "Permission denied",
  not_regular: "Not a regular file",
  too_large: "File too large",
  timed_out: "Timed out reading the file",
  invalid: "Invalid path",
});

/** A per-file failure of a container file operation, with its problem and the path it concerns. */
export class ContainerFileError extends Error {
  readonly problem: ContainerFileProblem;
  readonly path: string;

  constructor(problem: ContainerFileProblem, path: string, detail?: string) {
    super(`${path}: ${detail ?? CONTAINER_FILE_PROBLEM_MESSAGES[problem]}`);
    this.name = "ContainerFileError";
    this.problem = problem;
    this.path = path;
  }
}

/** The contract's per-file codes (deepagents' `FileOperationError`), spelled here so the engine layer loads no LangChain. */
export type FileOperationCode = "file_not_found" | "permission_denied" | "is_directory" | "invalid_path";

/**
 * The contract's per-file code of a problem. Reads: a path that cannot exist
 * (missing, or under a regular file) is `file_not_found`; anything without
 * readable content of a bounded size is `invalid_path`. Writes: a path that
 * cannot be created is `invalid_path`.
 */
export function fileOperationCodeOf(problem: ContainerFileProblem, direction: "read" | "write"): FileOperationCode {
  switch (problem) {
    case "not_found":
    case "not_a_directory":
      return direction === "read" ? "file_not_found" : "invalid_path";
    case "is_directory":
      return "is_directory";
    case "permission_denied":
      return "permission_denied";
    default:
      return "invalid_path";
  }
}

/**
 * The problem an OS or engine error text names (`cat`, `sh`, `mkdir`, the
 * engine's archive API), or null when it names none. Checked most specific
 * first: "too many links" before "not a directory", "no such container" is
 * never a file problem.
 */
export function problemOfText(text: string): ContainerFileProblem | null {
  if (/no such container|is not running/i.test(text)) return null;
  if (/too many (levels of symbolic )?links|file name too long|invalid argument/i.test(text)) return "invalid";
  if (/not a directory/i.test(text)) return "not_a_directory";
  if (/is a directory/i.test(text)) return "is_directory";
  if (/permission denied|operation not permitted|read-only file system|device or resource busy/i.test(text)) return "permission_denied";
  if (/not a regular file/i.test(text)) return "not_regular";
  if (/no such file|nonexistent|could not find the file/i.test(text)) return "not_found";
  return null;
}

/** The problem of an engine (archive API) failure on one file, or null when it is not a per-file problem (the container is gone, the engine failed). */
export function problemOfEngineError(error: unknown): ContainerFileProblem | null {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineError && error.statusCode === 404) return /container/i.test(message) ? null : "not_found";
  return problemOfText(message);
}
