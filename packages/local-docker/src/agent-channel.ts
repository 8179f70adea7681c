import { existsSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EngineContainer, type EngineExec, StreamedBuffer } from "@sandbox/docker-engine";
import { pack } from "tar-stream";

/**
 * The host end of the fast command channel: one long-lived `docker exec` of
 * the in-sandbox agent (agent/sandbox-agent.c), whose stdin and stdout carry
 * length-prefixed frames, so a command costs one frame each way instead of
 * an exec create, start, attach and inspect. See the C source for the protocol.
 */

/** Where the agent binary goes inside the sandbox. */
export const AGENT_DIRECTORY = "/.sandbox-agent";
const AGENT_FILE = "sandbox-agent-1";
export const AGENT_PATH = `${AGENT_DIRECTORY}/${AGENT_FILE}`;

/** How long a starting agent may take to say hello before the sandbox keeps using `docker exec`. */
const HELLO_TIMEOUT_MS = 10_000;
const HEADER_BYTES = 9;
/** Frames from this size on are gathered into a buffer of their size as their pieces arrive. */
const GATHER_MIN_BYTES = 64 * 1024;

/** The built agent next to this module (dist/) or, from the sources, in ../dist. */
export function agentBinaryPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "sandbox-agent"), join(here, "..", "dist", "sandbox-agent")]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let archive: Promise<Buffer | undefined> | undefined;

/** A tar of the agent binary (made once per process), or undefined when it was not built. */
function agentArchive(): Promise<Buffer | undefined> {
  archive ??= (async () => {
    const path = agentBinaryPath();
    if (path === undefined) return undefined;
    const binary = readFileSync(path);
    const tar = pack();
    tar.entry({ name: AGENT_DIRECTORY.slice(1), type: "directory", mode: 0o755 });
    tar.entry({ name: `${AGENT_DIRECTORY.slice(1)}/${AGENT_FILE}`, mode: 0o755, size: binary.byteLength }, binary);
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  return archive;
}

/** Whose answers the agent's search gives (see {@link AgentChannel.search}). */
export type GrepKind = "busybox" | "gnu-c" | "gnu";

/** A command's end as the agent reports it. */
export interface AgentExit {
  exitCode: number;
  /** The cgroup's OOM-kill counter before the command started and after it ended (undefined: unreadable). */
  oomBefore: number | undefined;
  oomAfter: number | undefined;
}

/** The agent could not start the command (fork, chdir or exec failed): nothing of it ran. */
export class AgentStartFailure extends Error {}

/** The channel closed (the agent died, or the sandbox ended) while the command ran. */
export class AgentChannelClosed extends Error {}

/** One command on the channel. */
export interface AgentRun {
  /** Settles with the exit, or rejects with {@link AgentStartFailure} / {@link AgentChannelClosed}. */
  readonly done: Promise<AgentExit>;
  /** Kills the command's whole tree; resolves true once the agent found none of it left. */
  kill(): Promise<boolean>;
}

/**
 * The agent's answer to a file operation: done (with the content, for a
 * read), a problem with the file, or `undefined`: not answered (a path on a
 * pseudo-filesystem, a file over the size asked for, an error the agent does
 * not classify, the channel closed): use another way.
 */
export type AgentFileAnswer = { content: Uint8Array } | { problem: AgentFileProblem } | undefined;

/**
 * The problems the agent names: a subset of docker-engine's
 * `ContainerFileProblem`, and `no_space` (a write ran out of space or quota;
 * the file keeps what it held).
 */
export type AgentFileProblem = "not_found" | "not_a_directory" | "is_directory" | "permission_denied" | "not_regular" | "invalid" | "no_space";

const AGENT_FILE_PROBLEMS: readonly string[] = ["not_found", "not_a_directory", "is_directory", "permission_denied", "not_regular", "invalid", "no_space"];

interface Pending {
  claimed?: (problem: string | undefined) => void;
  answered?: (answer: AgentFileAnswer) => void;
  /** A streamed read ({@link AgentChannel.streamFile}): its size, its bytes (in pieces, in order), its end. */
  streaming?: { start(size: number): void; data(piece: Buffer): void; end(complete: boolean): void };
  onStdout(chunk: Uint8Array): void;
  onStderr(chunk: Uint8Array): void;
  resolve(exit: AgentExit): void;
  reject(error: Error): void;
  killed?: (confirmed: boolean) => void;
}

export interface AgentRunRequest {
  command: string;
  /** Empty: the agent's working directory (the sandbox default). */
  cwd: string;
  env: Record<string, string>;
  /** `NAME=value` entry the whole tree inherits (kill by marker). */
  marker: string;
  onStdout(chunk: Uint8Array): void;
  onStderr(chunk: Uint8Array): void;
}

export class AgentChannel {
  readonly #exec: EngineExec;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffer: Buffer = Buffer.alloc(0);
  #closed: Error | undefined;
  #hello: ((hello: string[]) => void) | undefined;
  /** The agent's pid inside the sandbox. */
  pid = 0;
  /** Whether the agent reads and writes files itself (protocol 2, running as root, as the archive API does). */
  fileOperations = false;
  /** Whether the agent also searches files itself (protocol 3, with {@link fileOperations}). */
  searches = false;
  /** Whether the agent streams large files itself (protocol 4, with {@link fileOperations}). */
  streams = false;
  /** The streamed-read frame ('d') whose payload the next bytes received continue, and how many are left. */
  #inData: { id: number; left: number } | undefined;
  /** A large frame (header included) being received, and how much of it arrived. */
  #gathering: { frame: Buffer; filled: number } | undefined;

  private constructor(exec: EngineExec) {
    this.#exec = exec;
  }

  /**
   * Copies the agent into the container and starts it. Resolves undefined
   * (the caller keeps using `docker exec`) when the binary was not built or
   * cannot run in this image; never hangs longer than the hello timeout.
   */
  static async start(container: EngineContainer): Promise<AgentChannel | undefined> {
    const tar = await agentArchive();
    if (tar === undefined) return undefined;
    // The engine replaces the file even while another handle's agent runs from it.
    await container.putArchive(tar, "/");
    let channel: AgentChannel | undefined;
    const exec = await container.exec([AGENT_PATH], {
      stdin: true,
      onStdout: (chunk) => channel?.receive(chunk),
    });
    channel = new AgentChannel(exec);
    const started = channel;
    exec.done.then(
      () => started.fail(new AgentChannelClosed("the sandbox agent exited")),
      (error: unknown) =>
        started.fail(new AgentChannelClosed(`the sandbox agent's connection failed: ${error instanceof Error ? error.message : String(error)}`)),
    );
    const hello = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), HELLO_TIMEOUT_MS);
      started.#hello = ([, version, pid, euid]) => {
        clearTimeout(timer);
        started.pid = Number(pid);
        started.fileOperations = Number(version) >= 2 && euid === "0";
        started.searches = started.fileOperations && Number(version) >= 3;
        started.streams = started.fileOperations && Number(version) >= 4;
        resolve(true);
      };
      const ended = () => {
        clearTimeout(timer);
        resolve(false);
      };
      exec.done.then(ended, ended);
    });
    if (!(await hello)) {
      started.close();
      return undefined;
    }
    started.#idle();
    return started;
  }

  /** False once the agent is gone; commands then go through `docker exec`. */
  get alive(): boolean {
    return this.#closed === undefined;
  }

  /** Starts a command. */
  run(request: AgentRunRequest): AgentRun {
    const id = this.#nextId++;
    const done = new Promise<AgentExit>((resolve, reject) => {
      if (this.#closed) {
        reject(new AgentStartFailure(this.#closed.message));
        return;
      }
      this.#pending.set(id, { onStdout: request.onStdout, onStderr: request.onStderr, resolve, reject });
    });
    if (this.#pending.has(id)) {
      this.#busy();
      const fields = [request.marker, request.cwd, request.command, ...Object.entries(request.env).map(([name, value]) => `${name}=${value}`)];
      this.#send(id, "R", Buffer.from(`${fields.join("\0")}\0`, "utf8"));
    }
    done.catch(() => undefined);
    return {
      done,
      kill: () =>
        new Promise<boolean>((resolve) => {
          const pending = this.#pending.get(id);
          if (this.#closed) {
            resolve(false);
            return;
          }
          if (pending) pending.killed = resolve;
          else {
            // Already ended: the agent still makes sure no process of it is left.
            this.#pending.set(id, { onStdout: noop, onStderr: noop, resolve: noop, reject: noop, killed: resolve });
          }
          this.#send(id, "K", Buffer.alloc(0));
        }),
    };
  }

  /**
   * Applies a warm-pool claim: creates `workdir` (when given) and starts a
   * watchdog that ends the sandbox after `seconds`. The agent handles frames
   * in order, so commands sent afterwards run only once both are in place.
   * Resolves with what went wrong, or undefined.
   */
  claim(seconds: number, workdir: string): Promise<string | undefined> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (this.#closed) {
        resolve(this.#closed.message);
        return;
      }
      this.#pending.set(id, { onStdout: noop, onStderr: noop, resolve: noop, reject: (error) => resolve(error.message), claimed: resolve });
      const payload = Buffer.from(`\0\0\0\0${workdir}\0`, "utf8");
      payload.writeUInt32BE(seconds, 0);
      this.#busy();
      this.#send(id, "C", payload);
    });
  }

  /**
   * Writes a regular file in the agent itself (no process): symlinks
   * followed, missing parents created, an existing file replaced by a new
   * one with its mode and owner (written beside it, then renamed over it, so
   * a failed write leaves the old content; in place where that cannot be), a
   * new one mode 0644. See {@link AgentFileAnswer}.
   */
  writeFile(path: string, content: Uint8Array): Promise<AgentFileAnswer> {
    const body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    return this.#fileOperation("W", Buffer.concat([Buffer.from(`${path}\0`, "utf8"), body]));
  }

  /** Reads a regular file of at most `maxBytes` in the agent itself (nothing else is opened). See {@link AgentFileAnswer}. */
  readFile(path: string, maxBytes: number): Promise<AgentFileAnswer> {
    const payload = Buffer.from(`\0\0\0\0${path}\0`, "utf8");
    payload.writeUInt32BE(maxBytes, 0);
    return this.#fileOperation("G", payload);
  }

  /**
   * Reads a regular file of at most `maxBytes` (below 4 GiB) in the agent
   * itself, streamed: the agent holds one chunk of it at a time, the host
   * one buffer of the file's size, filled as the bytes arrive (no chunk is
   * kept or joined). A file whose size changed while it was read is not
   * answered. See {@link AgentFileAnswer}.
   */
  streamFile(path: string, maxBytes: number): Promise<AgentFileAnswer> {
    const id = this.#nextId++;
    const payload = Buffer.from(`\0\0\0\0${path}\0`, "utf8");
    payload.writeUInt32BE(Math.min(maxBytes, 0xffff_ffff), 0);
    return new Promise((resolve) => {
      if (this.#closed) {
        resolve(undefined);
        return;
      }
      let target: StreamedBuffer | undefined;
      this.#pending.set(id, {
        onStdout: noop,
        onStderr: noop,
        resolve: noop,
        reject: () => {
          void target?.finish();
          resolve(undefined);
        },
        answered: resolve,
        streaming: {
          start: (size) => {
            // Bounded by the agent (it answers only up to maxBytes); checked again here.
            if (size <= maxBytes) target = new StreamedBuffer(size);
          },
          data: (piece) => {
            target?.write(piece);
          },
          end: (complete) => {
            if (!target) {
              resolve(undefined);
              return;
            }
            const whole = complete && target.received === target.content.byteLength;
            void target.finish().then((content) => resolve(whole ? { content } : undefined));
          },
        },
      });
      this.#busy();
      this.#send(id, "B", payload);
    });
  }

  /**
   * Lists one directory in the agent itself, as `find -L <path> -maxdepth 1
   * -not -path <path>` would (`"busybox"`: each entry's own size and time;
   * `"gnu"`: `-printf` under `-L`): lines `size\tmtime\td|f\tpath`, or
   * undefined when the agent leaves it to a command.
   */
  async listDirectory(path: string, find: "busybox" | "gnu"): Promise<string | undefined> {
    const answer = await this.#fileOperation("L", Buffer.from(`${find === "gnu" ? "g" : "b"}${path}\0`, "utf8"));
    return answer && "content" in answer ? Buffer.from(answer.content).toString("utf8") : undefined;
  }

  /**
   * Lists a tree in the agent itself as deepagents' glob `find` does
   * (pseudo-filesystems pruned): the lines of the entries whose base name
   * passes `name` (a `-name` pattern; undefined: all), then a trailer
   * `\u0003<entries>\t<bytes>`; undefined when the agent leaves it to a command.
   */
  async listTree(root: string, name: string | undefined, find: "busybox" | "gnu"): Promise<string | undefined> {
    const answer = await this.#fileOperation("T", Buffer.from(`${find === "gnu" ? "g" : "b"}${root}\0${name ?? ""}\0`, "utf8"));
    return answer && "content" in answer ? Buffer.from(answer.content).toString("utf8") : undefined;
  }

  /**
   * Searches in the agent itself as deepagents' grep command does with this
   * image's `grep` (`"busybox"`; `"gnu-c"`: GNU's, reading every byte as
   * text, as in the C locale; `"gnu"`: GNU's in another locale): without a glob as `grep -rHnF -e
   * <pattern> <path>`, with one as `find -L <path> -type f -name <glob>
   * -exec grep -HnF -e <pattern> {} +`. Resolves the first `maxBytes` bytes
   * of what the command would print on stdout, or undefined when the agent
   * leaves it to the command (see the C source for when).
   */
  async search(path: string, pattern: string, glob: string | null, grep: GrepKind, maxBytes: number): Promise<Uint8Array | undefined> {
    const payload = Buffer.from(`${{ busybox: "b", "gnu-c": "c", gnu: "g" }[grep]}\0\0\0\0${path}\0${pattern}\0${glob ?? ""}\0`, "utf8");
    payload.writeUInt32BE(Math.min(maxBytes, 0xffff_ffff), 1);
    const answer = await this.#fileOperation("S", payload);
    return answer && "content" in answer ? answer.content : undefined;
  }

  #fileOperation(type: "W" | "G" | "L" | "T" | "S", payload: Buffer): Promise<AgentFileAnswer> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (this.#closed) {
        resolve(undefined);
        return;
      }
      this.#pending.set(id, { onStdout: noop, onStderr: noop, resolve: noop, reject: () => resolve(undefined), answered: resolve });
      this.#busy();
      this.#send(id, type, payload);
    });
  }

  /** Ends the agent (it kills what still runs) and the connection. */
  close(): void {
    this.fail(new AgentChannelClosed("the command channel was closed"));
    try {
      this.#exec.stdin?.end();
    } catch {
      // already gone
    }
    this.#exec.stream.destroy();
  }

  private fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    for (const pending of this.#pending.values()) {
      pending.reject(error);
      pending.killed?.(false);
    }
    this.#pending.clear();
    this.#hello = undefined;
  }

  #send(id: number, type: string, payload: Buffer): void {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(payload.byteLength, 0);
    header.writeUInt32BE(id, 4);
    header.write(type, 8, "latin1");
    try {
      this.#exec.stdin!.write(payload.byteLength > 0 ? Buffer.concat([header, payload]) : header);
    } catch (error) {
      this.fail(new AgentChannelClosed(`could not write to the sandbox agent: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  /** While commands run the connection keeps Node alive; an idle one does not (an unclosed sandbox must not hold the process open). */
  #busy(): void {
    (this.#exec.stream as Partial<Socket>).ref?.();
  }

  #idle(): void {
    if (this.#pending.size === 0) (this.#exec.stream as Partial<Socket>).unref?.();
  }

  private receive(chunk: Buffer): void {
    if (this.#inData) {
      // The rest of a streamed read's frame: handed on as it comes, never gathered.
      const piece = chunk.subarray(0, this.#inData.left);
      this.#pending.get(this.#inData.id)?.streaming?.data(piece);
      this.#inData.left -= piece.byteLength;
      if (this.#inData.left > 0) return;
      this.#inData = undefined;
      if (piece.byteLength === chunk.byteLength) return;
      chunk = chunk.subarray(piece.byteLength);
    }
    if (this.#gathering) {
      // The rest of a large frame: copied once into its own buffer (joining every piece to what came before was quadratic).
      const gathering = this.#gathering;
      const piece = chunk.subarray(0, gathering.frame.byteLength - gathering.filled);
      gathering.frame.set(piece, gathering.filled);
      gathering.filled += piece.byteLength;
      if (gathering.filled < gathering.frame.byteLength) return;
      this.#gathering = undefined;
      this.#frame(gathering.frame.readUInt32BE(4), String.fromCharCode(gathering.frame[8]!), gathering.frame.subarray(HEADER_BYTES));
      if (piece.byteLength === chunk.byteLength) return;
      chunk = chunk.subarray(piece.byteLength);
    }
    this.#buffer = this.#buffer.byteLength === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let at = 0;
    const buffer = this.#buffer;
    while (buffer.byteLength - at >= HEADER_BYTES) {
      const length = buffer.readUInt32BE(at);
      const id = buffer.readUInt32BE(at + 4);
      const type = String.fromCharCode(buffer[at + 8]!);
      if (buffer.byteLength - at < HEADER_BYTES + length) {
        if (type === "d") {
          const piece = buffer.subarray(at + HEADER_BYTES);
          this.#pending.get(id)?.streaming?.data(piece);
          this.#inData = { id, left: length - piece.byteLength };
          at = buffer.byteLength;
        } else if (length >= GATHER_MIN_BYTES) {
          const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
          const filled = buffer.copy(frame, 0, at);
          this.#gathering = { frame, filled };
          at = buffer.byteLength;
        }
        break;
      }
      const payload = buffer.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
      at += HEADER_BYTES + length;
      this.#frame(id, type, payload);
    }
    this.#buffer = at === buffer.byteLength ? Buffer.alloc(0) : buffer.subarray(at);
  }

  #frame(id: number, type: string, payload: Buffer): void {
    if (type === "H") {
      this.#hello?.(payload.toString("utf8").split(" "));
      this.#hello = undefined;
      return;
    }
    const pending = this.#pending.get(id);
    if (!pending) return;
    switch (type) {
      case "O":
        pending.onStdout(payload);
        return;
      case "E":
        pending.onStderr(payload);
        return;
      case "F":
        this.#pending.delete(id);
        pending.reject(new AgentStartFailure(`the sandbox agent could not start the command: ${payload.toString("utf8")}`));
        break;
      case "X": {
        const counter = (offset: number) => {
          const value = Number(payload.readBigInt64BE(offset));
          return value < 0 ? undefined : value;
        };
        const exit = { exitCode: payload.readInt32BE(0), oomBefore: counter(4), oomAfter: counter(12) };
        if (pending.killed) pending.resolve(exit);
        else {
          this.#pending.delete(id);
          pending.resolve(exit);
        }
        break;
      }
      case "k":
        this.#pending.delete(id);
        pending.killed?.(payload[0] === 1);
        break;
      case "c":
        this.#pending.delete(id);
        pending.claimed?.(payload.byteLength === 0 ? undefined : payload.toString("utf8"));
        break;
      case "d":
        pending.streaming?.data(payload);
        return;
      case "e":
        this.#pending.delete(id);
        pending.streaming?.end(payload[0] === 0);
        break;
      case "b":
      case "w":
      case "g":
      case "l":
      case "t":
      case "s": {
        if (type === "b" && payload[0] === 3 && payload.byteLength === 9) {
          // A stream starts: its 'd' frames and its 'e' follow.
          pending.streaming?.start(Number(payload.readBigUInt64BE(1)));
          return;
        }
        this.#pending.delete(id);
        const problem = payload.subarray(1).toString("utf8");
        if (payload[0] === 0) pending.answered?.({ content: new Uint8Array(payload.subarray(1)) });
        else if (payload[0] === 1 && AGENT_FILE_PROBLEMS.includes(problem)) pending.answered?.({ problem: problem as AgentFileProblem });
        else pending.answered?.(undefined);
        break;
      }
      default:
        return;
    }
    this.#idle();
  }
}

function noop(): void {}
