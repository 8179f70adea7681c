// Time to first command: a claim from a warm pool vs a cold create vs the raw
// floor (dockerode create + start + exec with the same image and settings),
// interleaved in the same process so machine noise hits all three alike.
// Removal is not timed. Prints p50/p95 and ratios; target: warm p50 <= 50 ms.
// Run after `pnpm --filter @sandbox/local-docker build`: node bench/pool.bench.mjs
import Docker from "dockerode";
import { createLocalDockerSandboxPool, LocalDockerSandbox } from "../dist/index.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const image = process.env.BENCH_IMAGE ?? "sandbox-busybox:latest";
const appName = `bench-pool-${process.pid}`;
const docker = new Docker();

async function rawFirstCommand() {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ["sleep"],
    Cmd: ["300"],
    Labels: { "dev.sandbox.managed": "true", "dev.sandbox.app": appName },
    HostConfig: { Init: true, AutoRemove: true, SecurityOpt: ["no-new-privileges"], PidsLimit: 1024, NetworkMode: "bridge" },
  });
  await container.start();
  await execEchoOk(container);
  return () => container.remove({ force: true }).catch(() => undefined);
}

/** Runs `echo ok` in `container` with a raw exec and waits until the engine reports it finished. */
async function execEchoOk(container) {
  const exec = await container.exec({ Cmd: ["sh", "-c", "echo ok"], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise((resolve, reject) => {
    docker.modem.demuxStream(stream, { write() {} }, { write() {} });
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
}

// The floor of any warm claim: one raw exec round trip on a running container.
let floorContainer;
async function rawExec() {
  await execEchoOk(floorContainer);
  return () => undefined;
}

async function coldFirstCommand() {
  const sandbox = await LocalDockerSandbox.create({ appName, imageName: image, env: { TASK: "bench" } });
  await sandbox.execute("echo ok");
  return () => sandbox.close();
}

const pool = createLocalDockerSandboxPool({ options: { appName, imageName: image }, size: 2, maxConcurrentStarts: 1 });
async function warmFirstCommand() {
  const sandbox = await pool.claim({ env: { TASK: "bench" } });
  await sandbox.execute("echo ok");
  return () => sandbox.close();
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
};

const times = { raw: [], cold: [], warm: [], exec: [] };
const runs = { raw: rawFirstCommand, cold: coldFirstCommand, warm: warmFirstCommand, exec: rawExec };
try {
  await pool.ready();
  floorContainer = await docker.createContainer({
    Image: image,
    Entrypoint: ["sleep"],
    Cmd: ["900"],
    Labels: { "dev.sandbox.managed": "true", "dev.sandbox.app": appName },
    HostConfig: { Init: true, AutoRemove: true },
  });
  await floorContainer.start();
  await (await coldFirstCommand())(); // warm-up: image cache, start-up reap
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = [
      ["raw", "cold", "warm", "exec"],
      ["warm", "exec", "raw", "cold"],
      ["cold", "warm", "exec", "raw"],
    ][round % 3];
    for (const which of order) {
      // Steady state: claims find a refilled pool, as when claims are spaced out.
      if (which === "warm") await pool.ready();
      const started = performance.now();
      const cleanup = await runs[which]();
      times[which].push(performance.now() - started);
      await cleanup();
    }
    process.stdout.write(`\rround ${round + 1}/${ROUNDS}`);
  }
  process.stdout.write("\n");
  const stats = pool.stats;
  const row = (name) =>
    `${name.padEnd(5)} p50 ${percentile(times[name], 50).toFixed(1).padStart(7)} ms   p95 ${percentile(times[name], 95).toFixed(1).padStart(7)} ms   vs raw p50 ${(percentile(times[name], 50) / percentile(times.raw, 50)).toFixed(2)}x`;
  console.log(`time to first command, ${ROUNDS} rounds, image ${image}`);
  for (const name of ["raw", "cold", "warm"]) console.log(row(name));
  console.log(`${row("exec")}   (one raw exec on a running container: the floor of a warm claim)`);
  console.log(`warm p50 target <= 50 ms: ${percentile(times.warm, 50) <= 50 ? "met" : "NOT met"}; pool: ${stats.warmClaims} warm, ${stats.coldCreates} cold`);
} finally {
  await pool.close();
  await floorContainer?.remove({ force: true }).catch(() => undefined);
}
