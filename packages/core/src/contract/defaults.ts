/**
 * Default per-command timeout: 5 minutes, the same as the default sandbox
 * lifetime. Finite on purpose: a command that never ends must not hold an
 * agent forever. Override per call with `execute(command, { timeoutMs })`
 * or per sandbox with the adapter's `commandTimeoutMs` option.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 300_000;

/**
 * Default cap on the combined output kept for one command: 1 MiB. Past it the
 * result carries `truncated: true` and the rest is dropped as it arrives, so
 * host memory stays bounded whatever the command prints. Streaming callbacks
 * still see every chunk.
 */
export const DEFAULT_MAX_OUTPUT_BYTES = 1_048_576;

/**
 * Default cap on one file read by `downloadFiles` (and so deepagents' `read`):
 * 256 MiB. A file is returned whole in one buffer, so the cap bounds the host
 * memory one read can take whatever the file is (an endless device, a huge
 * sparse file, a /proc file that reports size 0 but streams data). 256 MiB is
 * far above any text an agent reads and most artefacts it fetches, and low
 * enough that a few concurrent reads cannot exhaust a laptop. A larger file
 * comes back as a per-file `invalid_path` (deepagents has no "too large"
 * code); fetch it in parts with `execute` (`split`, `head -c`) or raise the
 * adapter's cap.
 */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024;

/** Default sandbox image, as documented for the Modal API. */
export const DEFAULT_IMAGE_NAME = "alpine:3.21";

/** Default sandbox lifetime: 5 minutes. */
export const DEFAULT_SANDBOX_TIMEOUT_MS = 300_000;

/**
 * How long core waits, after asking an adapter to kill a timed-out command,
 * for the adapter to confirm before rejecting anyway (with
 * `details.killConfirmed: false`).
 */
export const KILL_CONFIRMATION_GRACE_MS = 15_000;

/**
 * Output a background process keeps in the sandbox for replay, per stream
 * (stdout and stderr each): 16 MiB. Older output is dropped in whole segments
 * and reported (`droppedBytes`, `firstOffset`), never hidden. Adapters may
 * keep up to one segment (at most 1 MiB) more while a segment is being written.
 */
export const DEFAULT_PROCESS_RETAINED_BYTES = 16_777_216;

/**
 * The longest command `execute` accepts, in UTF-8 bytes: 60 KiB. The tightest
 * path decides it: the Modal SDK refuses an exec whose arguments total 64 KiB
 * or more (Linux itself refuses one argument over 128 KiB), and the adapter
 * adds its own short prefix to the `sh -c` script. A longer command is
 * refused with `INVALID_ARGUMENT` before anything runs, the same on every
 * adapter: write a long script to a file with `uploadFiles` and run the file.
 */
export const MAX_COMMAND_BYTES = 60 * 1024;

/**
 * The longest environment variable `execute`, `spawn` and the `env` option
 * accept, as `NAME=value` in UTF-8 bytes: 128 KiB minus the terminating NUL.
 * Linux refuses to start a program with a longer one ("argument list too
 * long"), so every command of a sandbox created with it would fail with
 * exit 1. Refused with `INVALID_ARGUMENT` (per call) or `INVALID_OPTIONS`
 * (at create) naming the variable, never its value.
 */
export const MAX_ENV_ENTRY_BYTES = 128 * 1024 - 1;

/**
 * The most environment `execute`, `spawn` and the `env` option accept in
 * one object, all `NAME=value` entries together in UTF-8 bytes: 1 MiB, half
 * of Linux's usual 2 MiB for arguments and environment together, leaving
 * room for the command, the sandbox's own variables and secrets.
 */
export const MAX_ENV_TOTAL_BYTES = 1024 * 1024;
