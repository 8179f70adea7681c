import { poolConformance } from "./support/conformance-variants.js";

// Shard 2 of 2 of the whole core suite with a warm pool and the command agent (see support/conformance-variants.ts).
await poolConformance({ index: 2, count: 2 });
