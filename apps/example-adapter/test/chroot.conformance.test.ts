import { runConformanceSuite } from "@sandbox/core/conformance";
import { describe } from "vitest";
import { ChrootSandbox, chrootSandboxExists } from "../src/index.js";
import { prepareHost } from "./prepare-host.js";

// Root on Linux with util-linux and busybox-static, or skipped with the reason.
const problem = prepareHost();

describe.runIf(!problem)(problem ? `chroot (skipped: ${problem})` : "chroot", () => {
  runConformanceSuite({
    name: "chroot",
    create: (options) => ChrootSandbox.create(options),
    construct: (options) => new ChrootSandbox(options),
    fromId: (id) => ChrootSandbox.fromId(id),
    exists: (id) => chrootSandboxExists(id),
  });
});
