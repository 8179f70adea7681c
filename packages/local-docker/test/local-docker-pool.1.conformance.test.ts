import { poolConformance } from "./support/conformance-variants.js";

// Shard 1 of 2 of the whole core suite with a warm pool and the command agent (see support/conformance-variants.ts).
await poolConformance({ index: 1, count: 2 });
