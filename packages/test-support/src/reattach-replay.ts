import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

/** The built module an adapter class is exported from, and its export name (it must have a static `fromId`). */
export interface AdapterModule {
  url: URL;
  exportName: string;
}

/** What the reattach check needs of a sandbox: any adapter's. */
interface ReplayableSandbox {
  readonly id: string;
  spawn(command: string): Promise<{ readonly id: string }>;
  downloadFiles(paths: string[]): Promise<ReadonlyArray<{ content: Uint8Array | null; error: unknown }>>;
}

/** Runs the reattach fixture in a new node process (it inherits this one's environment); resolves with its raw stdout and stderr. */
async function reattachFromAnotherProcess(
  adapter: AdapterModule,
  sandboxId: string,
  processId: string,
  fromOffset: number,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  const fixture = fileURLToPath(new URL("./reattach-and-replay.mjs", import.meta.url));
  const child = spawn(process.execPath, [fixture, adapter.url.href, adapter.exportName, sandboxId, processId, String(fromOffset)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { stdout: Buffer.concat(chunks), stderr, code };
}

/**
 * The reattach promise, for any adapter: spawns a process writing 256 KiB of
 * random bytes (every byte value, invalid UTF-8 included) and then output
 * written while a reattach may already be reading; `delayMs` later, another
 * node process reattaches by id and must replay it byte for byte from offset
 * 0, from the middle and from the end, and see a clean exit with nothing dropped.
 */
export async function expectReplayFromAnotherProcess(sandbox: ReplayableSandbox, adapter: AdapterModule, delayMs: number): Promise<void> {
  const spawned = await sandbox.spawn("head -c 262144 /dev/urandom > /tmp/expected.bin && cat /tmp/expected.bin && sleep 3 && printf 'live-tail'");
  const processId = spawned.id;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const [expectedFile] = await sandbox.downloadFiles(["/tmp/expected.bin"]);
  expect(expectedFile?.error).toBeNull();
  const expected = Buffer.concat([Buffer.from(expectedFile!.content!), Buffer.from("live-tail")]);

  for (const fromOffset of [0, 100_000, expected.length]) {
    const { stdout, stderr, code } = await reattachFromAnotherProcess(adapter, sandbox.id, processId, fromOffset);
    expect(code, `the reattaching process failed: ${stderr}`).toBe(0);
    expect(stdout.length, `replay from ${fromOffset}: byte count`).toBe(expected.length - fromOffset);
    expect(stdout.equals(expected.subarray(fromOffset)), `replay from ${fromOffset} differs from what the process wrote`).toBe(true);
    expect(stderr).toContain('exit {"exitCode":0,"reason":"exited"} dropped 0');
  }
}
