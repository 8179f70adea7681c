#!/usr/bin/env bash
# Consumer test: the published packages as a user's own project sees them.
#
# Packs every publishable package (`pnpm pack`, so workspace:^ becomes a real
# version range), then, in a scratch npm project outside the repository, once
# with the LOWEST and once with the NEWEST deepagents of the declared peer
# range (npm installs deepagents' LangChain peers itself, as for a user):
#   - npm install of the tarballs (npm ls clean, one copy of deepagents)
#   - tsc --noEmit over tests/consumer/*.ts and *.cts (ESM and CommonJS typing,
#     typical @langchain/modal usage with only the import changed)
#   - require() of every package from a CommonJS file
#   - a real local-docker sandbox: execute, upload/download, close, nothing left
# Needs a Docker engine and the image sandbox-busybox:latest
# (scripts/start-docker-engine.sh, scripts/build-offline-images.sh) and the npm
# registry. Env: CONSUMER_DEEPAGENTS_VERSIONS="1.13.0 1.14.1" to choose the
# rounds, CONSUMER_SKIP_BUILD=1 to use the existing dist/, CONSUMER_KEEP=1 to
# keep the scratch folder.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PACKAGES=(core docker-engine local-docker modal modal-emulator)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-consumer.XXXXXX")
START=$SECONDS
PASSED=0
FAILED=0

declare -A INSTALL_PID=()
finish() {
  local pid
  for pid in "${INSTALL_PID[@]}"; do kill "$pid" 2>/dev/null; done
  if [[ -n ${CONSUMER_KEEP:-} ]]; then echo "[consumer] scratch folder kept: $WORK"; else rm -rf "$WORK"; fi
  echo "[consumer] done in $((SECONDS - START)) s"
  echo "consumer: $PASSED passed, $FAILED failed"
}
trap finish EXIT

say() { echo "[consumer +$((SECONDS - START))s] $*"; }
# check NAME COMMAND...: runs COMMAND, its output in a log shown only on failure.
check() {
  local name=$1 log
  shift
  log=$(mktemp "$WORK/log.XXXXXX")
  say "... $name"
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    sed 's/^/    /' "$log" | tail -n 12
    say "ok   $name"
  else
    FAILED=$((FAILED + 1))
    sed 's/^/    /' "$log" | tail -n 60
    say "FAIL $name"
  fi
}
fatal() {
  FAILED=$((FAILED + 1))
  say "FAIL $*"
  exit 1
}

if [[ -z ${CONSUMER_SKIP_BUILD:-} ]]; then
  say "building the packages (turbo; cached when nothing changed)"
  pnpm -w build >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fatal "pnpm build"; }
fi

say "packing ${PACKAGES[*]}"
mkdir -p "$WORK/tarballs"
for package in "${PACKAGES[@]}"; do
  (cd "packages/$package" && pnpm pack --pack-destination "$WORK/tarballs" >/dev/null) || fatal "pnpm pack in packages/$package"
done
for tarball in "$WORK"/tarballs/*.tgz; do
  tar -tzf "$tarball" | grep -x "package/LICENSE" >/dev/null || fatal "$(basename "$tarball") has no LICENSE"
done
ls -1 "$WORK/tarballs" | sed 's/^/    /'

RANGE=$(node -p 'require("./packages/core/package.json").peerDependencies.deepagents')
if [[ -n ${CONSUMER_DEEPAGENTS_VERSIONS:-} ]]; then
  read -r -a VERSIONS <<<"$CONSUMER_DEEPAGENTS_VERSIONS"
else
  LOWEST=$(node -e 'const m = /^>=\s*(\d+\.\d+\.\d+)/.exec(process.argv[1]); if (!m) process.exit(1); console.log(m[1])' "$RANGE") ||
    fatal "cannot read the lowest version from the deepagents peer range \"$RANGE\""
  NEWEST=$(npm view "deepagents@$RANGE" version --json 2>/dev/null | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const v = [JSON.parse(s)].flat(); const key = (x) => x.split(/[.-]/).slice(0, 3).map(Number); v.sort((a, b) => { const [p, q] = [key(a), key(b)]; return p[0] - q[0] || p[1] - q[1] || p[2] - q[2]; }); console.log(v[v.length - 1]); })') ||
    fatal "npm view deepagents@\"$RANGE\" (needs the npm registry)"
  VERSIONS=("$LOWEST" "$NEWEST")
fi
say "deepagents peer range \"$RANGE\": rounds with ${VERSIONS[*]}"

TYPESCRIPT=$(node -p 'require("typescript/package.json").version')
write_app() { # DIR DEEPAGENTS_VERSION
  node - "$1" "$2" "$WORK/tarballs" "$TYPESCRIPT" <<'NODE'
const fs = require("node:fs");
const path = require("node:path");
const [dir, deepagents, tarballs, typescript] = process.argv.slice(2);
const dependencies = { deepagents };
const overrides = {};
for (const file of fs.readdirSync(tarballs)) {
  const name = "@sandbox/" + file.replace(/^sandbox-/, "").replace(/-\d+\.\d+\.\d+.*\.tgz$/, "");
  dependencies[name] = "file:" + path.join(tarballs, file);
  overrides[name] = "$" + name; // every @sandbox/* in the tree is the packed one, never a registry package
}
const app = { name: "sandbox-consumer-app", version: "0.0.0", private: true, type: "module", dependencies, devDependencies: { typescript, "@types/node": "^20.19.0" }, overrides };
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(app, null, 2) + "\n");
NODE
}

one_copy_of_deepagents() { # VERSION
  local copies
  copies=$(find . -type f -path '*/node_modules/deepagents/package.json' | wc -l)
  echo "deepagents copies: $copies, version $(node -p 'require("deepagents/package.json").version')"
  [[ $copies -eq 1 && $(node -p 'require("deepagents/package.json").version') == "$1" ]]
}

packed_sandbox_packages() {
  local count
  count=$(find . -type f -path '*/node_modules/@sandbox/*/package.json' -not -path '*/node_modules/@sandbox/*/node_modules/*' | wc -l)
  echo "@sandbox packages installed: $count (expected ${#PACKAGES[@]})"
  npm ls --all >/dev/null && [[ $count -eq ${#PACKAGES[@]} ]]
}

# The installs of all rounds run side by side (they wait on the network more
# than on the CPU); the checks then run round by round.
for version in "${VERSIONS[@]}"; do
  app="$WORK/app-deepagents-$version"
  mkdir -p "$app"
  cp "$ROOT"/tests/consumer/*.ts "$ROOT"/tests/consumer/*.cts "$ROOT"/tests/consumer/*.mjs "$ROOT"/tests/consumer/*.cjs "$ROOT"/tests/consumer/tsconfig.json "$app"/
  # Typical @langchain/modal code with only the import changed: the same file
  # @sandbox/modal's own type tests compile, so the two cannot drift apart.
  cp "$ROOT"/packages/modal/test/langchain-modal-usage.test-d.ts "$app"/langchain-modal-usage.ts
  write_app "$app" "$version"
  say "npm install in $app (deepagents@$version, its LangChain peers, the tarballs), in the background"
  (cd "$app" && npm install --no-audit --no-fund --prefer-offline --loglevel=error) >"$app/install.log" 2>&1 &
  INSTALL_PID[$version]=$!
done
install_finished() { # VERSION: waits for that round's npm install, shows its log, returns its status
  local status=0
  wait "${INSTALL_PID[$1]}" || status=$?
  cat install.log
  return "$status"
}

for version in "${VERSIONS[@]}"; do
  say "=== round: deepagents@$version"
  cd "$WORK/app-deepagents-$version" || fatal "no app folder for $version"
  check "npm install (deepagents@$version + its LangChain peers + the tarballs)" install_finished "$version"
  check "npm ls is clean and every @sandbox package is the packed one" packed_sandbox_packages
  check "one copy of deepagents, at $version" one_copy_of_deepagents "$version"
  check "tsc --noEmit (ESM + CommonJS typing, @langchain/modal usage)" npx --no-install tsc --noEmit -p tsconfig.json
  check "require() every package from CommonJS" node require-all.cjs
  check "local-docker sandbox smoke (execute, upload/download, file tools, close, nothing left)" node smoke.mjs
  cd "$ROOT" || exit 1
done

[[ $FAILED -eq 0 ]]
