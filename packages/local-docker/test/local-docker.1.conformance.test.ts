import { agentConformance } from "./support/conformance-variants.js";

// Shard 1 of 2 of the whole core suite with the command agent, cold creates (see support/conformance-variants.ts).
await agentConformance({ index: 1, count: 2 });
