// Consumer run (ESM): a real local-docker sandbox from the installed tarballs.
// Creates it, executes, uploads and downloads, closes, and checks that no
// container is left; deepagents' file tools (write/read/ls/grep/glob) work
// through it. Exits non-zero with a message on the first failure.
import assert from "node:assert/strict";
import { DockerEngine } from "@sandbox/docker-engine";
import { LocalDockerSandbox } from "@sandbox/local-docker";

const image = process.env.CONSUMER_IMAGE ?? "sandbox-busybox:latest";
const sandbox = await LocalDockerSandbox.create({ imageName: image, timeoutMs: 120_000 });
const id = sandbox.id;
try {
  const result = await sandbox.execute("echo consumer-$((6 * 7)) && echo oops >&2 && exit 3");
  assert.match(result.output, /consumer-42/);
  assert.match(result.output, /oops/);
  assert.equal(result.exitCode, 3);

  const payload = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
  const uploads = await sandbox.uploadFiles([
    ["/tmp/consumer/data.bin", payload],
    ["/tmp/consumer/hello.txt", new TextEncoder().encode("hello")],
  ]);
  assert.deepEqual(
    uploads.map((upload) => upload.error ?? null),
    [null, null],
  );
  const downloads = await sandbox.downloadFiles(["/tmp/consumer/data.bin", "/tmp/consumer/hello.txt", "/tmp/consumer/missing"]);
  assert.deepEqual([...downloads[0].content], [...payload]);
  assert.equal(new TextDecoder().decode(downloads[1].content), "hello");
  assert.equal(downloads[2].error, "file_not_found");
  assert.equal((await sandbox.execute("cat /tmp/consumer/hello.txt")).output.trim(), "hello");

  // deepagents' own file tools (BaseSandbox of the installed deepagents) on top of execute.
  // Result shapes differ between deepagents versions, so only their content is checked.
  const seen = (value) => JSON.stringify(value);
  const written = await sandbox.write("/tmp/consumer/notes.txt", "first line\nneedle line\n");
  assert.ok(!written?.error, `write failed: ${seen(written)}`);
  assert.match(seen(await sandbox.read("/tmp/consumer/notes.txt")), /needle line/);
  assert.match(seen(await sandbox.ls("/tmp/consumer")), /notes\.txt/);
  assert.match(seen(await sandbox.grep("needle", "/tmp/consumer")), /notes\.txt/);
  assert.match(seen(await sandbox.glob("*.txt", "/tmp/consumer")), /hello\.txt/);
} finally {
  await sandbox.close();
}

// Nothing left: the container is gone (removal may finish a moment after close()).
const engine = new DockerEngine();
let left = [];
for (let attempt = 0; attempt < 50; attempt++) {
  left = await engine.docker.listContainers({ all: true, filters: { id: [id] } });
  if (left.length === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
assert.deepEqual(
  left.map((container) => `${container.Id} ${container.State}`),
  [],
  "the sandbox's container is still there after close()",
);
console.log(`smoke: sandbox ${id.slice(0, 12)} executed, uploaded, downloaded, used deepagents file tools and closed; no container left`);
