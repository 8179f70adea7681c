/**
 * `@sandbox/core/process-control`: the helpers that reach processes (the host's and
 * a sandbox's) without loading deepagents or LangChain. The root entry
 * re-exports all of them; this entry exists so the Docker engine layer and the
 * Modal emulator can use them with no LangChain in their import graph.
 */
export { EXEC_MARKER_VARIABLE, KILL_BY_MARKER_SCRIPT } from "./base/kill-by-marker.js";
export { currentOwner, ownerIsGone, processStart, type OwnerIdentity, type RecordedOwner } from "./leaks/owner-identity.js";
