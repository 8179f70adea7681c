import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";

/** The emulator, run as a server is: in its own process, the SDK pointed at it through its environment variables. */
export interface EmulatorProcess {
  stop(): Promise<void>;
}

export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const bin = createRequire(import.meta.url)
    .resolve("@sandbox/modal-emulator/package.json")
    .replace(/package\.json$/, "dist/bin.js");
  const tokenId = `ak-bench-${randomBytes(6).toString("hex")}`;
  const tokenSecret = `as-bench-${randomBytes(12).toString("hex")}`;
  const child: ChildProcess = spawn(process.execPath, [bin, "--token-id", tokenId, "--token-secret", tokenSecret], { stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`modal-emulator did not start in 60 s: ${output}`)), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /listening on (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr!.resume();
    child.on("exit", (code) => reject(new Error(`modal-emulator exited with ${code} before listening: ${output}`)));
  });
  const previous = { url: process.env.MODAL_SERVER_URL, id: process.env.MODAL_TOKEN_ID, secret: process.env.MODAL_TOKEN_SECRET };
  process.env.MODAL_SERVER_URL = url;
  process.env.MODAL_TOKEN_ID = tokenId;
  process.env.MODAL_TOKEN_SECRET = tokenSecret;
  return {
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      for (const [name, value] of [
        ["MODAL_SERVER_URL", previous.url],
        ["MODAL_TOKEN_ID", previous.id],
        ["MODAL_TOKEN_SECRET", previous.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
