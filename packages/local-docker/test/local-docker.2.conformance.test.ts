import { agentConformance } from "./support/conformance-variants.js";

// Shard 2 of 2 of the whole core suite with the command agent, cold creates (see support/conformance-variants.ts).
await agentConformance({ index: 2, count: 2 });
