import { execConformance } from "./support/conformance-variants.js";

// Shard 1 of 2 of the whole core suite with commandChannel "exec", no pool (see support/conformance-variants.ts).
await execConformance({ index: 1, count: 2 });
