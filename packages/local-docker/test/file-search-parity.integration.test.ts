import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { BaseSandbox, type GrepResult } from "deepagents";
import { describe, expect, it } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { commandsOf, useParitySandboxes } from "./support/tool-parity.js";

// Core's `grep` answered by the command agent (which walks, reads and
// matches itself, no process) gives exactly deepagents' own
// `BaseSandbox.grep` answer (its command, run on the same sandbox), on
// BusyBox and on Debian (GNU grep and find), over nested directories,
// binary files, long lines, odd names and patterns, symlinks, a glob filter,
// no match, a missing path, a file path and an output cap that cuts the
// answer. Where the agent cannot be sure (a NUL byte in a matching file, a
// pattern with a newline...) it leaves the search to the command, and the
// answer is the command's.

const available = (await engineAvailable()) && agentBinaryPath() !== undefined;
const PYTHON_IMAGE = "sandbox-python:bookworm";
const appName = `file-search-${process.pid}`;
const ROOT = "/work/search";
/** Files the agent leaves to the command, apart from the tree the others search. */
const ASIDE = "/work/aside";

const TREE = [
  `mkdir -p ${ROOT}/src/deep/er ${ROOT}/'dir with space' ${ROOT}/empty ${ROOT}/other ${ASIDE}/binary ${ASIDE}/latin`,
  `cd ${ROOT}`,
  "printf 'needle one\\nno\\nneedle: two: three\\n\\tindented needle  \\nlast needle' > src/main.py",
  "printf 'x needle\\r\\ncrlf\\r\\n' > src/deep/a.py && printf 'needle deep\\n' > src/deep/er/b.py && printf 'z\\nneedle z\\n' > src/deep/er/c.txt",
  "printf 'needle in a picture\\n' > src/image.png",
  "printf \"it's a needle 'quoted' \\\"q\\\" \\$x [x]* a\\\\\\\\b\\n\" > 'dir with space/it'\"'\"'s \"quoted\".py'",
  "printf 'needle in a colon name\\n' > 'colon:name.txt' && printf 'needle tab\\n' > \"$(printf 'tab\\there.txt')\"",
  "printf 'ünïcødé needle é\\n' > 'ünïcødé.md' && printf 'needle ab\\n' > a1.md && printf 'needle bb\\n' > b2.md",
  "printf 'needle other\\n' > other/o.txt",
  "ln -s src/main.py link-to-file.py && ln -s other link-to-dir && ln -s /nonexistent dangling.py",
  "head -c 100000 /dev/zero | tr '\\0' 'a' > long.txt && printf 'needle at the end of a long line\\n' >> long.txt",
  "printf 'bin\\0needle\\nneedle after\\n' > ../aside/binary/b.dat",
  "printf 'caf\\351 needle\\n' > ../aside/latin/l.txt",
  "for i in $(seq 1 40); do printf 'needle %s of many\\n' $i >> many.txt; done",
  // Enough files for the agent to read them in two batches (on two threads where there are two cores); aside, the same with a NUL byte in the second batch.
  "mkdir crowd ../aside/crowd && for i in $(seq 1 300); do printf 'line\\nneedle %s\\n' $i > crowd/f$i.txt; printf 'needle %s\\n' $i > ../aside/crowd/f$i.txt; done",
  "printf 'needle\\0\\n' > ../aside/crowd/f290.txt",
  "mkdir ../aside/big && head -c 5000000 /dev/zero | tr '\\0' 'a' > ../aside/big/big.txt && printf '\\nneedle\\n' >> ../aside/big/big.txt",
].join(" && ");

/** [pattern, path, glob]: searches the agent answers itself on both images. */
const ANSWERED: Array<[string, string, string | null]> = [
  ["needle", ROOT, null],
  ["needle", `${ROOT}/`, null],
  ["needle", `${ROOT}/src`, null],
  ["needle", `${ROOT}/src/main.py`, null],
  ["needle", `${ROOT}/link-to-dir`, null],
  ["needle:", ROOT, null],
  ["'quoted' \"q\" $x [x]* a\\\\b", ROOT, null],
  ["[x]*", ROOT, null],
  ["é", `${ROOT}/ünïcødé.md`, null],
  ["needle  ", ROOT, null],
  ["zzz-not-there", ROOT, null],
  ["needle", "/nonexistent", null],
  ["needle", ROOT, "*.py"],
  ["needle", ROOT, "*.txt"],
  ["needle", ROOT, "[ab]?.md"],
  ["needle", ROOT, "*"],
  ["needle", `${ROOT}/src`, "*.py"],
  ["needle", ROOT, "*.zzz"],
  ["needle", "/nonexistent", "*.py"],
];

/** Searches the agent leaves to the command (the answer is the command's either way). */
const LEFT: Array<[string, string, string | null]> = [
  ["needle", `${ASIDE}/binary`, null], // a NUL byte in a matching file
  ["needle", `${ASIDE}/crowd`, null], // the same, among many files
  ["needle", `${ASIDE}/big`, null], // a file over 4 MiB
  ["needle\nno", ROOT, null], // a newline: two patterns
  ["", `${ROOT}/src/deep`, null], // empty: every line
  ["needle", ROOT, "[[:alpha:]]*.py"], // a named class
  ["needle", `${ROOT}//src`, null], // a doubled slash the tools spell differently
];

function command(sandbox: LocalDockerSandbox, pattern: string, path: string, glob: string | null, maxCount: number | null = null): Promise<GrepResult> {
  return BaseSandbox.prototype.grep.call(sandbox, pattern, path, glob, maxCount);
}

describe.runIf(available)("grep answers as deepagents' BaseSandbox does (skipped without a Docker engine or a built agent)", () => {
  const sandboxOf = useParitySandboxes(
    appName,
    [BUSYBOX_IMAGE, PYTHON_IMAGE],
    TREE,
    (sandbox) => sandbox.grep("warm-up", "/nonexistent") /* asks once which grep the image has */,
  );

  for (const image of [BUSYBOX_IMAGE, PYTHON_IMAGE]) {
    it(`${image}: the agent's answers, without a command, equal the command's`, { timeout: 120_000 }, async () => {
      const sandbox = sandboxOf(image);
      for (const [pattern, path, glob] of ANSWERED) {
        let answer: GrepResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.grep(pattern, path, glob);
        });
        const label = `grep ${JSON.stringify(pattern)} in ${path} (glob ${glob})`;
        expect(commands, `${label}: answered by the agent`).toEqual([]);
        expect(answer, label).toEqual(await command(sandbox, pattern, path, glob));
      }
      const all = await sandbox.grep("needle", ROOT);
      expect(all.matches?.length, "the tree has matches at several depths").toBeGreaterThan(345);
      expect(
        all.matches?.some((match) => match.path === `${ROOT}/long.txt` && match.text.length > 100_000),
        "the long line whole",
      ).toBe(true);
      expect(
        all.matches?.some((match) => match.path.startsWith(`${ROOT}/link-to-dir`)),
        "grep -r does not follow symlinks to directories",
      ).toBe(false);
      const globbed = await sandbox.grep("needle", ROOT, "*.txt");
      expect(
        globbed.matches?.some((match) => match.path === `${ROOT}/link-to-dir/o.txt`),
        "find -L follows them",
      ).toBe(true);
      expect((await sandbox.grep("needle", ROOT, "*.py")).matches?.some((match) => match.path === `${ROOT}/src/image.png`)).toBe(false);
    });

    it(`${image}: with maxCount, the answer is the command's`, { timeout: 60_000 }, async () => {
      const sandbox = sandboxOf(image);
      expect(await sandbox.grep("needle", ROOT, null, 2)).toEqual(await command(sandbox, "needle", ROOT, null, 2));
    });

    it(`${image}: searches the agent leaves to the command answer as the command does`, { timeout: 120_000 }, async () => {
      const sandbox = sandboxOf(image);
      for (const [pattern, path, glob] of LEFT) {
        let answer: GrepResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.grep(pattern, path, glob);
        });
        const label = `grep ${JSON.stringify(pattern)} in ${path} (glob ${glob})`;
        expect(commands, `${label}: left to the command`).toHaveLength(1);
        expect(answer, label).toEqual(await command(sandbox, pattern, path, glob));
      }
    });

    it(`${image}: a byte over 0x7f in a matching file (a text byte to BusyBox and to GNU in the C locale)`, { timeout: 60_000 }, async () => {
      const sandbox = sandboxOf(image);
      let answer: GrepResult | undefined;
      const commands = await commandsOf(sandbox, async () => {
        answer = await sandbox.grep("needle", `${ASIDE}/latin`);
      });
      expect(commands, "answered by the agent").toEqual([]);
      expect(answer).toEqual(await command(sandbox, "needle", `${ASIDE}/latin`, null));
      expect(answer?.matches, "the line, its byte decoded as execute decodes it").toEqual([
        { path: `${ASIDE}/latin/l.txt`, line: 1, text: "caf\ufffd needle" },
      ]);
    });
  }

  for (const image of [BUSYBOX_IMAGE, PYTHON_IMAGE]) {
    it(`${image}: a search from / answers as core's pruned command (no /proc, /sys, /dev, /run)`, { timeout: 120_000 }, async () => {
      const sandbox = sandboxOf(image);
      const marker = `rooted-${process.pid}-${Date.now().toString(36)}`;
      const made = await sandbox.execute(
        `mkdir -p /work/rooted/deep && printf 'a\\n${marker} one\\n' > /work/rooted/deep/r.txt && printf '${marker} two\\n' > /work/rooted/r.py`,
      );
      expect(made.exitCode, made.output).toBe(0);
      for (const glob of [null, "*.py", "r.*"]) {
        let answer: GrepResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.grep(marker, "/", glob);
        });
        const prune = "\\( -path /proc -o -path /sys -o -path /dev -o -path /run \\) -prune -o";
        const grep = `-exec grep -HnF -e '${marker}' {} + 2>/dev/null || true`;
        const pruned = await sandbox.execute(glob ? `find -L / ${prune} -type f -name '${glob}' ${grep}` : `find / ${prune} -type f ${grep}`);
        const expected = await BaseSandbox.prototype.grep.call(
          { execute: async () => ({ output: pruned.output, exitCode: 0, truncated: false }) },
          marker,
          "/",
          glob,
          null,
        );
        expect(answer, `grep from / (glob ${glob})`).toEqual(expected);
        expect(answer?.matches?.length, `grep from / (glob ${glob})`).toBeGreaterThan(0);
        // Narrowed by a glob, nothing in BusyBox's tree is left to the command (without one, the 5 MB file aside is: one pruned command).
        if (image === BUSYBOX_IMAGE && glob !== null) expect(commands, `grep from / (glob ${glob}): answered by the agent`).toEqual([]);
        else expect(commands.length, `grep from / (glob ${glob}): the agent or one pruned command`).toBeLessThanOrEqual(1);
      }
    });
  }

  it("GNU grep in a UTF-8 locale (which may take a byte over 0x7f for binary): such files are left to the command", { timeout: 60_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: PYTHON_IMAGE, appName, env: { LC_ALL: "C.UTF-8" } });
    try {
      expect((await sandbox.execute(TREE)).exitCode).toBe(0);
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await sandbox.grep("warm-up", "/nonexistent");
      for (const [path, commandsRun] of [
        [`${ASIDE}/latin`, 1],
        [ROOT, 1], // ünïcødé.md matches
        [`${ROOT}/src`, 0],
      ] as const) {
        let answer: GrepResult | undefined;
        const commands = await commandsOf(sandbox, async () => {
          answer = await sandbox.grep("needle", path);
        });
        expect(commands, path).toHaveLength(commandsRun);
        expect(answer, path).toEqual(await command(sandbox, "needle", path, null));
      }
      expect((await sandbox.grep("needle", `${ASIDE}/latin`)).matches, "GNU took it for a binary file").toEqual([]);
    } finally {
      await sandbox.close();
    }
  });

  it("with an output cap that cuts the command's output mid-line, the agent's answer is cut the same way", { timeout: 60_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, maxOutputBytes: 300 });
    try {
      expect((await sandbox.execute(TREE)).exitCode).toBe(0);
      expect(await sandbox.commandChannelReady()).toBe("agent");
      await sandbox.grep("warm-up", "/nonexistent");
      const expected = await command(sandbox, "needle", `${ROOT}/many.txt`, null);
      expect(expected.matches?.length, "300 bytes hold some of the 40 lines").toBeLessThan(40);
      let answer: GrepResult | undefined;
      const commands = await commandsOf(sandbox, async () => {
        answer = await sandbox.grep("needle", `${ROOT}/many.txt`);
      });
      expect(commands).toEqual([]);
      expect(answer).toEqual(expected);
      // Two-byte characters from the start of the text: in one of two paths a byte apart, the cap cuts one in two; it is left out, as execute leaves it.
      const text = "\u00e9".repeat(400);
      expect(
        (await sandbox.execute(`mkdir -p /work/cut && printf 'needle ${text}\\n' > /work/cut/u.txt && printf 'needle ${text}\\n' > /work/cut/uu.txt`)).exitCode,
      ).toBe(0);
      for (const file of ["/work/cut/u.txt", "/work/cut/uu.txt"]) {
        const cutExpected = await command(sandbox, "needle", file, null);
        let cutAnswer: GrepResult | undefined;
        const cutCommands = await commandsOf(sandbox, async () => {
          cutAnswer = await sandbox.grep("needle", file);
        });
        expect(cutCommands, file).toEqual([]);
        expect(cutAnswer, file).toEqual(cutExpected);
        expect(cutAnswer?.matches?.[0]?.text.includes("\ufffd"), `${file}: no half character`).toBe(false);
      }
    } finally {
      await sandbox.close();
    }
  });
});
