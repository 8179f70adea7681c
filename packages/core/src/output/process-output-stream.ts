import type { ProcessOutputStream } from "../contract/process-handle.js";

/** What an adapter's reader gets to report lost output while it reads. */
export interface OutputReadContext {
  /** Records bytes the provider no longer retained and that were skipped. */
  dropped(bytes: number): void;
}

/**
 * Builds a {@link ProcessOutputStream} from an adapter's reader: `open` is
 * called once per iteration and yields raw chunks (replay, then live) until
 * the process ended. Text helpers and the dropped-byte count come for free.
 */
export function createProcessOutputStream(name: "stdout" | "stderr", open: (context: OutputReadContext) => AsyncIterable<Uint8Array>): ProcessOutputStream {
  let droppedBytes = 0;
  const stream: ProcessOutputStream = {
    name,
    get droppedBytes() {
      return droppedBytes;
    },
    [Symbol.asyncIterator]() {
      droppedBytes = 0;
      return open({
        dropped: (bytes) => {
          droppedBytes += bytes;
        },
      })[Symbol.asyncIterator]();
    },
    async *text() {
      const decoder = new TextDecoder("utf-8", { fatal: false });
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        if (text.length > 0) yield text;
      }
      const tail = decoder.decode();
      if (tail.length > 0) yield tail;
    },
    async readText() {
      let text = "";
      for await (const piece of stream.text()) text += piece;
      return text;
    },
  };
  return stream;
}
