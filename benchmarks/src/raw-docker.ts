import { PassThrough, type Readable } from "node:stream";
import Docker from "dockerode";

/**
 * The raw floor: what the Docker Engine API costs with nothing of ours in
 * between (dockerode create, start, exec, archive), with the same image and
 * the settings our sandboxes use, labelled so a crash leaves nothing unreapable.
 */
export const docker = new Docker();

export const BENCH_LABELS = { "dev.sandbox.managed": "true", "dev.sandbox.app": `bench-${process.pid}` };

export async function rawCreate(image: string): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ["sleep"],
    Cmd: ["1800"],
    Labels: BENCH_LABELS,
    HostConfig: { Init: true, AutoRemove: true, SecurityOpt: ["no-new-privileges"], PidsLimit: 1024, NetworkMode: "bridge" },
  });
  await container.start();
  return container;
}

export async function rawRemove(container: Docker.Container): Promise<void> {
  await container.remove({ force: true }).catch(() => undefined);
}

/** One exec: create, start, read the demultiplexed output, wait for the exit code. */
export async function rawExec(container: Docker.Container, command: string): Promise<{ stdout: string; exitCode: number | null }> {
  const exec = await container.exec({ Cmd: ["sh", "-c", command], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    docker.modem.demuxStream(stream, stdout, new PassThrough().resume());
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
  return { stdout: Buffer.concat(chunks).toString("utf8"), exitCode: info.ExitCode };
}

/** A tar archive of one file (what `putArchive` takes). */
function tarOf(name: string, content: Uint8Array): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write("0000644\0", 100, 8, "ascii");
  header.write("0000000\0", 108, 8, "ascii");
  header.write("0000000\0", 116, 8, "ascii");
  header.write(`${content.length.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  header.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
    136,
    12,
    "ascii",
  );
  header.write("        ", 148, 8, "ascii");
  header.write("0", 156, 1, "ascii");
  header.write("ustar\u000000", 257, 8, "binary");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, Buffer.from(content), padding, Buffer.alloc(1024)]);
}

export async function rawUpload(container: Docker.Container, directory: string, name: string, content: Uint8Array): Promise<void> {
  await container.putArchive(tarOf(name, content), { path: directory });
}

/**
 * Reads a file through the archive API into one buffer of the archive's
 * size: what any caller that returns the content must add to
 * {@link rawDownload} (on this VM, first-touching 100 MiB of fresh memory
 * alone costs ~0.35 s).
 */
export async function rawDownloadIntoBuffer(container: Docker.Container, path: string, archiveBytes: number): Promise<Uint8Array> {
  const stream = (await container.getArchive({ path })) as unknown as Readable;
  const target = new Uint8Array(archiveBytes);
  let offset = 0;
  for await (const chunk of stream) {
    target.set((chunk as Buffer).subarray(0, Math.max(0, archiveBytes - offset)), offset);
    offset += (chunk as Buffer).length;
  }
  return target;
}

/** Reads a file through the archive API and returns how many bytes the archive held. */
export async function rawDownload(container: Docker.Container, path: string): Promise<number> {
  const stream = (await container.getArchive({ path })) as unknown as Readable;
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}
