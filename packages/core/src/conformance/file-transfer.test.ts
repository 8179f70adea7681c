import { describe, expect, it } from "vitest";
import type { SandboxBackend } from "../contract/sandbox-backend.js";
import { downloadFiles, uploadFiles } from "./file-transfer.js";

/** A backend whose batch calls answer with `results`, whatever they were given. */
const answering = (results: unknown) => ({ uploadFiles: async () => results, downloadFiles: async () => results }) as unknown as SandboxBackend;

describe("file-transfer: the suite's batch calls", () => {
  it("pass one result per entry through", async () => {
    const upload = [{ path: "/a", error: null }];
    expect(await uploadFiles(answering(upload), [["/a", new Uint8Array()]])).toBe(upload);
    const download = [{ path: "/a", content: new Uint8Array(), error: null }];
    expect(await downloadFiles(answering(download), ["/a"])).toBe(download);
  });

  it("fail naming the call and the count when the adapter returns another number of results", async () => {
    await expect(uploadFiles(answering([]), [["/a", new Uint8Array()]])).rejects.toThrow(
      "uploadFiles() of 1 files returned 0 results: one result per file is required",
    );
    await expect(downloadFiles(answering(undefined), ["/a", "/b"])).rejects.toThrow(
      "downloadFiles() of 2 paths returned undefined: one result per path is required",
    );
  });

  it("fail when the adapter has no batch method", async () => {
    await expect(uploadFiles({} as SandboxBackend, [])).rejects.toThrow("the adapter has no uploadFiles()");
  });
});
