import { ModalClient } from "modal";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SharedModalClients } from "./client-pool.js";

// The pool without any network call: building a ModalClient makes none.

const noCheck = () => undefined;
const tokens = { tokenId: "ak-pool", tokenSecret: "as-pool-secret" };

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("SharedModalClients", () => {
  it("one client per token pair and MODAL_* environment", () => {
    vi.stubEnv("MODAL_SERVER_URL", "http://127.0.0.1:1");
    const pool = new SharedModalClients();
    const first = pool.acquire(tokens, noCheck);
    expect(pool.acquire({ ...tokens }, noCheck), "same credentials").toBe(first);
    expect(pool.acquire({ ...tokens, tokenSecret: "as-other" }, noCheck), "another secret").not.toBe(first);
    expect(pool.acquire({ ...tokens, tokenId: "ak-other" }, noCheck), "another token id").not.toBe(first);
    expect(pool.acquire(undefined, noCheck), "credentials from the environment").not.toBe(first);
    vi.stubEnv("MODAL_SERVER_URL", "http://127.0.0.1:2");
    const elsewhere = pool.acquire(tokens, noCheck);
    expect(elsewhere, "another server").not.toBe(first);
    expect(elsewhere.profile.serverUrl).toBe("http://127.0.0.1:2");
    vi.stubEnv("MODAL_ENVIRONMENT", "staging");
    expect(pool.acquire(tokens, noCheck), "another environment").not.toBe(elsewhere);
    expect(pool.size).toBe(6);
  });

  it("closes a client idleMs after its last release, not before, with a timer that does not hold the process", () => {
    vi.useFakeTimers();
    const close = vi.spyOn(ModalClient.prototype, "close");
    const pool = new SharedModalClients();
    pool.idleMs = 1_000;
    const client = pool.acquire(tokens, noCheck);
    pool.acquire(tokens, noCheck);
    pool.release(client);
    vi.advanceTimersByTime(5_000);
    expect(close, "a holder remains").not.toHaveBeenCalled();
    const unref = vi.spyOn(globalThis, "setTimeout");
    pool.release(client);
    expect(unref.mock.results[0]?.value.hasRef()).toBe(false);
    vi.advanceTimersByTime(999);
    expect(close).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(close).toHaveBeenCalledTimes(1);
    expect(pool.size).toBe(0);
    expect(pool.acquire(tokens, noCheck), "a new client after the close").not.toBe(client);
    pool.release(client);
    expect(close, "a release of a closed client does nothing").toHaveBeenCalledTimes(1);
  });

  it("an acquire during the idle time keeps the client open", () => {
    vi.useFakeTimers();
    const close = vi.spyOn(ModalClient.prototype, "close");
    const pool = new SharedModalClients();
    pool.idleMs = 1_000;
    const client = pool.acquire(tokens, noCheck);
    pool.release(client);
    vi.advanceTimersByTime(900);
    expect(pool.acquire(tokens, noCheck)).toBe(client);
    vi.advanceTimersByTime(5_000);
    expect(close).not.toHaveBeenCalled();
  });

  it("a client that fails its check or cannot be built is not kept; the error propagates", () => {
    const close = vi.spyOn(ModalClient.prototype, "close");
    const pool = new SharedModalClients();
    const refused = new Error("no credentials");
    expect(() =>
      pool.acquire(tokens, () => {
        throw refused;
      }),
    ).toThrow(refused);
    expect(close).toHaveBeenCalledTimes(1);
    expect(pool.size).toBe(0);
    // OAuth half configured: the SDK's constructor throws.
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    vi.stubEnv("MODAL_OAUTH_CLIENT_ID", "client-only");
    expect(() => pool.acquire(undefined, noCheck)).toThrow(/OAuth/);
    expect(pool.size).toBe(0);
  });
});
