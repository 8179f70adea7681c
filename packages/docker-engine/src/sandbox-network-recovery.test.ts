import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerEngine } from "./docker-engine.js";
import { EngineError } from "./engine-errors.js";
import { SANDBOX_NETWORKS } from "./sandbox-networks.js";

const NETWORK = SANDBOX_NETWORKS.isolated.name;

/** An error shaped as dockerode reports an engine answer. */
function engineAnswer(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } });
}

/**
 * A stand-in for the engine's HTTP API, just enough for createContainer and
 * the managed network: the network exists until `vanish()` removes it (as
 * another process removing it as unused would), and each container start
 * fails while the network is gone, with the engine's own 404.
 */
function engineWithVanishingNetwork(options: { vanishAfterCreate: number[]; failCreateWhileGone?: boolean }) {
  let networkExists = true;
  let creates = 0;
  const calls: string[] = [];
  const docker = {
    getNetwork: () => ({
      inspect: async () => {
        calls.push("network inspect");
        if (!networkExists) throw engineAnswer(404, `network ${NETWORK} not found`);
        return { Name: NETWORK, Containers: {} };
      },
    }),
    createNetwork: async () => {
      calls.push("network create");
      networkExists = true;
    },
    createContainer: async () => {
      creates += 1;
      const id = `container-${creates}`;
      calls.push(`create ${id}`);
      if (options.failCreateWhileGone && !networkExists) throw engineAnswer(404, `network ${NETWORK} not found`);
      if (options.vanishAfterCreate.includes(creates)) networkExists = false;
      return {
        id,
        start: async () => {
          calls.push(`start ${id}`);
          if (!networkExists) throw engineAnswer(404, `network ${NETWORK} not found`);
        },
        remove: async () => void calls.push(`remove ${id}`),
      };
    },
  };
  return { engine: new DockerEngine({ docker: docker as unknown as Docker }), calls, vanish: () => (networkExists = false) };
}

const spec = { image: "sandbox-busybox:latest", labels: {}, network: NETWORK };

describe("createContainer when the managed network vanishes after it was ensured", () => {
  it("between create and start: removes the container that cannot start, makes the network again, and starts a new one", async () => {
    const { engine, calls } = engineWithVanishingNetwork({ vanishAfterCreate: [1] });
    const container = await engine.createContainer(spec);
    expect(container.id).toBe("container-2");
    expect(calls).toEqual([
      "create container-1",
      "start container-1",
      "remove container-1",
      "network inspect",
      "network create",
      "create container-2",
      "start container-2",
    ]);
  });

  it("before create (a stale network removed since): makes it again and creates once more", async () => {
    const { engine, calls, vanish } = engineWithVanishingNetwork({ vanishAfterCreate: [], failCreateWhileGone: true });
    vanish();
    const container = await engine.createContainer(spec);
    expect(container.id).toBe("container-2");
    expect(calls).toEqual(["create container-1", "network inspect", "network create", "create container-2", "start container-2"]);
  });

  it("retries once only: a network that vanishes again is reported, with nothing left behind", async () => {
    const { engine, calls } = engineWithVanishingNetwork({ vanishAfterCreate: [1, 2] });
    const outcome = await engine.createContainer(spec).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).message).toContain(`network ${NETWORK} not found`);
    expect(calls.filter((call) => call.startsWith("create "))).toHaveLength(2);
    expect(calls.filter((call) => call.startsWith("remove "))).toEqual(["remove container-1", "remove container-2"]);
  });

  it("does not touch a network the caller named: its 404 is reported at once", async () => {
    const { engine, calls } = engineWithVanishingNetwork({ vanishAfterCreate: [1] });
    const outcome = await engine.createContainer({ ...spec, network: "callers-network" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(EngineError);
    expect(calls).toEqual(["create container-1", "start container-1", "remove container-1"]);
  });
});
