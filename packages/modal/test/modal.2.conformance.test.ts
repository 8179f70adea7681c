import { modalConformance } from "./support/modal-conformance.js";

// Shard 2 of 3 of the whole core suite against ModalSandbox (see support/modal-conformance.ts).
await modalConformance({ index: 2, count: 3 });
