/**
 * `@sandbox/core/host-tools`: what an adapter or a provider emulator runs on
 * the host (the kill-by-marker script, the owner identity of a process, the
 * secrets-file parser) without loading deepagents or LangChain. The root entry
 * re-exports all of them; this entry exists so the Docker engine layer and the
 * Modal emulator can use them with no LangChain in their import graph.
 */
export { EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT } from "./kill/kill-by-marker.js";
export { ENVIRONMENT_VARIABLE_NAME, parseSecretStore, type SecretStoreProblem, secretVariables } from "./options/secret-store.js";
export { currentOwner, type OwnerIdentity, ownerIsGone, processStart, type RecordedOwner } from "./owner/owner-identity.js";
