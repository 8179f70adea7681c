import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { BaseSandbox, type ReadResult } from "deepagents";
import { describe, expect, it } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { commandsOf, useParitySandboxes } from "./support/tool-parity.js";

// Core's `read` from a file the command agent read (no process) gives
// exactly deepagents' own `BaseSandbox.read` answer (its `awk` command, run
// on the same sandbox), on BusyBox and on Debian (mawk): line endings, a
// last line without a newline, empty files, long lines, bytes over 0x7f,
// symlinks, directories, FIFOs, missing files, every kind of offset and
// limit, and an output cap that cuts it. Where awk could print a file
// otherwise (a NUL byte) or the shell would resolve the path otherwise
// (`..`), the command answers.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const PYTHON_IMAGE = "sandbox-python:bookworm";
const appName = `file-read-${process.pid}`;
const ROOT = "/work/read";

const TREE = [
  `mkdir -p ${ROOT}/dir ${ROOT}/sub`,
  `cd ${ROOT}`,
  "printf 'one\\ntwo\\nthree\\n' > plain.txt",
  "printf 'no newline at the end' > last.txt",
  "printf 'crlf\\r\\nlines\\r\\n' > crlf.txt",
  ": > empty.txt && printf '\\n' > newline.txt && printf '\\n\\n\\n' > blank.txt",
  "printf '  leading and trailing  \\n\\ttab\\n' > spaces.txt",
  "head -c 12000 /dev/zero | tr '\\0' 'x' > long.txt",
  "printf 'caf\\351 \\303\\251t\\303\\251\\n' > bytes.txt",
  "printf 'a\\0b\\n' > nul.txt",
  'for i in $(seq 1 1200); do echo "line $i"; done > many.txt',
  "printf 'not an image\\n' > picture.png",
  "ln -s plain.txt link.txt && ln -s /nonexistent dangling.txt && mkfifo fifo.txt",
  'printf "it\'s\\n" > "it\'s \\"odd\\".txt"',
].join(" && ");

/** [path, offset, limit]: reads the agent answers (no command). */
const ANSWERED: Array<[string, number | undefined, number | undefined]> = [
  [`${ROOT}/plain.txt`, undefined, undefined],
  [`${ROOT}/plain.txt`, 1, 1],
  [`${ROOT}/plain.txt`, 2, 10],
  [`${ROOT}/plain.txt`, 3, 10],
  [`${ROOT}/plain.txt`, 100, 5],
  [`${ROOT}/plain.txt`, -3, 2],
  [`${ROOT}/plain.txt`, 0.7, 1.9],
  [`${ROOT}/last.txt`, undefined, undefined],
  [`${ROOT}/crlf.txt`, undefined, undefined],
  [`${ROOT}/empty.txt`, undefined, undefined],
  [`${ROOT}/newline.txt`, undefined, undefined],
  [`${ROOT}/blank.txt`, 1, 5],
  [`${ROOT}/spaces.txt`, undefined, undefined],
  [`${ROOT}/long.txt`, undefined, undefined],
  [`${ROOT}/bytes.txt`, undefined, undefined],
  [`${ROOT}/many.txt`, undefined, undefined],
  [`${ROOT}/many.txt`, 1150, 100],
  [`${ROOT}/link.txt`, undefined, undefined],
  [`${ROOT}/dangling.txt`, undefined, undefined],
  [`${ROOT}/dir`, undefined, undefined],
  [`${ROOT}/fifo.txt`, undefined, undefined],
  [`${ROOT}/missing.txt`, undefined, undefined],
  [`${ROOT}/plain.txt/child.txt`, undefined, undefined],
  [`${ROOT}/it's "odd".txt`, undefined, undefined],
];

/** Reads left to the command (the answer is the command's either way). */
const LEFT: string[] = [`${ROOT}/nul.txt`, `${ROOT}/sub/../plain.txt`, `${ROOT}//plain.txt`];

function command(sandbox: LocalDockerSandbox, path: string, offset?: number, limit?: number): Promise<ReadResult> {
  return BaseSandbox.prototype.read.call(sandbox, path, offset, limit);
}

describe.runIf(available)("read answers as deepagents' BaseSandbox does (skipped without a Docker engine or a built agent)", () => {
  const sandboxOf = useParitySandboxes(
    appName,
    [BUSYBOX_IMAGE, PYTHON_IMAGE],
    TREE,
    (sandbox) => sandbox.read(`${ROOT}/plain.txt`) /* asks once which awk the image has */,
  );

  for (const image of [BUSYBOX_IMAGE, PYTHON_IMAGE]) {
    it(`${image}: the agent's answers, without a command, equal the command's`, { timeout: 120_000 }, async () => {
      const sandbox = sandboxOf(image);
      for (const [path, offset, limit] of ANSWERED) {
        let answer: ReadResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.read(path, offset, limit);
        });
        const label = `read ${path} (${offset}, ${limit})`;
        expect(commands, `${label}: answered by the agent`).toEqual([]);
        expect(answer, label).toEqual(await command(sandbox, path, offset, limit));
      }
      expect((await sandbox.read(`${ROOT}/many.txt`)).nextOffset, "the default limit pages").toBe(500);
      expect((await sandbox.read(`${ROOT}/missing.txt`)).error).toContain("not found");
    });

    it(`${image}: reads left to the command, and a non-text file, answer as BaseSandbox does`, { timeout: 60_000 }, async () => {
      const sandbox = sandboxOf(image);
      for (const path of LEFT) {
        const commands = await commandsOf(sandbox, () => sandbox.read(path));
        expect(commands, `${path}: left to the command`).toHaveLength(1);
        expect(await sandbox.read(path), path).toEqual(await command(sandbox, path));
      }
      expect(await sandbox.read(`${ROOT}/picture.png`)).toEqual(await command(sandbox, `${ROOT}/picture.png`));
    });
  }

  it("with an output cap that cuts the command's output, the agent's answer is cut the same way", { timeout: 60_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, maxOutputBytes: 100 });
    try {
      expect((await sandbox.execute(TREE)).exitCode).toBe(0);
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await sandbox.read(`${ROOT}/plain.txt`);
      for (const path of [`${ROOT}/many.txt`, `${ROOT}/bytes.txt`, `${ROOT}/long.txt`]) {
        const expected = await command(sandbox, path);
        let answer: ReadResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.read(path);
        });
        expect(commands, path).toEqual([]);
        expect(answer, path).toEqual(expected);
      }
      expect((await command(sandbox, `${ROOT}/many.txt`)).nextOffset, "cut: no pagination").toBeUndefined();
    } finally {
      await sandbox.close();
    }
  });
});
