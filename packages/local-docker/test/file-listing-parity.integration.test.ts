import { DockerEngine, LABELS } from "@sandbox/docker-engine";
import { OFFLINE_BUSYBOX_IMAGE as BUSYBOX_IMAGE, dockerEngineAvailable as engineAvailable } from "@sandbox/test-support";
import { BaseSandbox } from "deepagents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBinaryPath } from "../src/agent-channel.js";
import { LocalDockerSandbox } from "../src/index.js";
import { commandsOf } from "./support/tool-parity.js";

// Core's `ls` and `glob` (packages/core/src/adapter/file-listing.ts) answer
// exactly as deepagents' own `BaseSandbox.ls` / `BaseSandbox.glob` (called
// on the same sandbox), on BusyBox (no `find -printf`: stat in batches) and
// on Debian (GNU find), over hidden files, symlinks to files and
// directories, a dangling symlink, odd names and every kind of pattern; and
// they run one command, not a loop forking `stat` per entry (none with the
// command agent, which lists itself, as the image's find would).

const available = await engineAvailable();
/** Without gcc the agent is not built: ls then runs its command too. */
const agentBuilt = agentBinaryPath() !== undefined;
const PYTHON_IMAGE = "sandbox-python:bookworm";
const appName = `file-listing-${process.pid}`;
const engine = new DockerEngine();
const ROOT = "/work/listing";

/** A tree with what trips listings up; names with a newline or a tab too. */
const TREE = [
  `mkdir -p ${ROOT}/src/deep/er ${ROOT}/.hidden-dir ${ROOT}/'dir with space' ${ROOT}/empty`,
  `cd ${ROOT}`,
  "printf 'print(1)\\n' > src/main.py",
  "printf 'x' > src/deep/a.py && printf 'yy' > src/deep/er/b.py && printf 'z' > src/deep/er/c.txt",
  "printf 'h' > .hidden.py && printf 'h' > .hidden-dir/inside.py",
  "printf 's' > 'dir with space/it'\"'\"'s \"quoted\".py'",
  "printf 'n' > \"$(printf 'new\\nline.py')\" && printf 't' > \"$(printf 'tab\\there.txt')\"",
  "printf 'u' > 'ünïcødé-é.py' && printf 'q' > 'a1.md' && printf 'q' > 'b2.md' && printf 'q' > 'c3.md'",
  "ln -s src/main.py link-to-file.py && ln -s src link-to-dir && ln -s /nonexistent dangling.py",
  "printf 'r' > README",
].join(" && ");

const PATTERNS = [
  "*",
  "**",
  "**/*",
  "*.py",
  "**/*.py",
  "src/**/*.py",
  "src/**",
  "**/er/*",
  "?1.md",
  "[ab]?.md",
  "[!a]*.md",
  "*.{py,md}",
  ".*",
  "**/.hidden*",
  "dir with space/*",
  "link-to-dir/*.py",
  "ünïcødé-?.py",
  "*é.py",
  "README",
  "no-match-*.zzz",
];

type Side = { sandbox: LocalDockerSandbox; image: string; exec?: LocalDockerSandbox };

describe.runIf(available)("ls and glob answer as deepagents' BaseSandbox does (skipped when no Docker engine answers)", () => {
  const sides: Side[] = [];

  beforeAll(async () => {
    for (const image of [BUSYBOX_IMAGE, PYTHON_IMAGE]) {
      // The default channel (ls listed by the agent) and commandChannel "exec" (ls through its command).
      const sandbox = await LocalDockerSandbox.create({ imageName: image, appName });
      const exec = await LocalDockerSandbox.create({ imageName: image, appName, commandChannel: "exec" });
      sides.push({ sandbox, image, exec });
      for (const each of [sandbox, exec]) {
        const made = await each.execute(TREE);
        expect(made.exitCode, made.output).toBe(0);
      }
      await sandbox.commandChannelReady();
    }
  }, 120_000);

  afterAll(async () => {
    for (const { sandbox, exec } of sides) await Promise.all([sandbox.close(), exec?.close()]).catch(() => undefined);
    for (const container of await engine.listContainers({ [LABELS.app]: appName })) await engine.container(container.id).remove();
  });

  it("with an output cap that cuts BaseSandbox's listing, glob answers as BaseSandbox does (cut, and truncated)", { timeout: 60_000 }, async () => {
    const sandbox = await LocalDockerSandbox.create({ imageName: BUSYBOX_IMAGE, appName, maxOutputBytes: 400 });
    try {
      expect((await sandbox.execute(TREE)).exitCode).toBe(0);
      const expected = await BaseSandbox.prototype.glob.call(sandbox, "**/*.py", ROOT);
      expect(expected.truncated, "BaseSandbox's listing is cut at 400 bytes").toBe(true);
      expect(await sandbox.glob("**/*.py", ROOT)).toEqual(expected);
    } finally {
      await sandbox.close();
    }
  });

  for (const image of [BUSYBOX_IMAGE, PYTHON_IMAGE]) {
    const side = () => sides.find((entry) => entry.image === image)!;

    it(`${image}: ls of directories, a file, a symlink to a directory and a missing path (agent and command)`, { timeout: 60_000 }, async () => {
      const { sandbox, exec } = side();
      for (const path of [
        ROOT,
        `${ROOT}/`,
        `${ROOT}/src`,
        `${ROOT}/empty`,
        `${ROOT}/dir with space`,
        `${ROOT}/link-to-dir`,
        `${ROOT}/README`,
        "/nonexistent",
      ]) {
        const expected = await BaseSandbox.prototype.ls.call(sandbox, path);
        expect(await sandbox.ls(path), `ls ${path}`).toEqual(expected);
        expect(await exec!.ls(path), `ls ${path} through its command`).toEqual(await BaseSandbox.prototype.ls.call(exec!, path));
      }
      const listed = await sandbox.ls(ROOT);
      expect(listed.files?.length, "the tree has 15 entries at its top").toBe(15);
      expect(listed.files?.find((entry) => entry.path === `${ROOT}/link-to-dir/`)?.is_dir, "a symlink to a directory is a directory").toBe(true);
    });

    it(`${image}: glob of every kind of pattern, from the tree and from a subdirectory (agent; command for some)`, { timeout: 180_000 }, async () => {
      const { sandbox, exec } = side();
      for (const pattern of ["**/*.py", "**", "[ab]?.md"]) {
        expect(await exec!.glob(pattern, ROOT), `glob ${pattern} through its command`).toEqual(await BaseSandbox.prototype.glob.call(exec!, pattern, ROOT));
      }
      for (const [pattern, root] of [
        ...PATTERNS.map((pattern) => [pattern, ROOT] as const),
        ["*.py", `${ROOT}/src/`],
        ["**/*.py", "/nonexistent"],
        ["*", `${ROOT}/README`],
      ]) {
        const expected = await BaseSandbox.prototype.glob.call(sandbox, pattern, root);
        expect(await sandbox.glob(pattern, root), `glob ${pattern} in ${root}`).toEqual(expected);
      }
      const python = await sandbox.glob("**/*.py", ROOT);
      expect(python.files?.length, "the tree has python files at several depths").toBeGreaterThan(6);
    });

    it(`${image}: ls and glob run no command (the agent lists), or one each without the agent, never a shell loop over the entries`, {
      timeout: 60_000,
    }, async () => {
      const { sandbox } = side();
      expect(await sandbox.commandChannelReady()).toBe(agentBuilt ? "agent" : "exec");
      await sandbox.ls(ROOT); // asks once which find the image has
      const commands = await commandsOf(sandbox, async () => {
        await sandbox.ls(ROOT);
        await sandbox.glob("**/*.py", ROOT);
        await sandbox.glob("**", ROOT);
      });
      expect(commands, "the command agent lists for ls and glob itself; without it, each is one command").toHaveLength(agentBuilt ? 0 : 3);
      for (const command of commands) expect(command, "a per-entry loop").not.toMatch(/for f; do|while .*read/);
    });
  }
});
