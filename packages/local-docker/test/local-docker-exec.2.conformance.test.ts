import { execConformance } from "./support/conformance-variants.js";

// Shard 2 of 2 of the whole core suite with commandChannel "exec", no pool (see support/conformance-variants.ts).
await execConformance({ index: 2, count: 2 });
