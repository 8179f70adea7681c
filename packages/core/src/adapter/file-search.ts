import { BaseSandbox, type GrepResult } from "deepagents";
import { shellQuote } from "./shell-quote.js";

/**
 * `grep` for the deepagents file tools from an adapter's own search (e.g.
 * local-docker's command agent, which searches without starting a process):
 * the adapter hands over what deepagents' grep command would have printed,
 * and deepagents' own `BaseSandbox.grep` parses it, so paths, line numbers,
 * texts, the text-file filter and `maxCount` are its own.
 */

/** The command deepagents' `BaseSandbox.grep` runs for these arguments (a glob narrows by base name through `find`). */
export function grepCommand(pattern: string, path: string, glob: string | null): string {
  if (glob) return `find -L ${shellQuote(path)} -type f -name ${shellQuote(glob)} -exec grep -HnF -e ${shellQuote(pattern)} {} + 2>/dev/null || true`;
  return `grep -rHnF -e ${shellQuote(pattern)} ${shellQuote(path)} 2>/dev/null || true`;
}

/**
 * `BaseSandbox.grep`'s answer when its command printed `output` (already cut
 * at the output cap, as `execute` cuts it), or undefined when this
 * deepagents' `BaseSandbox.grep` runs another command than
 * {@link grepCommand} (the output would not be its command's: the caller
 * runs `BaseSandbox.grep` itself).
 */
export async function grepResultOfOutput(
  output: string,
  pattern: string,
  path: string,
  glob: string | null,
  maxCount: number | null,
): Promise<GrepResult | undefined> {
  const expected = grepCommand(pattern, path, glob);
  let asked: string | undefined;
  const standIn = {
    execute: async (command: string) => {
      asked = command;
      return { output: command === expected ? output : "", exitCode: 0, truncated: false };
    },
  };
  const result = await (BaseSandbox.prototype.grep as (this: unknown, ...args: unknown[]) => Promise<GrepResult>).call(standIn, pattern, path, glob, maxCount);
  return asked === expected ? result : undefined;
}

/** What deepagents' own `glob` prunes so that a walk from `/` never reads `/proc/<pid>/pagemap` or loops through `/proc/<pid>/root`. */
const VIRTUAL_ROOTS = ["/proc", "/sys", "/dev", "/run"] as const;

/**
 * Whether a search at `path` is one from the root, where deepagents' own
 * grep command (`grep -r /`) reads `/proc` without end (a pagemap file holds
 * hundreds of GiB): such a search skips `/proc`, `/sys`, `/dev` and `/run`,
 * as deepagents' `glob` does (see {@link prunedGrepCommand}).
 */
export function searchesFromRoot(path: string): boolean {
  return path.startsWith("/") && path.split("/").every((part) => part === "" || part === ".");
}

/**
 * The command for a search from the root: every regular file under `/` but
 * in `/proc`, `/sys`, `/dev` and `/run` (not following symbolic links; with a
 * glob, following them as `find -L` does, like deepagents' glob-narrowed
 * command), grepped as deepagents' command greps, so its output parses the same.
 */
export function prunedGrepCommand(pattern: string, glob: string | null): string {
  const prune = `\\( ${VIRTUAL_ROOTS.map((root) => `-path ${root}`).join(" -o ")} \\) -prune -o`;
  const grep = `-exec grep -HnF -e ${shellQuote(pattern)} {} + 2>/dev/null || true`;
  if (glob) return `find -L / ${prune} -type f -name ${shellQuote(glob)} ${grep}`;
  return `find / ${prune} -type f ${grep}`;
}
