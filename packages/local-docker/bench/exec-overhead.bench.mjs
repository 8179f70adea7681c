// Exec round trip through LocalDockerSandbox.execute vs a raw dockerode exec
// (create, start, read the demultiplexed output, inspect the exit code), in
// the same process against the same container, interleaved so machine noise
// hits both alike. Prints medians and the ratio (target: <= 1.15).
import Docker from "dockerode";
import { LocalDockerSandbox } from "../dist/index.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 60);
const WARMUP = 5;
const image = process.env.BENCH_IMAGE ?? "sandbox-busybox:latest";
const docker = new Docker();

async function rawExec(container, command) {
  const exec = await container.exec({ Cmd: ["sh", "-c", command], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks = [];
  await new Promise((resolve, reject) => {
    docker.modem.demuxStream(stream, { write: (chunk) => chunks.push(chunk) }, { write: (chunk) => chunks.push(chunk) });
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
  return { output: Buffer.concat(chunks).toString("utf8"), exitCode: info.ExitCode };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const sandbox = await LocalDockerSandbox.create({ imageName: image, timeoutMs: 600_000 });
try {
  const container = docker.getContainer(sandbox.id);
  const adapterTimes = [];
  const rawTimes = [];
  for (let round = 0; round < WARMUP + ROUNDS; round += 1) {
    const order = round % 2 === 0 ? ["adapter", "raw"] : ["raw", "adapter"];
    for (const which of order) {
      const started = performance.now();
      const result = which === "adapter" ? await sandbox.execute("echo hello") : await rawExec(container, "echo hello");
      const elapsed = performance.now() - started;
      if (result.output !== "hello\n" || result.exitCode !== 0) throw new Error(`${which} exec returned ${JSON.stringify(result)}`);
      if (round >= WARMUP) (which === "adapter" ? adapterTimes : rawTimes).push(elapsed);
    }
  }
  const adapter = median(adapterTimes);
  const raw = median(rawTimes);
  console.log(`exec round trip, ${ROUNDS} rounds interleaved, image ${image}`);
  console.log(`  raw dockerode exec   p50 ${raw.toFixed(1)} ms`);
  console.log(`  LocalDockerSandbox   p50 ${adapter.toFixed(1)} ms`);
  console.log(`  ratio adapter/raw    ${(adapter / raw).toFixed(3)} (target <= 1.15)`);
} finally {
  await sandbox.close();
}
