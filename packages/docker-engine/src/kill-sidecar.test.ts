import { PassThrough } from "node:stream";
import { KILL_BY_MARKER_SCRIPT } from "@sandbox/core";
import type Docker from "dockerode";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DockerEngine } from "./docker-engine.js";

/*
 * The kill strategy's error branches, on a stand-in for the engine's HTTP API
 * (the real engine cannot be made to stall on cue): the in-container killer
 * exec and the sidecar container each behave as scripted. The fork bomb case
 * of the conformance suite runs the same code against a real engine.
 */

type KillerBehaviour = "hangs" | { exitAfterMs: number; exitCode?: number };

interface Script {
  /** Each in-container killer exec, in order (the last one repeats). */
  killers: KillerBehaviour[];
  /** Each sidecar's exit code, in order (the last one repeats); `startGate` holds every sidecar's start. */
  sidecarExits: number[];
  startGate?: Promise<void>;
  /** How long the engine takes to answer an inspect of the container (a starved one: seconds). */
  inspectDelayMs?: number;
}

function engineScripted(script: Script) {
  const events: string[] = [];
  let killers = 0;
  let sidecars = 0;
  let commandStream: PassThrough | undefined;
  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const exec = async (options: { Cmd: string[] }) => {
    const isKiller = options.Cmd[2] === KILL_BY_MARKER_SCRIPT;
    const behaviour = isKiller ? script.killers[Math.min(killers++, script.killers.length - 1)]! : undefined;
    let ended = false;
    return {
      id: isKiller ? `killer-${killers}` : "command",
      start: async () => {
        if (!isKiller) {
          commandStream = new PassThrough();
          return commandStream;
        }
        if (behaviour === "hangs") return new Promise<never>(() => undefined);
        const stream = new PassThrough();
        void delay(behaviour!.exitAfterMs).then(() => {
          const exitCode = behaviour!.exitCode ?? 0;
          events.push(`killer exited ${exitCode}`);
          ended = true;
          if (exitCode === 0) commandStream?.end();
          stream.end();
        });
        stream.resume();
        return stream;
      },
      inspect: async () =>
        isKiller ? { Running: !ended, ExitCode: behaviour === "hangs" ? 0 : (behaviour!.exitCode ?? 0) } : { Running: false, ExitCode: 137 },
    };
  };
  const docker = {
    getContainer: (id: string) => ({
      id,
      inspect: async () => {
        events.push("inspected");
        await delay(script.inspectDelayMs ?? 0);
        return { Image: "sha256:image" };
      },
      exec,
      remove: async () => void events.push(`removed ${id}`),
    }),
    createContainer: async () => {
      const id = `sidecar-${++sidecars}`;
      const exit = script.sidecarExits[Math.min(sidecars - 1, script.sidecarExits.length - 1)]!;
      events.push(`created ${id}`);
      return {
        id,
        start: async () => {
          await script.startGate;
          events.push(`started ${id}`);
        },
        wait: async () => {
          if (exit === 0) commandStream?.end();
          return { StatusCode: exit };
        },
        remove: async () => void events.push(`removed ${id}`),
      };
    },
  };
  const engine = new DockerEngine({ docker: docker as unknown as Docker });
  return { container: engine.container("target"), events };
}

describe("killing an exec's tree (stand-in engine)", () => {
  afterEach(() => void vi.useRealTimers());

  it("confirms the kill when the in-container killer succeeds, without waiting for a sidecar that is slow to start; removing the container waits for the sidecar", async () => {
    let openGate: () => void = () => undefined;
    const startGate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const { container, events } = engineScripted({ killers: [{ exitAfterMs: 2_000 }], sidecarExits: [0], startGate });
    const command = await container.exec(["sh", "-c", "sleep 100"]);
    const started = Date.now();
    await command.kill();
    const tookMs = Date.now() - started;
    expect(tookMs, "the kill waited for the sidecar").toBeLessThan(3_500);
    expect(events).toContain("created sidecar-1");
    expect(events, "the sidecar was removed before it ever started").not.toContain("removed sidecar-1");
    let removed = false;
    const removal = container.remove().then(() => {
      removed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(removed, "remove() returned while a kill sidecar of the container still existed").toBe(false);
    openGate();
    await removal;
    expect(events.slice(-2)).toEqual(["started sidecar-1", "removed sidecar-1"]);
  });

  it("a killer exec stuck starting does not hold the kill: a sidecar that left survivors runs again and confirms it", async () => {
    const { container, events } = engineScripted({ killers: ["hangs"], sidecarExits: [1, 0] });
    const command = await container.exec(["sh", "-c", "sleep 100"]);
    const started = Date.now();
    await command.kill();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(events.filter((event) => event.startsWith("created"))).toEqual(["created sidecar-1", "created sidecar-2"]);
    await container.remove();
    expect(events).toContain("removed sidecar-2");
  });

  it("does not wait for an inspect the engine is slow to answer: the killer inside starts at once", async () => {
    const { container, events } = engineScripted({ killers: [{ exitAfterMs: 300 }], sidecarExits: [0], inspectDelayMs: 20_000 });
    const command = await container.exec(["sh", "-c", "sleep 100"]);
    const started = Date.now();
    await command.kill();
    expect(Date.now() - started, "the kill waited for the inspect").toBeLessThan(2_000);
    expect(events).toContain("killer exited 0");
  });

  it("calls the sidecar in as soon as the killer inside fails, without waiting out its delay", async () => {
    const { container, events } = engineScripted({ killers: [{ exitAfterMs: 10, exitCode: 126 }, "hangs"], sidecarExits: [0] });
    const command = await container.exec(["sh", "-c", "sleep 100"]);
    const started = Date.now();
    await command.kill();
    expect(Date.now() - started, "the sidecar waited for its 1.5 s delay").toBeLessThan(1_200);
    expect(events).toContain("created sidecar-1");
    await container.remove();
  });

  it("when nothing can kill the tree, kill() rejects by its deadline instead of waiting forever", async () => {
    vi.useFakeTimers();
    const { container } = engineScripted({ killers: ["hangs"], sidecarExits: [1] });
    const command = await container.exec(["sh", "-c", "sleep 100"]);
    let outcome: unknown = "pending";
    void command.kill().then(
      () => (outcome = "confirmed"),
      (error: Error) => (outcome = error),
    );
    await vi.advanceTimersByTimeAsync(11_000);
    expect(outcome, "gave up before the deadline").toBe("pending");
    await vi.advanceTimersByTimeAsync(3_000);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/survived kill -9/);
  });
});
