/**
 * `pnpm bench`: what the emulator costs over raw Docker, measured in one process.
 *
 * - exec round trip: the real modal SDK (`sandbox.exec` + read stdout/stderr +
 *   `wait`) through the emulator, vs a raw dockerode exec (create, start,
 *   read the output, inspect the exit code) in a container of the same image.
 *   Target: ratio <= 2.
 * - create-to-first-exec: `sandboxes.create` (with a fresh image handle, as
 *   user code does) + the first exec, vs dockerode create + start + exec.
 *   Target: ratio <= 1.5.
 *
 * Medians are compared; the two sides alternate so machine drift hits both.
 */
import type { Duplex } from "node:stream";
import { DockerEngine } from "@sandbox/docker-engine";
import { ModalClient, type Sandbox } from "modal";
import { COMPONENT_LABEL, MANAGED_LABEL } from "../src/emulator-labels.js";
import { startModalEmulator } from "../src/index.js";

const IMAGE = "sandbox-busybox:latest";
const EXEC_ITERATIONS = Number(process.env.BENCH_EXEC_ITERATIONS ?? 40);
const CREATE_ITERATIONS = Number(process.env.BENCH_CREATE_ITERATIONS ?? 8);
const WARMUP_ITERATIONS = 5;
type Docker = DockerEngine["docker"];
type Container = ReturnType<Docker["getContainer"]>;
const LABELS = { [MANAGED_LABEL]: "true", [COMPONENT_LABEL]: "modal-emulator-bench" };

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

async function rawExec(container: Container, argv: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`raw exec exited ${info.ExitCode}`);
  return Buffer.concat(chunks).toString("utf8");
}

async function rawCreate(docker: Docker): Promise<Container> {
  const container = await docker.createContainer({
    Image: IMAGE,
    Entrypoint: ["sleep"],
    Cmd: ["300"],
    Labels: LABELS,
    HostConfig: { Init: true, AutoRemove: true },
  });
  await container.start();
  return container;
}

async function sdkExec(sandbox: Sandbox, argv: string[]): Promise<string> {
  const process = await sandbox.exec(argv);
  const [stdout] = await Promise.all([process.stdout.readText(), process.stderr.readText()]);
  const exitCode = await process.wait();
  if (exitCode !== 0) throw new Error(`sdk exec exited ${exitCode}`);
  return stdout;
}

function report(name: string, sdkMs: number[], rawMs: number[], target: number): boolean {
  const ratio = median(sdkMs) / median(rawMs);
  const verdict = ratio <= target ? "ok" : "OVER TARGET";
  console.log(
    `${name}: SDK+emulator p50 ${median(sdkMs).toFixed(1)} ms, raw dockerode p50 ${median(rawMs).toFixed(1)} ms, ` +
      `ratio ${ratio.toFixed(2)} (target <= ${target}) ${verdict}`,
  );
  return ratio <= target;
}

async function main(): Promise<void> {
  const engine = new DockerEngine();
  await engine.ping();
  const docker = engine.docker;
  const emulator = await startModalEmulator({ tokenId: "ak-bench", tokenSecret: "as-bench" });
  // The SDK reads MODAL_SERVER_URL when a client is constructed: set it first.
  process.env.MODAL_SERVER_URL = emulator.url;
  const client = new ModalClient({ tokenId: "ak-bench", tokenSecret: "as-bench", logLevel: "error" });
  const rawContainers: Container[] = [];
  const sandboxes: Sandbox[] = [];
  let withinTargets = true;
  try {
    const app = await client.apps.fromName("bench", { createIfMissing: true });
    const sandbox = await client.sandboxes.create(app, client.images.fromRegistry("alpine:3.21"));
    sandboxes.push(sandbox);
    const rawContainer = await rawCreate(docker);
    rawContainers.push(rawContainer);

    for (let index = 0; index < WARMUP_ITERATIONS; index++) {
      await sdkExec(sandbox, ["echo", "warm"]);
      await rawExec(rawContainer, ["echo", "warm"]);
    }
    const sdkExecMs: number[] = [];
    const rawExecMs: number[] = [];
    for (let index = 0; index < EXEC_ITERATIONS; index++) {
      sdkExecMs.push(await timed(() => sdkExec(sandbox, ["echo", "round trip"])));
      rawExecMs.push(await timed(() => rawExec(rawContainer, ["echo", "round trip"])));
    }
    withinTargets = report(`exec round trip (${EXEC_ITERATIONS} runs)`, sdkExecMs, rawExecMs, 2) && withinTargets;

    const sdkCreateMs: number[] = [];
    const rawCreateMs: number[] = [];
    for (let index = 0; index < CREATE_ITERATIONS; index++) {
      let created: Sandbox | undefined;
      sdkCreateMs.push(
        await timed(async () => {
          created = await client.sandboxes.create(app, client.images.fromRegistry("alpine:3.21"));
          await sdkExec(created, ["echo", "first"]);
        }),
      );
      await created?.terminate();
      created?.detach();
      let container: Container | undefined;
      rawCreateMs.push(
        await timed(async () => {
          container = await rawCreate(docker);
          await rawExec(container, ["echo", "first"]);
        }),
      );
      await container?.remove({ force: true }).catch(() => undefined);
    }
    withinTargets = report(`create-to-first-exec (${CREATE_ITERATIONS} runs)`, sdkCreateMs, rawCreateMs, 1.5) && withinTargets;
  } finally {
    for (const sandbox of sandboxes) sandbox.detach();
    for (const container of rawContainers) await container.remove({ force: true }).catch(() => undefined);
    client.close();
    await emulator.stop();
  }
  if (!withinTargets) process.exitCode = 1;
}

await main();
