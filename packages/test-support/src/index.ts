/** `@sandbox/test-support`: what every package's tests share. Private; never published. */
export { OFFLINE_BUSYBOX_IMAGE, dockerEngineAvailable, dockerEngineProblem, isCI } from "./docker-engine.js";
