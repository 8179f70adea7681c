import { createHash } from "node:crypto";
import type { FileDownloadResponse, FileUploadResponse } from "deepagents";
import type { SandboxBackend } from "../contract/sandbox-backend.js";

/**
 * `uploadFiles` through the adapter. deepagents marks it optional, but the
 * contract requires it (`BaseSandbox.write` and `edit` go through it), so a
 * missing method is reported as the adapter's failure.
 */
export async function uploadFiles(sandbox: SandboxBackend, files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
  if (typeof sandbox.uploadFiles !== "function") throw new Error("the adapter has no uploadFiles(): the contract requires batch uploads");
  return oneResultPerEntry("uploadFiles()", files.length, "file", await sandbox.uploadFiles(files));
}

/** `downloadFiles` through the adapter; see {@link uploadFiles}. */
export async function downloadFiles(sandbox: SandboxBackend, paths: string[]): Promise<FileDownloadResponse[]> {
  if (typeof sandbox.downloadFiles !== "function") throw new Error("the adapter has no downloadFiles(): the contract requires batch downloads");
  return oneResultPerEntry("downloadFiles()", paths.length, "path", await sandbox.downloadFiles(paths));
}

/** Fails unless a batch call returned an array with one result per entry it was given. */
function oneResultPerEntry<Result>(call: string, entries: number, noun: "file" | "path", results: Result[]): Result[] {
  if (!Array.isArray(results) || results.length !== entries) {
    throw new Error(
      `${call} of ${entries} ${noun}s returned ${Array.isArray(results) ? `${results.length} results` : String(results)}: one result per ${noun} is required`,
    );
  }
  return results;
}

/** Uploads one file and fails with the per-file error when there is one. */
export async function uploadOne(sandbox: SandboxBackend, path: string, content: Uint8Array | string): Promise<void> {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const [result] = await uploadFiles(sandbox, [[path, bytes]]);
  if (result?.error) throw new Error(`uploading ${path} failed with ${result.error}`);
}

/** Downloads one file and fails with the per-file error when there is one. */
export async function downloadOne(sandbox: SandboxBackend, path: string): Promise<Uint8Array> {
  const [result] = await downloadFiles(sandbox, [path]);
  if (!result || result.error || !result.content) throw new Error(`downloading ${path} failed with ${result?.error ?? "no content"}`);
  return result.content;
}

/** Hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The 256 byte values 0..255, in order. */
export function allByteValues(): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, index) => index);
}

/** Whether two byte arrays are equal, without building strings of them. */
export function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(Buffer.from(right.buffer, right.byteOffset, right.byteLength));
}

/** The hash printed by `sha256sum FILE`, or `null` when the output has none. */
export function parseSha256sum(output: string): string | null {
  const match = /^([0-9a-f]{64})\b/m.exec(output.trim());
  return match ? match[1]! : null;
}
