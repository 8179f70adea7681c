import { ModalSandbox } from "@sandbox/modal";
import { ModalClient, type Sandbox } from "modal";
import { startEmulatorProcess } from "./emulator-process.js";
import { docker, rawExec } from "./raw-docker.js";
import { type BenchSettings, type ScenarioResult, size, target } from "./scenario.js";
import { distribution, interleave } from "./stats.js";

const APP = `bench-${process.pid}`;
const IMAGE = "alpine:3.21";

async function sdkExec(instance: Sandbox, command: string): Promise<{ stdout: string; exitCode: number }> {
  const child = await instance.exec(["sh", "-c", command], { stdout: "pipe", stderr: "pipe" });
  const [stdout, , exitCode] = await Promise.all([child.stdout.readText(), child.stderr.readText(), child.wait()]);
  return { stdout, exitCode };
}

/** The container behind an emulated sandbox (the emulator labels it with the sandbox id). */
async function containerOf(sandboxId: string) {
  const [found] = await docker.listContainers({ filters: { label: [`dev.sandbox.modal-emulator.sandbox-id=${sandboxId}`] } });
  if (!found) throw new Error(`no container for ${sandboxId}`);
  return docker.getContainer(found.Id);
}

/**
 * `@sandbox/modal` against the raw modal SDK, both through the emulator (in
 * its own process): create to first command, command round trip, and 1 MiB
 * upload/download; plus the emulator against a raw Docker exec on the same
 * container (what the emulator costs over the engine).
 */
export async function modalThroughEmulator(settings: BenchSettings): Promise<ScenarioResult> {
  const emulator = await startEmulatorProcess();
  const client = new ModalClient({ logLevel: "error" });
  try {
    const app = await client.apps.fromName(APP, { createIfMissing: true });
    const image = client.images.fromRegistry(IMAGE);
    const firstRounds = size(settings, 20);
    settings.progress(`modal: first command x${firstRounds}`);
    const first = await interleave(firstRounds, {
      "raw SDK": async () => {
        const instance = await client.sandboxes.create(app, image);
        if ((await sdkExec(instance, "echo ok")).exitCode !== 0) throw new Error("raw SDK first command failed");
        return () => instance.terminate();
      },
      "@sandbox/modal": async () => {
        const sandbox = await ModalSandbox.create({ appName: APP, imageName: IMAGE });
        if ((await sandbox.execute("echo ok")).exitCode !== 0) throw new Error("adapter first command failed");
        return () => sandbox.close();
      },
    });
    const sandbox = await ModalSandbox.create({ appName: APP, imageName: IMAGE, timeoutMs: 1_800_000 });
    try {
      const instance = sandbox.instance as Sandbox;
      const container = await containerOf(sandbox.id);
      const payload = new Uint8Array(1024 * 1024).map((_, index) => index % 251);
      await sandbox.uploadFiles([["/tmp/bench/read.bin", payload]]);
      const rounds = size(settings, 100);
      settings.progress(`modal: round trips and transfers x${rounds}`);
      const samples = await interleave(rounds, {
        "raw docker exec": async () => {
          if ((await rawExec(container, "echo hello")).exitCode !== 0) throw new Error("raw exec failed");
          return undefined;
        },
        "raw SDK exec": async () => {
          if ((await sdkExec(instance, "echo hello")).stdout !== "hello\n") throw new Error("raw SDK exec failed");
          return undefined;
        },
        "@sandbox/modal execute": async () => {
          if ((await sandbox.execute("echo hello")).output !== "hello\n") throw new Error("adapter execute failed");
          return undefined;
        },
        "raw SDK writeBytes 1 MiB": async () => {
          await instance.filesystem.writeBytes(payload, "/tmp/bench/raw.bin");
          return undefined;
        },
        "@sandbox/modal upload 1 MiB": async () => {
          const [result] = await sandbox.uploadFiles([["/tmp/bench/adapter.bin", payload]]);
          if (result?.error) throw new Error(`upload: ${result.error}`);
          return undefined;
        },
        "raw SDK readBytes 1 MiB": async () => {
          await instance.filesystem.readBytes("/tmp/bench/read.bin");
          return undefined;
        },
        "@sandbox/modal download 1 MiB": async () => {
          const [result] = await sandbox.downloadFiles(["/tmp/bench/read.bin"]);
          if (result?.content?.length !== payload.length) throw new Error(`download: ${result?.error}`);
          return undefined;
        },
      });
      // Many small files: the adapter batches them into one exec each way; the raw SDK makes one exec per file (4 at once, as the adapter did before).
      const count = size(settings, 100, 10);
      const files = (tree: string): Array<[string, Uint8Array]> =>
        Array.from({ length: count }, (_, index) => [
          `/tmp/bench/${tree}/src/m${index}.ts`,
          new TextEncoder().encode(`export const m${index} = ${index};\n`.repeat(20)),
        ]);
      const eachAtMost4 = async (paths: string[], task: (path: string, index: number) => Promise<unknown>) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < paths.length) {
              const index = next++;
              await task(paths[index]!, index);
            }
          }),
        );
      };
      const many = files("many");
      await sandbox.uploadFiles(many);
      const manyRounds = size(settings, 3);
      settings.progress(`modal: ${count} small files up and down x${manyRounds}`);
      const manySamples = await interleave(manyRounds, {
        [`raw SDK writeBytes x${count}`]: async () => {
          const raw = files("raw");
          await eachAtMost4(
            raw.map(([path]) => path),
            (path, index) => instance.filesystem.writeBytes(raw[index]![1], path),
          );
          return undefined;
        },
        [`@sandbox/modal upload ${count} files`]: async () => {
          const results = await sandbox.uploadFiles(files("adapter"));
          if (results.some((result) => result.error)) throw new Error("upload of many files failed");
          return undefined;
        },
        [`raw SDK readBytes x${count}`]: async () => {
          await eachAtMost4(
            many.map(([path]) => path),
            (path) => instance.filesystem.readBytes(path),
          );
          return undefined;
        },
        [`@sandbox/modal download ${count} files`]: async () => {
          const results = await sandbox.downloadFiles(many.map(([path]) => path));
          if (results.some((result) => result.error)) throw new Error("download of many files failed");
          return undefined;
        },
      });
      const p50 = (from: Record<string, number[]>, name: string) => distribution(from[name]!).p50;
      const all = { ...first, ...samples, ...manySamples };
      return {
        id: "modal.emulator",
        title: "@sandbox/modal vs the raw modal SDK, through @sandbox/modal-emulator (ms)",
        rows: Object.keys(all).map((name) => ({
          name: name in first ? `first command: ${name}` : name,
          latencyMs: distribution(all[name]!),
        })),
        targets: [
          target("adapter / raw SDK: first command p50", p50(first, "@sandbox/modal") / p50(first, "raw SDK"), "<=", 1.05, "x"),
          target("adapter / raw SDK: execute p50", p50(samples, "@sandbox/modal execute") / p50(samples, "raw SDK exec"), "<=", 1.05, "x"),
          target(
            "adapter / raw SDK: upload 1 MiB p50",
            p50(samples, "@sandbox/modal upload 1 MiB") / p50(samples, "raw SDK writeBytes 1 MiB"),
            "<=",
            1.05,
            "x",
          ),
          target(
            "adapter / raw SDK: download 1 MiB p50",
            p50(samples, "@sandbox/modal download 1 MiB") / p50(samples, "raw SDK readBytes 1 MiB"),
            "<=",
            1.05,
            "x",
          ),
          target("emulator: raw SDK exec / raw docker exec p50", p50(samples, "raw SDK exec") / p50(samples, "raw docker exec"), "<=", 1.5, "x"),
        ],
        errors: 0,
      };
    } finally {
      await sandbox.close();
    }
  } finally {
    client.close();
    await emulator.stop();
  }
}
