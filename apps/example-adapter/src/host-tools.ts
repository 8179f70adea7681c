import { accessSync, closeSync, constants, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { ChrootSandboxError } from "./chroot-error.js";

/** The PATH host tools are looked up in, and the default PATH inside sandboxes. */
export const STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where Debian's `busybox-static` package puts its binary. */
export const DEFAULT_BUSYBOX = "/bin/busybox";

/**
 * The host programs the adapter runs: util-linux `unshare` (new pid / mount /
 * network namespaces) and `nsenter` (joins a sandbox's namespaces to run a
 * command), coreutils `chroot`.
 */
const RUN_TOOLS = ["unshare", "nsenter", "chroot"] as const;

/** Absolute paths of the host programs the adapter runs, by name. */
export type HostTools = Record<(typeof RUN_TOOLS)[number], string>;

function findTool(name: string): string | undefined {
  for (const directory of STANDARD_PATH.split(":")) {
    const path = join(directory, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Why this host cannot run chroot sandboxes, or `undefined` when it can:
 * Linux, root (namespaces and chroot need it), util-linux and coreutils.
 * The busybox binary is checked separately by {@link assertStaticBusybox}.
 */
export function hostProblem(): string | undefined {
  if (process.platform !== "linux") return `chroot sandboxes need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "chroot sandboxes need root (namespaces and chroot are privileged)";
  const missing = [...RUN_TOOLS, "mount", "mknod"].filter((name) => !findTool(name));
  if (missing.length > 0) return `missing host tools: ${missing.join(", ")} (install util-linux and coreutils)`;
  return undefined;
}

/** True when the file is an ELF executable without a program interpreter (statically linked). */
function isStaticElf(path: string): boolean {
  const header = Buffer.alloc(64);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = header[4] === 2;
    const tableOffset = is64 ? Number(header.readBigUInt64LE(0x20)) : header.readUInt32LE(0x1c);
    const entrySize = header.readUInt16LE(is64 ? 0x36 : 0x2a);
    const entries = header.readUInt16LE(is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(entrySize * entries);
    readSync(fd, table, 0, table.length, tableOffset);
    for (let index = 0; index < entries; index += 1) {
      if (table.readUInt32LE(index * entrySize) === 3 /* PT_INTERP */) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Locates the host programs, or throws `SANDBOX_CREATION_FAILED` with one
 * sentence saying what to install.
 */
export function hostTools(): HostTools {
  const problem = hostProblem();
  if (problem) throw new ChrootSandboxError("SANDBOX_CREATION_FAILED", { message: problem });
  return Object.fromEntries(RUN_TOOLS.map((name) => [name, findTool(name)!])) as HostTools;
}

/** Throws `SANDBOX_CREATION_FAILED` unless `path` is a statically linked busybox. */
export function assertStaticBusybox(path: string): void {
  let isStatic = false;
  try {
    isStatic = isStaticElf(path);
  } catch {
    // Missing or unreadable: reported below.
  }
  if (!isStatic) {
    throw new ChrootSandboxError("SANDBOX_CREATION_FAILED", {
      message: `no statically linked busybox at ${path}: install it with \`apt-get install busybox-static\``,
    });
  }
}
