import { describe, expectTypeOf, it } from "vitest";
import type { SandboxAdapter } from "../adapter/sandbox-adapter.js";
import type { ConformanceTarget } from "./conformance-target.js";
import type { runConformanceSuite } from "./run-conformance-suite.js";

describe("ConformanceTarget", () => {
  it("accepts a target typed with an adapter class", () => {
    expectTypeOf<ConformanceTarget<SandboxAdapter>>().toMatchTypeOf<Parameters<typeof runConformanceSuite<SandboxAdapter>>[0]>();
    expectTypeOf<ConformanceTarget<SandboxAdapter>>().toMatchTypeOf<ConformanceTarget>();
  });
});
