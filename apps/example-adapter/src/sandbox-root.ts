import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { STANDARD_PATH } from "./host-tools.js";

const run = promisify(execFile);

/** Applet paths such as `bin/sh` and `usr/bin/awk`, read once per process from `busybox --list-full`. */
let applets: Promise<string[]> | undefined;

function listApplets(busybox: string): Promise<string[]> {
  applets ??= run(busybox, ["--list-full"]).then(({ stdout }) => stdout.split("\n").filter((path) => path !== "" && !path.endsWith("/busybox")));
  return applets;
}

/** The image every sandbox gets unless `imageName` names another. */
export const BUILTIN_IMAGE = "busybox";

/**
 * Fills the empty directory `root` with a copy of an image: a root file
 * system in a directory (for instance one `debootstrap` made), copied with
 * `cp -a` so owners, modes, links and device nodes survive.
 */
export async function copyImageRoot(image: string, root: string): Promise<void> {
  await run("cp", ["-a", "--", `${image}/.`, root], { env: { PATH: STANDARD_PATH } });
  for (const directory of ["proc", "dev", "sys", "tmp"]) await mkdir(join(root, directory), { recursive: true });
}

/**
 * The built-in image: fills the empty directory `root` with a minimal Linux userland: the static
 * busybox at `/bin/busybox`, one symlink per applet at its usual place
 * (`/bin/sh`, `/usr/bin/awk`, ...), `/etc/passwd` and friends, and the
 * mount points `/proc`, `/dev` and `/sys` (mounted when the sandbox starts).
 * About 2 MB and a few milliseconds.
 */
export async function buildSandboxRoot(root: string, busybox: string): Promise<void> {
  for (const directory of ["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "home", "proc", "dev", "sys", "var"]) {
    await mkdir(join(root, directory), { recursive: true });
  }
  for (const directory of ["tmp", "var/tmp"]) {
    await mkdir(join(root, directory), { recursive: true });
    await chmod(join(root, directory), 0o1777);
  }
  await mkdir(join(root, "root"), { mode: 0o700 });
  await copyFile(busybox, join(root, "bin/busybox"));
  await chmod(join(root, "bin/busybox"), 0o755);
  const paths = await listApplets(busybox);
  await Promise.all(
    paths.map(async (path) => {
      await mkdir(join(root, dirname(path)), { recursive: true });
      await symlink("/bin/busybox", join(root, path));
    }),
  );
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await writeFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n::1 localhost\n");
}
