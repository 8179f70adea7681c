#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseSecretStore, secretVariables } from "@sandbox/core/host-tools";
import { startModalEmulator } from "./modal-emulator.js";

const USAGE = `Usage: modal-emulator [options]

An offline Modal (control plane + task command router of modal@0.11.1) backed
by the local Docker engine. Prints the URL and the environment to export.

Options:
  --port <n>            TCP port on 127.0.0.1 (default 0: a free port)
  --host <h>            127.0.0.1 (default) or localhost
  --token-id <id>       token id clients must send (default: generated)
  --token-secret <s>    token secret clients must send (default: generated)
  --secrets-file <f>    JSON file: { "secret-name": { "KEY": "value" } }
  --image-alias <a=b>   map registry tag a to local image b (repeatable;
                        a may end in :* to match every tag)
  --no-default-aliases  do not map alpine/python/debian/ubuntu/busybox tags
                        to sandbox-busybox:latest / sandbox-python:bookworm
  --gpu-available       pass GPU requests to Docker instead of refusing them
  --help                show this help
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "token-id": { type: "string" },
      "token-secret": { type: "string" },
      "secrets-file": { type: "string" },
      "image-alias": { type: "string", multiple: true, default: [] },
      "no-default-aliases": { type: "boolean", default: false },
      "gpu-available": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, got ${values.port}`);
  if (values.host !== "127.0.0.1" && values.host !== "localhost") {
    throw new Error("--host must be 127.0.0.1 or localhost: the SDK dials the router without TLS only for those");
  }
  const imageAliases: Record<string, string> = {};
  for (const alias of values["image-alias"] ?? []) {
    const separator = alias.indexOf("=");
    if (separator <= 0) throw new Error(`--image-alias expects tag=local-image, got ${alias}`);
    imageAliases[alias.slice(0, separator)] = alias.slice(separator + 1);
  }
  const secrets = values["secrets-file"] ? await readSecretsFile(values["secrets-file"]) : {};
  const tokenId = values["token-id"] ?? `ak-${randomBytes(12).toString("hex")}`;
  const tokenSecret = values["token-secret"] ?? `as-${randomBytes(24).toString("hex")}`;
  const emulator = await startModalEmulator({
    port,
    host: values.host,
    tokenId,
    tokenSecret,
    secrets,
    imageAliases,
    defaultImageAliases: !values["no-default-aliases"],
    gpuAvailable: values["gpu-available"] ?? false,
    onLog: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`modal-emulator listening on ${emulator.url}\n`);
  for (const [name, value] of Object.entries(emulator.environment)) {
    // A secret the caller chose is theirs already: never echo it into logs.
    const shown = name === "MODAL_TOKEN_SECRET" && values["token-secret"] !== undefined ? "<the value of --token-secret>" : value;
    process.stdout.write(`export ${name}=${shown}\n`);
  }
  process.stdout.write(`# Tunnel URLs (https://, every port kind) are signed by this emulator's CA; trust it in Node with:\n`);
  process.stdout.write(`#   export NODE_EXTRA_CA_CERTS=${emulator.tunnelCa.certificatePath}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`modal-emulator: ${signal}, removing its containers and volumes...\n`);
    emulator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`modal-emulator: cleanup failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/** Reads `{ "secret-name": { "VARIABLE": "value" } }`; errors name the file and the bad entry, never a value. */
async function readSecretsFile(path: string): Promise<Record<string, Record<string, string>>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`--secrets-file ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot be read"}`);
  }
  const store = parseSecretStore(text, path);
  if (!store.ok) throw new Error(`--secrets-file: ${store.problem}`);
  const secrets: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(store.secrets)) {
    const secret = secretVariables(store.secrets, name, path);
    if (!secret.ok) throw new Error(`--secrets-file: ${secret.problem}`);
    secrets[name] = secret.env;
  }
  return secrets;
}

main().catch((error: unknown) => {
  process.stderr.write(`modal-emulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
