import { modalConformance } from "./support/modal-conformance.js";

// Shard 3 of 3 of the whole core suite against ModalSandbox (see support/modal-conformance.ts).
await modalConformance({ index: 3, count: 3 });
