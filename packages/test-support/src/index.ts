/** `@sandbox/test-support`: what every package's tests share. Private; never published. */
export { dockerEngineAvailable, dockerEngineProblem, isCI, OFFLINE_BUSYBOX_IMAGE } from "./docker-engine.js";
export { type FetchWhenServedOptions, fetchWhenServed } from "./fetch-when-served.js";
export { type AdapterModule, expectReplayFromAnotherProcess } from "./reattach-replay.js";
export { trustCertificateAuthority } from "./trust-ca.js";
