/**
 * `@sandbox/local-docker/engine`, kept for compatibility: the engine layer now
 * lives in its own package, `@sandbox/docker-engine`, which loads no
 * LangChain code. Import from there in new code.
 */
export * from "@sandbox/docker-engine";
