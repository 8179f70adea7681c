/** How long {@link fetchWhenServed} keeps trying, and how long it waits between tries. */
export interface FetchWhenServedOptions {
  timeoutMs: number;
  intervalMs: number;
}

/**
 * Fetches `url` until it answers 2xx and returns the body: a server started
 * in a sandbox takes a moment to listen. Each try gives up after 3 s; after
 * `timeoutMs` it throws with the last failure (its cause, when fetch has one).
 */
export async function fetchWhenServed(url: string, { timeoutMs, intervalMs }: FetchWhenServedOptions): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
      if (response.ok) return await response.text();
      last = new Error(`HTTP ${response.status}`);
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${url} never answered: ${String((last as { cause?: unknown })?.cause ?? last)}`);
}
