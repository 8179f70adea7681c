import { modalConformance } from "./support/modal-conformance.js";

// Shard 1 of 3 of the whole core suite against ModalSandbox (see support/modal-conformance.ts).
await modalConformance({ index: 1, count: 3 });
