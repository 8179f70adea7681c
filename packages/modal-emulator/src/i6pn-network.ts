import { randomBytes } from "node:crypto";
import type { DockerEngine, EngineContainer } from "@sandbox/docker-engine";
import { Status } from "nice-grpc";
import { fail } from "./grpc-errors.js";

/** The name a sandbox reaches its own i6pn address by, as Modal documents it. */
export const I6PN_HOSTNAME = "i6pn.modal.local";

/**
 * Modal's private IPv6 network between sandboxes (`i6pn: true`), as one
 * Docker network with IPv6 per emulator (Modal: per workspace): a random
 * unique-local /64 (`fdXX:...::/64`), internal (no gateway out, so it only
 * joins sandboxes). A sandbox created with `i6pn` joins it besides its
 * usual network, with the next address of the subnet, and
 * `i6pn.modal.local` names that address inside the sandbox (`/etc/hosts`).
 * Sandboxes without `i6pn` have no address on it and no route to it. The
 * network is made on first use and removed when the emulator stops.
 */
export class I6pnNetwork {
  readonly #engine: DockerEngine;
  readonly #labels: Record<string, string>;
  readonly #name: string;
  readonly #prefix = `fd${randomBytes(5)
    .toString("hex")
    .replace(/^(..)(....)(....)$/, "$1:$2:$3")}:${randomBytes(2).toString("hex")}`;
  #created: Promise<void> | undefined;
  #nextHost = 2;

  constructor(engine: DockerEngine, labels: Record<string, string>, instanceId: string) {
    this.#engine = engine;
    this.#labels = labels;
    this.#name = `modal-emulator-i6pn-${instanceId.toLowerCase()}`;
  }

  /** The network's IPv6 subnet. */
  get subnet(): string {
    return `${this.#prefix}::/64`;
  }

  /**
   * Joins the (running) container to the network and names its address
   * `i6pn.modal.local` inside it.
   * @returns the sandbox's i6pn address.
   * @throws ServerError FAILED_PRECONDITION when the engine cannot make IPv6 networks.
   */
  async join(container: EngineContainer): Promise<string> {
    await this.#ensure();
    const address = `${this.#prefix}::${(this.#nextHost++).toString(16)}`;
    await this.#engine.docker.getNetwork(this.#name).connect({ Container: container.id, EndpointConfig: { IPAMConfig: { IPv6Address: address } } });
    const named = await container.exec(["sh", "-c", 'printf "%s %s\\n" "$1" "$2" >> /etc/hosts', "sh", address, I6PN_HOSTNAME], { user: "root" });
    const { exitCode } = await named.done;
    if (exitCode !== 0)
      fail(
        Status.FAILED_PRECONDITION,
        `the sandbox joined the i6pn network at ${address}, but ${I6PN_HOSTNAME} could not be added to its /etc/hosts (the image needs sh)`,
      );
    return address;
  }

  /** Removes the network (after the sandboxes on it are gone). */
  async remove(): Promise<void> {
    const created = this.#created;
    this.#created = undefined;
    if (
      !(await created?.then(
        () => true,
        () => false,
      ))
    )
      return;
    // Containers being auto-removed may hold their endpoints a moment longer.
    for (let attempt = 0; attempt < 20; attempt++) {
      const removed = await this.#engine.docker
        .getNetwork(this.#name)
        .remove()
        .then(
          () => true,
          (error: { statusCode?: number }) => error.statusCode === 404,
        );
      if (removed) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  #ensure(): Promise<void> {
    this.#created ??= this.#engine.docker
      .createNetwork({
        Name: this.#name,
        Driver: "bridge",
        EnableIPv6: true,
        Internal: true,
        IPAM: { Config: [{ Subnet: this.subnet }] },
        Labels: this.#labels,
      })
      .then(
        () => undefined,
        (error: unknown) => {
          this.#created = undefined;
          fail(
            Status.FAILED_PRECONDITION,
            `modal-emulator emulates i6pn with a Docker network with IPv6, but the engine could not make one: ${(error as Error).message ?? String(error)}`,
          );
        },
      );
    return this.#created;
  }
}
