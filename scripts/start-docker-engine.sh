#!/usr/bin/env bash
# Start a local Docker engine (Debian's docker.io) if none answers yet.
#
# Idempotent: when `docker info` already answers this exits 0 at once.
# Otherwise it installs docker.io if `dockerd` is missing, starts `dockerd`
# detached from the calling shell (log: /var/log/dockerd.log) and waits up to
# 60 s for `docker info`. Meant to run as root on a machine without systemd
# (developer machines and CI alike).
#
# Environment knobs (all optional):
#   DOCKERD_LOG           log file (default /var/log/dockerd.log)
#   DOCKERD_WAIT_SECONDS  how long to wait for the engine (default 60)
#   DOCKERD_EXTRA_ARGS    extra arguments for dockerd (word-split)
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1 # no service restarts from apt hooks

LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT="${DOCKERD_WAIT_SECONDS:-60}"
PIDFILE=/var/run/docker.pid

say() { echo "[start-docker-engine] $*"; }
die() { echo "[start-docker-engine] ERROR: $*" >&2; exit 1; }

engine_up() {
  command -v docker >/dev/null 2>&1 || return 1
  timeout 10 docker info >/dev/null 2>&1
}

alive() {
  # Running and not a zombie.
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

dockerd_running() {
  # A dockerd process (ours or anyone's) is alive: pid file first, then a scan.
  local pid
  if [[ -s $PIDFILE ]]; then
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == dockerd ]]; then
      return 0
    fi
  fi
  # A dockerd that just exited can linger as a zombie until its parent reaps
  # it: that one is not running (and must not stop a restart).
  for pid in $(pgrep -x dockerd 2>/dev/null); do
    alive "$pid" && return 0
  done
  return 1
}

if engine_up; then
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "the Docker engine is not answering and starting it needs root (run as root)"

# Serialise concurrent callers (e.g. CI and a test's global setup) so only one
# dockerd gets started. The lock is released when this script exits.
exec 9>/var/lock/start-docker-engine.lock
flock -w $((WAIT + 120)) 9 || die "could not take /var/lock/start-docker-engine.lock"
if engine_up; then
  exit 0
fi

start=$SECONDS

if ! command -v dockerd >/dev/null 2>&1; then
  say "dockerd not found: installing docker.io with apt-get"
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on the PATH"
  say "docker.io installed in $((SECONDS - start)) s"
fi
command -v docker >/dev/null 2>&1 || die "dockerd is installed but no docker client is on the PATH"

if dockerd_running; then
  say "a dockerd process already runs; waiting for it to answer"
  started_pid=""
else
  # A pid file left behind by a dockerd that was killed (e.g. when a previous
  # session ended) would make the new one refuse to start if its pid got reused.
  if [[ -e $PIDFILE ]]; then
    rm -f "$PIDFILE"
  fi
  mkdir -p "$(dirname "$LOG")"
  say "starting dockerd (log: $LOG)"
  # setsid: own session, so it survives the calling shell and its job control;
  # nohup + redirects: no terminal, and none of the caller's pipes held open.
  # shellcheck disable=SC2086
  # 9>&-: dockerd must not inherit (and so keep holding) the lock.
  setsid nohup dockerd ${DOCKERD_EXTRA_ARGS:-} </dev/null >>"$LOG" 2>&1 9>&- &
  started_pid=$!
  disown "$started_pid" 2>/dev/null || true
fi

deadline=$((SECONDS + WAIT))
while ((SECONDS < deadline)); do
  if engine_up; then
    say "engine answers after $((SECONDS - start)) s ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
  if [[ -n $started_pid ]] && ! alive "$started_pid" && ! dockerd_running; then
    tail -n 10 "$LOG" >&2 2>/dev/null || true
    die "dockerd exited right after start; see $LOG"
  fi
  sleep 0.5
done

tail -n 10 "$LOG" >&2 2>/dev/null || true
die "dockerd did not answer 'docker info' within ${WAIT} s; see $LOG"
