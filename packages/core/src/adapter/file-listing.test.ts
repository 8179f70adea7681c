import { describe, expect, it } from "vitest";
import { baseNameFilter, globPattern, globResultOf, lsResultOf, lsResultOfLines, MAX_GLOB_LISTING_LINES } from "./file-listing.js";

// The parsing and the "ask BaseSandbox instead" rules of file-listing.ts.
// Parity with deepagents' BaseSandbox on real BusyBox and GNU images is in
// packages/local-docker/test/file-listing-parity.integration.test.ts.

const ENTRY = "\u0001";
const TYPE = "\u0002";
const TRAILER = "\u0003";

describe("globPattern (deepagents' globToPathRegex)", () => {
  it.each([
    ["**/*.py", ["a.py", "x/y/a.py", ".h.py"], ["a.pyc", "x/a.txt"]],
    ["src/**", ["src/a", "src/x/y"], ["lib/a"]],
    ["*.py", ["a.py"], ["x/a.py"]],
    ["?1.md", ["a1.md", "é1.md"], ["ab1.md", "/1.md"]],
    ["[ab]?.md", ["a1.md", "b2.md"], ["c3.md"]],
    ["*.{py,md}", ["a.{py,md}"], ["a.py"]],
    ["a+b(c).txt", ["a+b(c).txt"], ["aab(c).txt"]],
  ])("%s", (pattern, matching, other) => {
    const regex = globPattern(pattern);
    for (const path of matching) expect(regex.test(path), path).toBe(true);
    for (const path of other) expect(regex.test(path), path).toBe(false);
  });
});

describe("baseNameFilter", () => {
  it("narrows by the last segment, looser than the pattern", () => {
    expect(baseNameFilter("**/*.py")).toBe("*.py");
    expect(baseNameFilter("src/**/test_?.py")).toBe("test_*.py");
    expect(baseNameFilter("ünï.py")).toBe("*n*.py");
    expect(baseNameFilter("README")).toBe("README");
  });

  it("does not narrow what it cannot say in find's terms", () => {
    for (const pattern of ["**", "src/**", "*", "**/*", "[ab].md", "a\\b", "x/", "**.py"]) expect(baseNameFilter(pattern), pattern).toBeUndefined();
  });
});

describe("listing answers", () => {
  const entry = (size: number, mtime: number, type: string, path: string) => `${ENTRY}${size}\t${mtime}\t${type}\t${path}`;
  const output = (...lines: string[]) => ({ output: `${lines.join("\n")}\n`, truncated: false });

  it("marks directories from GNU's type letter or BusyBox's type lines, symlinks to directories included", () => {
    const listed = lsResultOf(
      output(
        entry(4096, 1_700_000_000, "?", "/w/dir"),
        entry(7, 1_700_000_000, "?", "/w/link"),
        entry(5, 1_700_000_000, "?", "/w/tab\there"),
        entry(3, 1_700_000_000.5, "d", "/w/gnu-dir"),
        `${TYPE}directory\t/w/dir`,
        `${TYPE}directory\t/w/link`,
        `${TYPE}regular file\t/w/tab\there`,
        "find: /w/unreadable: Permission denied",
        TRAILER,
      ),
    );
    expect(listed?.files?.map((file) => [file.path, file.is_dir, file.size])).toEqual([
      ["/w/dir/", true, 4096],
      ["/w/link/", true, 7],
      ["/w/tab\there", false, 5],
      ["/w/gnu-dir/", true, 3],
    ]);
    expect(listed?.files?.[0]?.modified_at).toBe(new Date(1_700_000_000_000).toISOString());
  });

  it("reads an adapter's own listing (listDirectory) the same way", () => {
    expect(lsResultOfLines("4096\t1\td\t/w/sub\n5\t1\tf\t/w/tab\there\n")).toEqual({
      files: [
        { path: "/w/sub/", is_dir: true, size: 4096, modified_at: new Date(1000).toISOString() },
        { path: "/w/tab\there", is_dir: false, size: 5, modified_at: new Date(1000).toISOString() },
      ],
    });
    expect(lsResultOfLines("")).toEqual({ files: [] });
  });

  it("gives up (BaseSandbox answers) when the listing did not finish or was cut", () => {
    expect(lsResultOf(output(entry(1, 1, "f", "/w/a")))).toBeUndefined();
    expect(lsResultOf({ output: `${entry(1, 1, "f", "/w/a")}\n${TRAILER}\n`, truncated: true })).toBeUndefined();
    expect(globResultOf(output(entry(1, 1, "f", "/w/a")), "*", "/w", 1 << 20)).toBeUndefined();
  });

  it("gives up when BaseSandbox's listing would have hit its line cap or the output cap", () => {
    const lines = [entry(1, 1, "f", "/w/a.py")];
    expect(globResultOf(output(...lines, `${TRAILER}${MAX_GLOB_LISTING_LINES}\t100`), "*.py", "/w", 1 << 20)?.files).toHaveLength(1);
    expect(globResultOf(output(...lines, `${TRAILER}${MAX_GLOB_LISTING_LINES + 1}\t100`), "*.py", "/w", 1 << 20)).toBeUndefined();
    expect(globResultOf(output(...lines, `${TRAILER}10\t${1 << 20}`), "*.py", "/w", 1 << 20)).toBeUndefined();
  });

  it("matches paths relative to the root, with or without its trailing slash", () => {
    const listing = output(entry(1, 1, "f", "/w/a.py"), entry(1, 1, "f", "/w/sub/b.py"), `${TRAILER}2\t90`);
    for (const root of ["/w", "/w/"]) {
      expect(globResultOf(listing, "**/*.py", root, 1 << 20)).toEqual({
        files: [
          { path: "a.py", is_dir: false, size: 1, modified_at: new Date(1000).toISOString() },
          { path: "sub/b.py", is_dir: false, size: 1, modified_at: new Date(1000).toISOString() },
        ],
        truncated: false,
      });
    }
  });
});
