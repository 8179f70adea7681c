import { describe, expect, it } from "vitest";
import { sandboxErrorThrownBy } from "../conformance/expect-sandbox-error.js";
import { allCapabilities, type SandboxCapabilities } from "../contract/capabilities.js";
import { MAX_ENV_ENTRY_BYTES, MAX_ENV_TOTAL_BYTES } from "../contract/defaults.js";
import type { SandboxError } from "../errors/sandbox-error.js";
import { MAX_SANDBOX_TIMEOUT_MS, SANDBOX_OPTION_KEYS, type SandboxOptions } from "./sandbox-options.js";
import { assertOptionsSupported, isAbsoluteSandboxPath, isValidImageReference, parseGpu, validateEnv, validateSandboxOptions } from "./validate-options.js";

const context = { provider: "modal" };

/** Asserts `options` are rejected with INVALID_OPTIONS naming `option`; returns the error. */
function rejects(options: unknown, option: string, extraKeys?: readonly string[]): SandboxError {
  const error = sandboxErrorThrownBy(() => validateSandboxOptions(options, extraKeys ? { ...context, extraKeys } : context));
  expect(error.code).toBe("INVALID_OPTIONS");
  expect(error.provider).toBe("modal");
  expect(error.details.option).toBe(option);
  expect(error.message).toContain(`invalid option "${option}"`);
  return error;
}

describe("validateSandboxOptions: documented shapes", () => {
  it("accepts undefined and an empty object", () => {
    expect(validateSandboxOptions(undefined, context)).toEqual({});
    expect(validateSandboxOptions({}, context)).toEqual({});
  });

  it("accepts every option of the documented table at once and returns the same options", () => {
    const options: SandboxOptions = {
      imageName: "python:3.12-slim",
      timeoutMs: 600_000,
      workdir: "/app",
      gpu: "T4",
      cpu: 0.5,
      memoryMiB: 512,
      volumes: { "/data": "my-data-volume", "/models": "my-models-volume" },
      secrets: ["my-api-keys", "database-credentials"],
      initialFiles: {
        "/app/main.py": 'print("Hello from Python!")',
        "/app/config.json": JSON.stringify({ name: "my-app" }, null, 2),
        "/app/blob.bin": new Uint8Array([0, 255, 1]),
      },
      env: { API_URL: "https://example.test", _PRIVATE: "", LEVEL2: "x" },
      blockNetwork: true,
      name: "my-sandbox",
    };
    expect(validateSandboxOptions(options, context)).toBe(options);
  });

  it.each([["T4"], ["L4"], ["A10G"], ["A100"], ["A100-80GB"], ["H100"], ["any"], ["A100:2"], ["h100:8"]])("accepts gpu %s", (gpu) => {
    expect(() => validateSandboxOptions({ gpu }, context)).not.toThrow();
  });

  it("accepts the lifetime bounds: one second and 24 hours", () => {
    expect(() => validateSandboxOptions({ timeoutMs: 1000 }, context)).not.toThrow();
    expect(MAX_SANDBOX_TIMEOUT_MS).toBe(24 * 60 * 60 * 1000);
    expect(() => validateSandboxOptions({ timeoutMs: MAX_SANDBOX_TIMEOUT_MS }, context)).not.toThrow();
  });

  it("accepts a Buffer as initial file content (it is a Uint8Array)", () => {
    expect(() => validateSandboxOptions({ initialFiles: { "/a.bin": Buffer.from([1, 2]) } }, context)).not.toThrow();
  });

  it("accepts fractional cpu and blockNetwork false", () => {
    expect(() => validateSandboxOptions({ cpu: 0.25, blockNetwork: false }, context)).not.toThrow();
  });

  it("accepts adapter-specific extraKeys, and only with them", () => {
    const options = { imageName: "alpine:3.21", auth: { tokenId: "id", tokenSecret: "secret" }, appName: "demo" };
    expect(validateSandboxOptions(options, { ...context, extraKeys: ["auth", "appName"] })).toBe(options);
    rejects(options, "auth");
  });

  it("knows exactly the thirteen common option keys", () => {
    expect([...SANDBOX_OPTION_KEYS].sort()).toEqual([
      "blockNetwork",
      "cpu",
      "env",
      "gpu",
      "imageName",
      "initialFiles",
      "memoryMiB",
      "name",
      "ports",
      "secrets",
      "timeoutMs",
      "volumes",
      "workdir",
    ]);
  });
});

describe("validateSandboxOptions: nonsense is rejected with INVALID_OPTIONS naming the option", () => {
  it.each([[null], ["python"], [42], [["imageName"]]])("options must be an object (%j)", (options) => {
    rejects(options, "options");
  });

  it("rejects an unknown key and lists the accepted ones", () => {
    const error = rejects({ imagename: "alpine:3.21" }, "imagename");
    expect(error.message).toContain(`accepted options are ${SANDBOX_OPTION_KEYS.join(", ")}`);
  });

  it("lists the adapter's extra keys among the accepted ones", () => {
    const error = rejects({ tokn: "x" }, "tokn", ["auth", "appName"]);
    expect(error.message).toContain("auth, appName");
  });

  it.each([[-1], [0], [-0.5], [Number.NaN], [Number.POSITIVE_INFINITY], ["2"], [2000]])("rejects cpu %s", (cpu) => {
    rejects({ cpu }, "cpu");
  });

  it.each([[5], [0], [-512], [512.5], ["512"]])("rejects memoryMiB %s", (memoryMiB) => {
    rejects({ memoryMiB }, "memoryMiB");
  });

  it.each([["app"], ["./app"], ["../app"], ["/app/../etc"], [""], ["/app\0x"], [42]])("rejects workdir %j", (workdir) => {
    rejects({ workdir }, "workdir");
  });

  it.each([[1500], [999], [1000.5], [0], [-1000], ["600000"], [Number.NaN]])("rejects timeoutMs %s", (timeoutMs) => {
    rejects({ timeoutMs }, "timeoutMs");
  });

  it("says why a lifetime that is not whole seconds is rejected", () => {
    expect(rejects({ timeoutMs: 1500 }, "timeoutMs").message).toContain("multiple of 1000");
  });

  it("rejects a lifetime over 24 hours", () => {
    expect(rejects({ timeoutMs: MAX_SANDBOX_TIMEOUT_MS + 1000 }, "timeoutMs").message).toContain("24 hours");
  });

  it.each([[""], ["A 100"], ["A100:"], ["A100:0"], ["A100:9"], ["A100:2:3"], [":2"], ["A100/2"], [42], [["T4"]]])("rejects gpu %j", (gpu) => {
    rejects({ gpu }, "gpu");
  });

  it.each([[{ "1ABC": "x" }], [{ "A-B": "x" }], [{ "": "x" }], [{ "A B": "x" }], [{ É: "x" }]])("rejects env name in %j", (env) => {
    rejects({ env }, "env");
  });

  it.each([[null], [["A=1"]], ["A=1"]])("rejects env that is not a map (%j)", (env) => {
    rejects({ env }, "env");
  });

  it("rejects a non-string env value without quoting the value (it may be a secret)", () => {
    const error = rejects({ env: { API_KEY: 987654321987 } }, "env");
    expect(error.message).toContain("API_KEY");
    expect(error.message).not.toContain("987654321987");
    const nested = rejects({ env: { TOKEN: { value: "sk-live-very-secret" } } }, "env");
    expect(nested.message).not.toContain("sk-live-very-secret");
    expect(JSON.stringify(nested.details)).not.toContain("sk-live-very-secret");
  });

  it("rejects an env variable Linux would refuse (over MAX_ENV_ENTRY_BYTES as NAME=value), naming it, not quoting it", () => {
    const value = `sk-secret-${"x".repeat(MAX_ENV_ENTRY_BYTES)}`;
    const error = rejects({ env: { BIG: value } }, "env");
    expect(error.message).toContain('"BIG"');
    expect(error.message).not.toContain("sk-secret");
    const atLimit = "x".repeat(MAX_ENV_ENTRY_BYTES - "BIG=".length);
    expect(() => validateSandboxOptions({ env: { BIG: atLimit } }, context)).not.toThrow();
  });

  it("rejects env over MAX_ENV_TOTAL_BYTES in all", () => {
    const env = Object.fromEntries(Array.from({ length: Math.ceil(MAX_ENV_TOTAL_BYTES / 100_000) + 1 }, (_, index) => [`PART_${index}`, "x".repeat(100_000)]));
    expect(rejects({ env }, "env").message).toContain("MAX_ENV_TOTAL_BYTES");
  });

  it("rejects an env value with a NUL byte without quoting it", () => {
    const error = rejects({ env: { TOKEN: "sk-live\0secret" } }, "env");
    expect(error.message).not.toContain("sk-live");
  });

  it.each([
    [{ data: "my-volume" }],
    [{ "/": "my-volume" }],
    [{ "/data/../etc": "my-volume" }],
    [{ "/data": "bad name!" }],
    [{ "/data": "" }],
    [{ "/data": 42 }],
    [["/data"]],
  ])("rejects volumes %j", (volumes) => {
    rejects({ volumes }, "volumes");
  });

  it.each([["my-secret"], [["bad name"]], [[42]], [[""]], [["-starts-with-dash"]]])("rejects secrets %j", (secrets) => {
    rejects({ secrets }, "secrets");
  });

  it.each([
    [{ "relative.txt": "x" }],
    [{ "./a.txt": "x" }],
    [{ "/dir/": "x" }],
    [{ "/a/../b": "x" }],
    [{ "/a.txt": 42 }],
    [{ "/a.txt": ["x"] }],
    [{ "/a.txt": null }],
    [{ "/a.txt": new ArrayBuffer(2) }],
    ["/a.txt"],
  ])("rejects initialFiles %j", (initialFiles) => {
    rejects({ initialFiles }, "initialFiles");
  });

  it.each([
    [""],
    [" "],
    ["python 3"],
    [42],
    ["Bad/Ref:UPPER"],
    ["Python:3"],
    ["alpine:"],
    ["alpine:-bad"],
    ["a//b"],
    ["alpine@sha256:short"],
    ["-alpine"],
    [`${"a".repeat(256)}:1`],
  ])("rejects imageName %j", (imageName) => {
    const error = rejects({ imageName }, "imageName");
    if (typeof imageName === "string" && imageName.trim() !== "" && !/\s/.test(imageName)) expect(error.message).toContain("not a valid image reference");
  });

  it.each([
    ["alpine"],
    ["alpine:3.21"],
    ["python:3.12-slim"],
    ["sandbox-busybox:latest"],
    ["library/ubuntu:24.04"],
    ["ghcr.io/org/some_image__x:v1.0_rc-1"],
    ["localhost:5000/my-app"],
    ["registry.example.com:443/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
    ["My.Registry/app:TAG"],
    ["[::1]:5000/app"],
  ])("accepts the image reference %j", (imageName) => {
    expect(isValidImageReference(imageName)).toBe(true);
    expect(validateSandboxOptions({ imageName }, { provider: "test" }).imageName).toBe(imageName);
  });

  it.each([["-bad"], ["has space"], ["a".repeat(64)], [""], ["a/b"], [42]])("rejects name %j", (name) => {
    rejects({ name }, "name");
  });

  it.each([["yes"], [1], [null]])("rejects blockNetwork %j", (blockNetwork) => {
    rejects({ blockNetwork }, "blockNetwork");
  });
});

describe("parseGpu", () => {
  it("parses a count: A100:2 is two A100", () => {
    expect(parseGpu("A100:2")).toEqual({ type: "A100", count: 2 });
  });

  it("defaults the count to 1 and upper-cases the type", () => {
    expect(parseGpu("t4")).toEqual({ type: "T4", count: 1 });
    expect(parseGpu("a100-80gb:4")).toEqual({ type: "A100-80GB", count: 4 });
    expect(parseGpu(" H100:8 ")).toEqual({ type: "H100", count: 8 });
  });

  it("rejects counts outside 1..8 with the provider in the message", () => {
    const error = sandboxErrorThrownBy(() => parseGpu("A100:9", { provider: "modal" }));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.provider).toBe("modal");
    expect(error.message).toMatch(/^invalid option "gpu": GPU count must be 1 to 8/);
  });
});

describe("validateEnv", () => {
  it("can raise INVALID_ARGUMENT for per-call env", () => {
    const error = sandboxErrorThrownBy(() => validateEnv({ "BAD-NAME": "x" }, { provider: "local-docker" }, "env", "INVALID_ARGUMENT"));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.details.option).toBe("env");
  });

  it("accepts an empty map", () => {
    expect(() => validateEnv({}, context, "env")).not.toThrow();
  });
});

describe("isAbsoluteSandboxPath", () => {
  it.each([["/"], ["/a"], ["/a/b c/ü.txt"], ["/a/./b"], ["/a..b/c"]])("accepts %j", (path) => {
    expect(isAbsoluteSandboxPath(path)).toBe(true);
  });

  it.each([["a"], [""], ["./a"], ["/a/../b"], ["/.."], ["/a\0"], [undefined], [42]])("rejects %j", (path) => {
    expect(isAbsoluteSandboxPath(path)).toBe(false);
  });
});

describe("validateSandboxOptions: ports", () => {
  it("accepts distinct whole port numbers 1-65535", () => {
    expect(() => validateSandboxOptions({ ports: [1, 8080, 65_535] }, context)).not.toThrow();
  });

  it.each([[[0]], [[65_536]], [[80.5]], [["80"]], [[80, 80]], ["80"]])("rejects ports %j with INVALID_OPTIONS naming ports", (ports) => {
    rejects({ ports }, "ports");
  });
});

describe("assertOptionsSupported", () => {
  const none: SandboxCapabilities = allCapabilities(false);

  it.each([
    ["gpu", { gpu: "T4" }, "gpu"],
    ["volumes", { volumes: { "/data": "v" } }, "volumes"],
    ["secrets", { secrets: ["s"] }, "secrets"],
    ["blockNetwork", { blockNetwork: true }, "blockNetwork"],
    ["cpu", { cpu: 1 }, "resourceLimits"],
    ["memoryMiB", { memoryMiB: 256 }, "resourceLimits"],
    ["name", { name: "box" }, "reconnectByName"],
    ["ports", { ports: [8080] }, "ports"],
  ] as const)("throws UNSUPPORTED_CAPABILITY for %s, naming provider and option", (option, options, capability) => {
    const error = sandboxErrorThrownBy(() => assertOptionsSupported(options as SandboxOptions, "local-docker", none));
    expect(error.code).toBe("UNSUPPORTED_CAPABILITY");
    expect(error.provider).toBe("local-docker");
    expect(error.message).toContain('"local-docker"');
    expect(error.message).toContain(`"${option}"`);
    expect(error.details).toEqual({ option, capability });
  });

  it("passes requests that ask for nothing: blockNetwork false, empty maps and lists", () => {
    expect(() => assertOptionsSupported({ blockNetwork: false, volumes: {}, secrets: [] }, "local-docker", none)).not.toThrow();
  });

  it("passes options that need no capability", () => {
    const options: SandboxOptions = { imageName: "alpine:3.21", timeoutMs: 60_000, workdir: "/w", env: { A: "1" }, initialFiles: { "/a": "x" } };
    expect(() => assertOptionsSupported(options, "local-docker", none)).not.toThrow();
  });

  it("passes everything when every capability is present", () => {
    const options: SandboxOptions = { gpu: "A100:2", volumes: { "/d": "v" }, secrets: ["s"], blockNetwork: true, cpu: 2, memoryMiB: 1024, name: "n" };
    expect(() => assertOptionsSupported(options, "modal", allCapabilities(true))).not.toThrow();
  });

  it("checks only the capability the option needs", () => {
    const onlyGpu: SandboxCapabilities = { ...none, gpu: true };
    expect(() => assertOptionsSupported({ gpu: "T4" }, "p", onlyGpu)).not.toThrow();
    expect(sandboxErrorThrownBy(() => assertOptionsSupported({ gpu: "T4", cpu: 1 }, "p", onlyGpu)).details.option).toBe("cpu");
  });
});
