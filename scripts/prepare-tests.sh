#!/usr/bin/env bash
# Makes a machine ready for `pnpm test`, which runs this first. On a fresh
# clone it does what the suites need, with visible progress:
#
#   1. installs the dependencies when node_modules is missing;
#   2. starts a Docker engine when none answers (scripts/start-docker-engine.sh,
#      which installs Debian's docker.io when dockerd is absent);
#   3. installs gcc and libc6-dev when no static C build works (the sandbox
#      agent of @sandbox/local-docker is built from C by `pnpm build`);
#   4. builds the local test images that are missing
#      (scripts/build-offline-images.sh: no registry needed).
#
# When a step cannot be done here (no root, no apt, no network to the package
# mirrors) it stops at once with one sentence naming the command to run,
# instead of letting a hundred test cases fail for a missing image.
#
# Each step is skipped when already done, so a prepared machine pays about one
# second. SANDBOX_SKIP_PREPARE=1 skips everything (for a DOCKER_HOST you manage).
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The images the Docker-backed suites create sandboxes from.
TEST_IMAGES=(sandbox-busybox:latest sandbox-python:bookworm)

say() { echo "[prepare-tests] $*"; }
stop() {
  echo "[prepare-tests] cannot run the tests yet: $*" >&2
  exit 1
}

if [[ ${SANDBOX_SKIP_PREPARE:-} == 1 ]]; then
  say "SANDBOX_SKIP_PREPARE=1: not checking the engine and images"
  exit 0
fi

start=$SECONDS

if [[ ! -d node_modules/.pnpm ]]; then
  say "installing dependencies (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile </dev/null || stop "pnpm install failed (see above); run 'pnpm install' once the npm registry is reachable."
fi

# The command agent of @sandbox/local-docker is a static C program built by
# `pnpm build`; without a compiler and a static libc the adapter falls back to
# docker exec, and the agent's tests skip (under CI they fail).
if ! printf 'int main(void){return 0;}\n' | gcc -static -x c -o /dev/null - >/dev/null 2>&1; then
  say "no C compiler with a static libc (for the sandbox agent): installing gcc and libc6-dev"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; } </dev/null >/dev/null ||
      say "apt-get could not install gcc and libc6-dev: the sandbox agent will not be built (run 'sudo apt-get install -y gcc libc6-dev')"
  else
    say "gcc with a static libc is missing: the sandbox agent will not be built (run 'sudo apt-get install -y gcc libc6-dev')"
  fi
fi

if ! { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }; then
  say "no Docker engine answers: starting one (scripts/start-docker-engine.sh)"
  bash scripts/start-docker-engine.sh </dev/null ||
    stop "no Docker engine could be started; run 'sudo bash scripts/start-docker-engine.sh' (or point DOCKER_HOST at a running engine), then 'pnpm test' again."
fi

missing=()
for image in "${TEST_IMAGES[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
done
if ((${#missing[@]} > 0)); then
  say "test images missing: ${missing[*]}; building them offline (scripts/build-offline-images.sh, about two minutes the first time)"
  bash scripts/build-offline-images.sh </dev/null ||
    stop "the test images ${missing[*]} could not be built; run 'sudo bash scripts/build-offline-images.sh' and read its error, then 'pnpm test' again."
  for image in "${missing[@]}"; do
    docker image inspect "$image" >/dev/null 2>&1 || stop "$image is still missing after the build; run 'bash scripts/build-offline-images.sh --force'."
  done
fi

say "engine and images ready ($((SECONDS - start)) s)"
