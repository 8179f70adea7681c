// Builds the in-sandbox command agent (agent/sandbox-agent.c) into
// dist/sandbox-agent with `gcc -static`. Run by `pnpm build` after tsup
// (which empties dist/). Without gcc it says so and leaves the binary out:
// the adapter then runs commands through `docker exec` (commandChannel
// "exec"). SANDBOX_REQUIRE_AGENT=1 (set by the CI scripts) turns that into a failure.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "agent", "sandbox-agent.c");
const output = join(root, "dist", "sandbox-agent");
const compiler = process.env.CC ?? "gcc";
mkdirSync(dirname(output), { recursive: true });
try {
  execFileSync(compiler, ["-static", "-O2", "-s", "-Wall", "-o", output, source], { stdio: "inherit" });
  console.log(`sandbox-agent: built ${output}`);
} catch (error) {
  const message = `sandbox-agent: could not build with ${compiler} (${error.code === "ENOENT" ? "not installed" : error.message}); commands will use docker exec. Install gcc and libc6-dev (apt-get install -y gcc libc6-dev) to build it.`;
  if (process.env.SANDBOX_REQUIRE_AGENT === "1") {
    console.error(message);
    process.exit(1);
  }
  console.warn(message);
}
