import { describe, expect, it } from "vitest";
import { type ContainerFileProblem, fileOperationCodeOf, problemOfEngineError, problemOfText } from "./container-file-problems.js";
import { EngineError } from "./engine-errors.js";

describe("per-file problems from engine and OS error texts", () => {
  it.each<[unknown, ContainerFileProblem | null]>([
    [new EngineError("not-found", "/x: no such file or directory", { statusCode: 404 }), "not_found"],
    [new EngineError("not-found", "container abc not found", { statusCode: 404 }), null],
    [new EngineError("not-found", "container abc is not running", { statusCode: 409 }), null],
    [new Error("open /proc/x: permission denied"), "permission_denied"],
    [new Error("mkdir /ro/x: read-only file system"), "permission_denied"],
    [new Error("unlinkat /etc/hosts: device or resource busy"), "permission_denied"],
    [new Error("lstat /merged/srv/a/plain/child: not a directory"), "not_a_directory"],
    [new Error("evalSymlinksInScope: too many links in /merged/tmp/loop1"), "invalid"],
    [new Error("write /tmp: is a directory"), "is_directory"],
    [new Error("something else entirely"), null],
  ])("%s -> %s", (error, problem) => {
    expect(problemOfEngineError(error)).toBe(problem);
  });

  it.each<[string, ContainerFileProblem]>([
    ["sh: can't create /proc/newfile: nonexistent directory", "not_found"],
    ["cat: can't open '/proc/kmsg': Operation not permitted", "permission_denied"],
    ["sh: can't create /sys/x: Read-only file system", "permission_denied"],
    ["cat: read error: Is a directory", "is_directory"],
    ["/dev/shm/fifo: Not a regular file", "not_regular"],
    ["cat: /tmp/loop: Too many levels of symbolic links", "invalid"],
  ])("%s -> %s (busybox and coreutils words)", (text, problem) => {
    expect(problemOfText(text)).toBe(problem);
  });
});

describe("the contract's per-file codes", () => {
  it.each<[ContainerFileProblem, string, string]>([
    ["not_found", "file_not_found", "invalid_path"],
    ["not_a_directory", "file_not_found", "invalid_path"],
    ["is_directory", "is_directory", "is_directory"],
    ["permission_denied", "permission_denied", "permission_denied"],
    ["not_regular", "invalid_path", "invalid_path"],
    ["too_large", "invalid_path", "invalid_path"],
    ["timed_out", "invalid_path", "invalid_path"],
    ["invalid", "invalid_path", "invalid_path"],
  ])("%s: read %s, write %s", (problem, read, write) => {
    expect(fileOperationCodeOf(problem, "read")).toBe(read);
    expect(fileOperationCodeOf(problem, "write")).toBe(write);
  });
});
