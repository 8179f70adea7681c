#!/usr/bin/env bash
# Run the deepagents sandbox demo (apps/demo) from a fresh clone, in one command:
#
#   bash scripts/demo.sh
#
# 1. installs pnpm if missing (npm i -g pnpm@10)
# 2. installs dependencies if node_modules is missing (pnpm install --frozen-lockfile)
# 3. starts a Docker engine if none answers (scripts/start-docker-engine.sh)
# 4. makes sure a python image exists: sandbox-python:bookworm or python:3.12-slim
#    present, else pulls python:3.12-slim, else builds the offline image
#    (scripts/build-offline-images.sh --only python)
# 5. builds the packages the demo needs (turbo, --filter @sandbox/demo...)
# 6. runs the demo (its exit code is this script's: 0 done, 1 failed, 130 interrupted)
#
# Everything the demo reads passes through: SANDBOX_PROVIDER (local-docker |
# modal), SANDBOX_IMAGE, MODAL_TOKEN_ID / MODAL_TOKEN_SECRET, MODAL_SERVER_URL,
# ANTHROPIC_API_KEY, DEMO_MODEL, DEMO_SCRIPTED_DELAY_MS, DEMO_DEBUG.
# With SANDBOX_PROVIDER=modal, steps 3 and 4 are skipped: Modal (or the
# emulator you started) provides the sandboxes.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OFFLINE_IMAGE=sandbox-python:bookworm
PUBLIC_IMAGE=python:3.12-slim
PROVIDER=${SANDBOX_PROVIDER:-local-docker}

say() { echo "[demo] $*"; }
# One sentence: what went wrong and what to do.
fail() {
  echo "[demo] error: $*" >&2
  exit 1
}
image_present() { docker image inspect "$1" >/dev/null 2>&1; }

start=$SECONDS

if ! command -v pnpm >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || fail "neither pnpm nor npm is installed: install Node.js 20 or newer (it brings npm), then run bash scripts/demo.sh again."
  say "installing pnpm (npm i -g pnpm@10)"
  npm i -g pnpm@10 >/dev/null || fail "could not install pnpm with npm: check that the npm registry is reachable, or install pnpm 10 yourself, then run again."
fi

if [[ ! -d node_modules || ! -d apps/demo/node_modules ]]; then
  say "installing dependencies (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile </dev/null || fail "pnpm install failed (see above): check that the npm registry is reachable, then run bash scripts/demo.sh again."
fi

if [[ $PROVIDER == local-docker ]]; then
  if ! bash scripts/start-docker-engine.sh </dev/null; then
    fail "no Docker engine could be started (see above and /var/log/dockerd.log): start one yourself or point DOCKER_HOST at a running engine, then run again."
  fi

  if [[ -n ${SANDBOX_IMAGE:-} ]]; then
    if ! image_present "$SANDBOX_IMAGE"; then
      say "pulling $SANDBOX_IMAGE (SANDBOX_IMAGE)"
      docker pull "$SANDBOX_IMAGE" || fail "SANDBOX_IMAGE=$SANDBOX_IMAGE is not in the engine and could not be pulled: pull or build it, or unset SANDBOX_IMAGE to use the python image."
    fi
  elif ! image_present "$OFFLINE_IMAGE" && ! image_present "$PUBLIC_IMAGE"; then
    say "no python image yet: pulling $PUBLIC_IMAGE"
    if ! docker pull "$PUBLIC_IMAGE"; then
      say "no registry reachable: building $OFFLINE_IMAGE offline instead (about a minute)"
      bash scripts/build-offline-images.sh --only python </dev/null ||
        fail "could not pull $PUBLIC_IMAGE nor build $OFFLINE_IMAGE (see above): fix the network or the Debian mirror, or set SANDBOX_IMAGE to a python image the engine has."
    fi
  fi
fi

say "building the packages the demo needs (turbo run build --filter @sandbox/demo...)"
pnpm turbo run build --filter '@sandbox/demo...' --output-logs=errors-only </dev/null ||
  fail "building the packages failed (see above): run pnpm install, then bash scripts/demo.sh again, and report the error if it persists."

say "ready after $((SECONDS - start)) s; running the demo"
echo
# Same as `pnpm --filter @sandbox/demo start`, but exec'd so Ctrl-C and SIGTERM
# reach the demo itself (pnpm does not forward SIGTERM), which then closes the
# sandbox before exiting.
cd apps/demo
exec node --import tsx src/main.ts
