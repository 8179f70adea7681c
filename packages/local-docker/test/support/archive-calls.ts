import type { LocalDockerSandbox } from "../../src/index.js";

/** Counts the archive API calls (put, get, stat) made while `action` runs. */
export async function archiveCalls(sandbox: LocalDockerSandbox, action: () => Promise<unknown>): Promise<number> {
  const prototype = Object.getPrototypeOf(sandbox.container) as Record<string, (...args: unknown[]) => unknown>;
  const names = ["putArchive", "getArchive", "infoArchive"] as const;
  const originals = names.map((name) => prototype[name]!);
  let calls = 0;
  names.forEach((name, index) => {
    prototype[name] = function (this: unknown, ...args: unknown[]) {
      calls += 1;
      return originals[index]!.apply(this, args);
    };
  });
  try {
    await action();
  } finally {
    names.forEach((name, index) => {
      prototype[name] = originals[index]!;
    });
  }
  return calls;
}
