import { describe, expect, it } from "vitest";
import type { SandboxCapability } from "../contract/capabilities.js";
import type { SandboxProcess } from "../contract/process-handle.js";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { SandboxError } from "../errors/sandbox-error.js";
import type { ConformanceTarget } from "./conformance-target.js";
import { kibibyteLines, leftoverProcesses, processesMatching } from "./execute-conformance.js";
import { assertSandboxError, expectSandboxError, outcomeOf } from "./expect-sandbox-error.js";
import { measureRetainedMemory } from "./host-memory.js";
import { shellQuote, sleepMarker, uniqueSleepSeconds } from "./sandbox-probes.js";
import { delay, SuiteContext, waitFor, withTimeout } from "./suite-context.js";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

/** Collects a byte stream into one array. */
async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  if (actual.byteLength !== expected.byteLength) return false;
  for (let index = 0; index < actual.byteLength; index += 1) if (actual[index] !== expected[index]) return false;
  return true;
}

/** A printf command writing exactly `bytes` (every byte as an octal escape). */
function printfBytes(bytes: Uint8Array): string {
  return `printf '${Array.from(bytes, (byte) => `\\${byte.toString(8).padStart(3, "0")}`).join("")}'`;
}

/** 4 KiB of known bytes: every byte value, including NUL and invalid UTF-8, in a fixed pattern. */
function replayBytes(): Uint8Array {
  const bytes = new Uint8Array(4096);
  for (let index = 0; index < bytes.length; index += 1) bytes[index] = (index * 7 + (index >> 8)) % 256;
  return bytes;
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

const DEFAULT_HTTP_SERVER = (port: number, directory: string) =>
  `cd ${shellQuote(directory)} && if command -v httpd >/dev/null 2>&1; then exec httpd -f -p ${port} -h ${shellQuote(directory)}; ` +
  `elif command -v busybox >/dev/null 2>&1; then exec busybox httpd -f -p ${port} -h ${shellQuote(directory)}; ` +
  `else exec python3 -m http.server ${port} --bind 0.0.0.0; fi`;

/**
 * Background processes and ports: `spawn` with streams, stdin, wait, a kill
 * of the whole tree and a per-process timeout; reattach from a fresh handle
 * with output replayed from a byte offset; bounded host memory; streams that
 * end with a typed error when the sandbox dies; PTY resize; a server reached
 * through its port URL. Each group is gated on its capability; where a
 * capability is missing the call is checked to fail loudly.
 */
export function processesConformance<S extends SandboxBackend>(target: ConformanceTarget<S>): void {
  describe(SuiteContext.title(target, "processes"), () => {
    const context = new SuiteContext(target, "processes");
    const { provider, sharedSandbox: shared, oneSandboxBudget: budget } = context;

    /** The loud-failure check for a capability this provider lacks. */
    const loudWhenMissing = (capability: SandboxCapability, call: string, invoke: (sandbox: S) => Promise<unknown>) => {
      if (context.capabilities[capability]) return;
      it(`${call} rejects with UNSUPPORTED_CAPABILITY naming the provider and the call (${provider} declares no ${capability} capability)`, {
        timeout: budget(),
      }, async () => {
        const sandbox = await shared();
        const outcome = await outcomeOf(() => invoke(sandbox));
        assertSandboxError(outcome, "UNSUPPORTED_CAPABILITY", provider, call);
        expect(outcome.message, "the error message must name the call").toContain(call.replace(/\(.*$/, ""));
      });
    };
    loudWhenMissing("processes", "spawn()", (sandbox) => sandbox.spawn("echo never"));
    loudWhenMissing("processReattach", "listProcesses()", (sandbox) => sandbox.listProcesses());
    loudWhenMissing("processReattach", "attachProcess()", (sandbox) => sandbox.attachProcess("conformance-no-such-process"));
    loudWhenMissing("pty", "spawn() with a pty", (sandbox) => sandbox.spawn("echo never", { pty: { cols: 80, rows: 24 } }));
    loudWhenMissing("ports", "portUrl()", (sandbox) => sandbox.portUrl(8080));
    loudWhenMissing("portsAtRuntime", "exposePort()", (sandbox) => sandbox.exposePort(8080));
    if (!context.capabilities.ports) {
      it(`creating with "ports" rejects with UNSUPPORTED_CAPABILITY (${provider} declares no ports capability)`, { timeout: budget() }, async () => {
        const outcome = await outcomeOf(() => context.create({ ports: [8080] }));
        assertSandboxError(outcome, "UNSUPPORTED_CAPABILITY", provider, "creating a sandbox with ports: [8080]");
        expect(outcome.message).toContain("ports");
      });
    }

    describe("spawn", () => {
      const gate = (title: string) => context.gated(title, "processes");
      const spawnCase = (title: string, extraMs: number, body: () => Promise<void>) => {
        const { title: gatedTitle, skip } = gate(title);
        it.skipIf(skip)(gatedTitle, { timeout: budget(extraMs) }, body);
      };

      spawnCase("returns a handle at once; stdout and stderr are exact bytes; wait() gives the exit code", 30_000, async () => {
        const sandbox = await shared();
        // The command waits for a file only the test creates after spawn()
        // returned: a spawn that waited for the end would never return.
        const gate = `${context.scratch}/spawn-gate-${Date.now()}`;
        const process = await withTimeout(
          sandbox.spawn(`printf 'out-1\\n'; printf 'err-1\\n' >&2; while [ ! -e ${shellQuote(gate)} ]; do sleep 0.1; done; printf 'out-2'; exit 7`),
          30_000,
          "spawn() of a command that waits for the test",
        );
        expect(typeof process.id === "string" && process.id.length > 0, "the handle needs a non-empty id").toBe(true);
        expect((await sandbox.execute(`touch ${shellQuote(gate)}`)).exitCode).toBe(0);
        const [stdout, stderr] = await Promise.all([collectBytes(process.stdout), process.stderr.readText()]);
        expect(new TextDecoder().decode(stdout)).toBe("out-1\nout-2");
        expect(stderr).toBe("err-1\n");
        expect(await process.wait()).toEqual({ exitCode: 7, reason: "exited" });
      });

      spawnCase("honours cwd and env", 30_000, async () => {
        const sandbox = await shared();
        const process = await sandbox.spawn("pwd; printf '%s\\n' \"$CONFORMANCE_PROCESS_ENV\"", {
          cwd: "/",
          env: { CONFORMANCE_PROCESS_ENV: "value with spaces ✓" },
        });
        expect(await process.stdout.readText()).toBe("/\nvalue with spaces ✓\n");
        expect((await process.wait()).exitCode).toBe(0);
      });

      spawnCase("rejects a cwd that cannot be entered with INVALID_ARGUMENT naming the cwd and why, as execute does, and starts nothing", 30_000, async () => {
        const sandbox = await shared();
        const cwd = `/nonexistent-conformance-cwd-${Date.now()}`;
        const marker = `${context.scratch}/spawned-in-a-bad-cwd-${Date.now()}`;
        const error = await expectSandboxError(
          () => sandbox.spawn(`touch ${shellQuote(marker)}`, { cwd }),
          "INVALID_ARGUMENT",
          provider,
          `spawn with the missing cwd ${cwd}`,
        );
        expect(error.message, "the error must name the cwd").toContain(JSON.stringify(cwd));
        expect(error.details).toMatchObject({ option: "cwd", cwd, reason: "not_found" });
        await delay(500);
        expect((await sandbox.execute(`test -e ${shellQuote(marker)} && echo ran || echo nothing`)).output.trim(), "nothing may start").toBe("nothing");
      });

      spawnCase("gives the command the caller's env.PATH, even one without the system directories", 30_000, async () => {
        const sandbox = await shared();
        // The process machinery's own tools (mkdir, setsid, dd) must not be looked up on it.
        const process = await sandbox.spawn('printf "%s\\n" "$PATH"', { env: { PATH: "/nope" } });
        expect(await process.stdout.readText()).toBe("/nope\n");
        expect((await process.wait()).exitCode).toBe(0);
      });

      spawnCase("stdin round trip: written bytes come back, end() gives end-of-file", 30_000, async () => {
        const sandbox = await shared();
        const process = await sandbox.spawn("cat; echo after-eof");
        await process.stdin.write("first line ✓\n");
        await process.stdin.write(encoder.encode("second\n"));
        await process.stdin.end();
        const output = await withTimeout(process.stdout.readText(), 20_000, "reading the output of cat after stdin.end()");
        expect(output).toBe("first line ✓\nsecond\nafter-eof\n");
        expect((await process.wait()).exitCode).toBe(0);
      });

      spawnCase("kill() ends the whole tree (children in the background and in a new session), confirmed; ps shows none", 30_000, async () => {
        const sandbox = await shared();
        const [child, detached, main] = [uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds()];
        const process = await sandbox.spawn(`sleep ${child} & (setsid sleep ${detached} || sleep ${detached}) & sleep ${main}`);
        const markers = [sleepMarker(child), sleepMarker(detached), sleepMarker(main)];
        const seen = await waitFor(
          async () => {
            for (const marker of markers) if ((await processesMatching(sandbox, marker)).length === 0) return false;
            return true;
          },
          10_000,
          200,
        );
        expect(seen, "the process tree never showed up in ps").toBe(true);
        const result = await process.kill();
        expect(result, "kill() must confirm that the tree is gone").toEqual({ killConfirmed: true });
        expect(await leftoverProcesses(sandbox, markers), "processes of the killed tree are still running").toEqual([]);
        expect(await withTimeout(process.wait(), 10_000, "wait() after kill()")).toEqual({ exitCode: null, reason: "killed" });
      });

      spawnCase("timeoutMs kills the tree and wait() reports the timeout", 30_000, async () => {
        const sandbox = await shared();
        const seconds = uniqueSleepSeconds();
        const process = await sandbox.spawn(`sleep ${seconds} & sleep ${seconds}`, { timeoutMs: 1_500 });
        const exit = await withTimeout(process.wait(), 15_000, "wait() of a process with timeoutMs 1500");
        expect(exit).toEqual({ exitCode: null, reason: "timeout" });
        expect(await leftoverProcesses(sandbox, [sleepMarker(seconds)]), "the timed-out tree is still running").toEqual([]);
      });

      spawnCase("invalid spawn options reject with INVALID_ARGUMENT and start nothing", 30_000, async () => {
        const sandbox = await shared();
        for (const [options, what] of [
          [{ cwd: "relative/dir" }, "a relative cwd"],
          [{ timeoutMs: -1 }, "a negative timeoutMs"],
          [{ env: { "NOT A NAME": "x" } }, "a bad env name"],
        ] as const) {
          assertSandboxError(await outcomeOf(() => sandbox.spawn("echo never", options as never)), "INVALID_ARGUMENT", provider, `spawn with ${what}`);
        }
        assertSandboxError(await outcomeOf(() => sandbox.spawn("")), "INVALID_ARGUMENT", provider, "spawn of an empty command");
      });

      spawnCase("a process writing 100 MiB streams through with bounded host memory", context.timeouts.transferMs, async () => {
        const sandbox = await shared();
        const total = 100 * MIB;
        const process = await sandbox.spawn(kibibyteLines(100 * 1024));
        let received = 0;
        let firstLineOk = true;
        const measured = await measureRetainedMemory(async () => {
          for await (const chunk of process.stdout) {
            if (received === 0) firstLineOk = chunk[0] === 0x78;
            received += chunk.byteLength;
          }
          return process.stdout.droppedBytes;
        });
        const dropped = measured.result;
        expect(firstLineOk, "the stream must start with the first byte the process wrote").toBe(true);
        expect(received + dropped, `received ${received} bytes and ${dropped} reported dropped: together they must be the 100 MiB written`).toBe(total);
        expect(
          measured.peakGrowthBytes,
          `host memory grew by ${(measured.peakGrowthBytes / MIB).toFixed(1)} MiB while streaming 100 MiB: output must not pile up on the host`,
        ).toBeLessThan(48 * MIB);
        expect((await process.wait()).exitCode).toBe(0);
      });
    });

    describe("reattach", () => {
      const reattachCase = (title: string, extraMs: number, body: () => Promise<void>) => {
        const reason = context.skipReason("processes") ?? context.skipReason("processReattach");
        it.skipIf(reason !== undefined)(reason === undefined ? title : `${title} (skipped: ${reason})`, { timeout: budget(extraMs) }, body);
      };
      /** A handle that did not spawn the process: from `fromId` where the target has it. */
      const freshHandle = async (sandbox: S): Promise<S> => {
        if (!target.fromId || !context.capabilities.reconnectById) return sandbox;
        const fresh = await target.fromId(sandbox.id);
        context.track(fresh);
        return fresh;
      };

      reattachCase("replays output exactly from offsets 0, middle and end on a fresh handle after the original is gone", 60_000, async () => {
        const sandbox = await shared();
        const expected = replayBytes();
        let spawned: SandboxProcess | undefined = await sandbox.spawn(`${printfBytes(expected)}; printf 'on-stderr' >&2`);
        const id = spawned.id;
        await spawned.wait();
        spawned = undefined;
        const fresh = await freshHandle(sandbox);
        for (const offset of [0, 1234, expected.byteLength]) {
          const attached = await fresh.attachProcess(id, { fromOffset: offset });
          const replayed = await withTimeout(collectBytes(attached.stdout), 20_000, `replay from offset ${offset}`);
          expect(
            sameBytes(replayed, expected.subarray(offset)),
            `replay from offset ${offset} returned ${replayed.byteLength} bytes that differ from the ${expected.byteLength - offset} written from there`,
          ).toBe(true);
          expect(attached.stdout.droppedBytes).toBe(0);
        }
        const stderr = await (await fresh.attachProcess(id, { fromOffset: 3 })).stderr.readText();
        expect(stderr, "stderr replays from its own offset").toBe("stderr");
      });

      reattachCase("a fresh handle replays what was written, then follows live output until the end", 60_000, async () => {
        const sandbox = await shared();
        // The process waits for a file the test creates, so no timing matters.
        const gate = `${context.scratch}/live-gate-${Date.now()}`;
        const process = await sandbox.spawn(`echo before; while [ ! -e ${shellQuote(gate)} ]; do sleep 0.1; done; echo after; exit 3`);
        const fresh = await freshHandle(sandbox);
        const listed = (await fresh.listProcesses()).find((info) => info.id === process.id);
        expect(listed, "listProcesses() on a fresh handle must include the running process").toMatchObject({ id: process.id, running: true, exitCode: null });
        const attached = await fresh.attachProcess(process.id);
        const iterator = attached.stdout.text()[Symbol.asyncIterator]();
        const first = await withTimeout(iterator.next(), 20_000, "the replayed output of a running process");
        expect(first.value, "replay from offset 0 must start with what was written before the attach").toBe("before\n");
        expect((await fresh.execute(`touch ${shellQuote(gate)}`)).exitCode).toBe(0);
        let rest = "";
        for (;;) {
          const next = await withTimeout(iterator.next(), 20_000, "live output after the replay");
          if (next.done) break;
          rest += next.value;
        }
        expect(rest, "live output after the replay, then the end of the stream").toBe("after\n");
        expect(await attached.wait()).toEqual({ exitCode: 3, reason: "exited" });
        const ended = (await fresh.listProcesses()).find((info) => info.id === process.id);
        expect(ended).toMatchObject({ running: false, exitCode: 3, stdout: { firstOffset: 0, endOffset: 13 } });
      });

      reattachCase("a kill from a fresh handle ends the tree", 30_000, async () => {
        const sandbox = await shared();
        const seconds = uniqueSleepSeconds();
        const process = await sandbox.spawn(`sleep ${seconds} & sleep ${seconds}`);
        await waitFor(async () => (await processesMatching(sandbox, sleepMarker(seconds))).length > 0, 10_000, 200);
        const fresh = await freshHandle(sandbox);
        expect(await (await fresh.attachProcess(process.id)).kill()).toEqual({ killConfirmed: true });
        expect(await leftoverProcesses(sandbox, [sleepMarker(seconds)])).toEqual([]);
        expect(await process.wait()).toEqual({ exitCode: null, reason: "killed" });
      });

      reattachCase("output beyond the retention is dropped visibly: droppedBytes equals the first retained offset", 120_000, async () => {
        const sandbox = await shared();
        const total = 40 * MIB;
        const process = await sandbox.spawn(kibibyteLines(40 * 1024));
        await withTimeout(process.wait(), 60_000, "a process writing 40 MiB");
        const info = (await sandbox.listProcesses()).find((entry) => entry.id === process.id);
        expect(info?.stdout.endOffset, "listProcesses() must report every byte written as the end offset").toBe(total);
        const attached = await sandbox.attachProcess(process.id, { fromOffset: 0 });
        let received = 0;
        for await (const chunk of attached.stdout) received += chunk.byteLength;
        expect(attached.stdout.droppedBytes, "the bytes skipped must be the ones before the first retained offset").toBe(info!.stdout.firstOffset);
        expect(received + attached.stdout.droppedBytes).toBe(total);
      });

      reattachCase("attachProcess with an unknown id or a negative offset rejects with INVALID_ARGUMENT", 30_000, async () => {
        const sandbox = await shared();
        assertSandboxError(
          await outcomeOf(() => sandbox.attachProcess("conformance-no-such-process")),
          "INVALID_ARGUMENT",
          provider,
          "attaching to an unknown process",
        );
        const process = await sandbox.spawn("true");
        assertSandboxError(
          await outcomeOf(() => sandbox.attachProcess(process.id, { fromOffset: -1 })),
          "INVALID_ARGUMENT",
          provider,
          "attaching from offset -1",
        );
      });
    });

    describe("a dead sandbox", () => {
      const reason = context.skipReason("processes") ?? (target.killFromOutside ? undefined : "the target has no killFromOutside(id) hook");
      const title = "streams and wait() end with SANDBOX_NOT_FOUND when the sandbox is killed from outside, never hang";
      it.skipIf(reason !== undefined)(reason === undefined ? title : `${title} (skipped: ${reason})`, { timeout: budget(60_000) }, async () => {
        const sandbox = await context.create();
        const process = await sandbox.spawn("while :; do echo tick; sleep 0.2; done");
        const iterator = process.stdout[Symbol.asyncIterator]();
        const first = await withTimeout(iterator.next(), 20_000, "the first chunk of a ticking process");
        expect(first.done).toBe(false);
        const waiting = outcomeOf(() => process.wait());
        await target.killFromOutside!(sandbox.id);
        const streamEnd = await withTimeout(
          outcomeOf(async () => {
            for (;;) if ((await iterator.next()).done) return;
          }),
          30_000,
          "reading stdout after the sandbox was killed (the stream hung)",
        );
        assertSandboxError(streamEnd, "SANDBOX_NOT_FOUND", provider, "reading stdout of a process whose sandbox was killed from outside");
        assertSandboxError(
          await withTimeout(waiting, 30_000, "wait() after the sandbox was killed"),
          "SANDBOX_NOT_FOUND",
          provider,
          "wait() on a process whose sandbox was killed",
        );
        expect(SandboxError.isInstance(streamEnd)).toBe(true);
      });
    });

    describe("pty", () => {
      const { title, skip } = context.gated("a terminal of the given size: stty size sees it, and sees resize()", "pty");
      it.skipIf(skip)(title, { timeout: budget(30_000) }, async () => {
        const sandbox = await shared();
        const process = await sandbox.spawn("stty size; read line; stty size", { pty: { cols: 100, rows: 30 } });
        expect(process.pty).toBe(true);
        let seen = "";
        const reading = (async () => {
          for await (const text of process.stdout.text()) seen += text;
        })();
        // Observed below; a failure before that must not become an unhandled rejection.
        reading.catch(() => undefined);
        expect(await waitFor(async () => seen.includes("30 100"), 10_000, 100), `stty size printed ${JSON.stringify(seen)} instead of "30 100"`).toBe(true);
        await process.resize(120, 40);
        await process.stdin.write("go\r");
        await withTimeout(reading, 20_000, "the terminal output");
        expect(seen).toContain("40 120");
        expect((await process.wait()).exitCode).toBe(0);
      });

      const badCwd = context.gated(
        "a terminal in a cwd that cannot be entered rejects with INVALID_ARGUMENT naming it, as without one, and starts nothing",
        "pty",
      );
      it.skipIf(badCwd.skip)(badCwd.title, { timeout: budget(30_000) }, async () => {
        const sandbox = await shared();
        const marker = `${context.scratch}/terminal-in-a-bad-cwd-${Date.now()}`;
        const aFile = `${context.scratch}/terminal-cwd-file-${Date.now()}`;
        expect((await sandbox.execute(`mkdir -p ${shellQuote(context.scratch)} && touch ${shellQuote(aFile)}`)).exitCode).toBe(0);
        for (const [cwd, reason] of [
          [`/nonexistent-conformance-cwd-${Date.now()}`, "not_found"],
          [aFile, "not_a_directory"],
        ] as const) {
          const error = await expectSandboxError(
            () => sandbox.spawn(`touch ${shellQuote(marker)}`, { cwd, pty: { cols: 80, rows: 24 } }),
            "INVALID_ARGUMENT",
            provider,
            `spawn with a pty in the cwd ${cwd}`,
          );
          expect(error.message, "the error must name the cwd").toContain(JSON.stringify(cwd));
          expect(error.details).toMatchObject({ option: "cwd", cwd, reason });
        }
        await delay(500);
        expect((await sandbox.execute(`test -e ${shellQuote(marker)} && echo ran || echo nothing`)).output.trim(), "nothing may start").toBe("nothing");
        // A cwd that can be entered still gets its terminal.
        const process = await sandbox.spawn("pwd", { cwd: "/tmp", pty: { cols: 80, rows: 24 } });
        expect((await process.stdout.readText()).trim()).toBe("/tmp");
        expect((await process.wait()).exitCode).toBe(0);
      });
    });

    describe("ports", () => {
      /** Serves a page on `port` with spawn and fetches it through `url` (loopback only); returns the server. */
      const serveAndFetch = async (sandbox: S, port: number, url: string): Promise<SandboxProcess> => {
        expect(url, "the port URL must be an http(s) URL").toMatch(/^https?:\/\//);
        expect(isLoopback(url), `the suite only connects to loopback addresses; ${url} is not one`).toBe(true);
        const directory = `/tmp/conformance-www-${port}-${Date.now()}`;
        const body = `conformance port ok ${Date.now()}`;
        const prepared = await sandbox.execute(`mkdir -p ${shellQuote(directory)} && printf '%s' ${shellQuote(body)} > ${shellQuote(directory)}/index.html`);
        expect(prepared.exitCode).toBe(0);
        const server = await sandbox.spawn((target.fixtures?.httpServerCommand ?? DEFAULT_HTTP_SERVER)(port, directory));
        let text = "";
        const reached = await waitFor(
          async () => {
            try {
              const response = await fetch(new URL("/index.html", url), { signal: AbortSignal.timeout(3_000) });
              text = await response.text();
              return response.ok;
            } catch {
              return false;
            }
          },
          20_000,
          300,
        );
        expect(reached, `${url} never answered with the page`).toBe(true);
        expect(text).toBe(body);
        return server;
      };

      const declared = context.gated("a server started with spawn is reachable through the URL of a port declared at create time", "ports");
      it.skipIf(declared.skip)(declared.title, { timeout: budget(60_000) }, async () => {
        const port = 8080;
        const sandbox = await context.create({ ports: [port] });
        const url = await sandbox.portUrl(port);
        expect(await sandbox.portUrls()).toEqual({ [port]: url });
        const server = await serveAndFetch(sandbox, port, url);
        assertSandboxError(await outcomeOf(() => sandbox.portUrl(port + 1)), "INVALID_ARGUMENT", provider, "portUrl() of a port that was not declared");
        expect((await server.kill()).killConfirmed).toBe(true);
      });

      const runtime = context.gated("exposePort() on a running sandbox gives a URL that reaches a server started with spawn", "portsAtRuntime");
      it.skipIf(runtime.skip)(runtime.title, { timeout: budget(60_000) }, async () => {
        const port = 8081;
        const sandbox = await shared();
        const url = await sandbox.exposePort(port);
        expect(await sandbox.portUrl(port), "portUrl() of an exposed port must give the same URL").toBe(url);
        const server = await serveAndFetch(sandbox, port, url);
        expect((await server.kill()).killConfirmed).toBe(true);
      });
    });
  });
}
