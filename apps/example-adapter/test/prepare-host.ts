import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { hostProblem } from "../src/index.js";

/**
 * Chroot sandboxes need Linux, root (namespaces and chroot are privileged),
 * util-linux's `unshare` and `nsenter`, and Debian's `busybox-static` for the
 * built-in image. This installs busybox-static when it is missing (we are
 * root), and returns why the suite cannot run here, or `undefined`.
 *
 * Under CI a missing requirement throws instead: a skipped suite must not
 * pass for a green run.
 */
export function prepareHost(): string | undefined {
  let problem = hostProblem();
  if (!problem && !existsSync("/bin/busybox")) {
    const apt = (args: string[]) => execFileSync("apt-get", args, { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    try {
      apt(["install", "-y", "-qq", "busybox-static"]);
    } catch {
      try {
        apt(["update", "-qq"]);
        apt(["install", "-y", "-qq", "busybox-static"]);
      } catch {
        // Reported below.
      }
    }
    if (!existsSync("/bin/busybox")) problem = "no /bin/busybox and `apt-get install busybox-static` failed";
  }
  if (problem && process.env.CI) throw new Error(`the chroot conformance suite cannot run on this CI machine: ${problem}`);
  return problem;
}
