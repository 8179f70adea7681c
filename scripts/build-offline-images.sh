#!/usr/bin/env bash
# Build the local container images the tests use, without any registry.
#
#   sandbox-busybox:latest   static busybox from Debian's busybox-static, plus the Debian tools
#                            for the applets Alpine's busybox has and Debian's lacks (printenv, pgrep, ...)
#   sandbox-python:bookworm  debootstrap --variant=minbase bookworm + python3, procps (~1 min)
#
# Both are made with `docker import` from a root directory built here, and
# carry the label dev.sandbox.offline-image=true.
#
# Idempotent: an image that already exists is skipped (fast), unless --force.
#
# Usage: scripts/build-offline-images.sh [--force] [--only busybox|python]
#
# Needs a running engine (scripts/start-docker-engine.sh) and root. Optional
# environment: DEBIAN_MIRROR (overrides the mirror read from the apt sources),
# TMPDIR (where the temporary roots are built; default /var/tmp),
# OFFLINE_BUSYBOX_IMAGE (tag of the busybox image; default sandbox-busybox:latest).
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1 # no service restarts from apt hooks

BUSYBOX_IMAGE=${OFFLINE_BUSYBOX_IMAGE:-sandbox-busybox:latest}
PYTHON_IMAGE=sandbox-python:bookworm
SUITE=bookworm
LABEL_CHANGE='LABEL dev.sandbox.offline-image=true'
PATH_CHANGE='ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

say() { echo "[build-offline-images] $*"; }
die() { echo "[build-offline-images] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "$0"
}

force=0
only=""
while (($#)); do
  case $1 in
    --force) force=1 ;;
    --only)
      [[ $# -ge 2 ]] || die "--only needs an argument: busybox or python"
      only=$2
      shift
      ;;
    --only=*) only=${1#--only=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (usage: $0 [--force] [--only busybox|python])" ;;
  esac
  shift
done
case $only in
  "" | busybox | python) ;;
  *) die "--only takes busybox or python, not '$only'" ;;
esac
want() { [[ -z $only || $only == "$1" ]]; }

T_ALL=$(now)

command -v docker >/dev/null 2>&1 || die "no docker client on the PATH (run scripts/start-docker-engine.sh first)"
timeout 15 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (run scripts/start-docker-engine.sh first)"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Decide what to build before taking locks or installing anything, so the
# common case (everything already there) stays well under a second.
todo=()
plan() {
  local name image
  todo=()
  for name in busybox python; do
    want "$name" || continue
    case $name in
      busybox) image=$BUSYBOX_IMAGE ;;
      python) image=$PYTHON_IMAGE ;;
    esac
    if ((force == 0)) && image_exists "$image"; then
      say "$image already exists, skipping (use --force to rebuild)"
    else
      todo+=("$name")
    fi
  done
  if ((${#todo[@]} == 0)); then
    say "nothing to do ($(since "$T_ALL"))"
    exit 0
  fi
}
plan

[[ $(id -u) -eq 0 ]] || die "building the images needs root (apt-get, debootstrap, chroot)"

# One build at a time on this machine (CI and a developer, or two shells).
exec 9>/var/lock/build-offline-images.lock
if ! flock -n 9; then
  say "another build holds /var/lock/build-offline-images.lock; waiting"
  flock -w 900 9 || die "timed out waiting for /var/lock/build-offline-images.lock"
  # The other build may have made what we wanted (a --force request still rebuilds).
  plan
fi

# --- temp dir, cleaned on exit (unmounting anything debootstrap left mounted) --
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/offline-images.XXXXXX")
cleanup() {
  local rc=$? mp
  if [[ -n ${WORK:-} && -d $WORK ]]; then
    # Mount points below WORK, deepest first (mountinfo field 5, octal escapes).
    while IFS= read -r mp; do
      umount -l "$mp" 2>/dev/null || true
    done < <(awk -v w="$WORK" '{ p = $5; gsub(/\\040/, " ", p); if (index(p, w "/") == 1) print p }' /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system "$WORK" 2>/dev/null || true
  fi
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- host packages -------------------------------------------------------------
apt_update_if_stale() {
  # Skip `apt-get update` when the lists are fresh (e.g. start-docker-engine.sh
  # just ran it in the same CI job).
  local lists=/var/lib/apt/lists
  if [[ -n $(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -60 -print -quit 2>/dev/null) ]]; then
    return 0
  fi
  say "apt-get update"
  apt-get update -qq || die "apt-get update failed"
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

need_pkgs=()
for name in "${todo[@]}"; do
  case $name in
    busybox)
      pkg_installed busybox-static || need_pkgs+=(busybox-static)
      for pkg in coreutils procps psmisc util-linux; do pkg_installed "$pkg" || need_pkgs+=("$pkg"); done
      ;;
    python) command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap) ;;
  esac
done
if ((${#need_pkgs[@]})); then
  t=$(now)
  apt_update_if_stale
  say "apt-get install ${need_pkgs[*]}"
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
  say "installed ${need_pkgs[*]} in $(since "$t")"
fi

# --- helpers -------------------------------------------------------------------
# import_root ROOT IMAGE CMD: tar the root and `docker import` it with our changes.
import_root() {
  local root=$1 image=$2 cmd=$3 old_id new_id
  old_id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  # Device nodes, /proc and /sys contents are the engine's business.
  tar --numeric-owner -C "$root" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf - . |
    docker import \
      --change "$PATH_CHANGE" \
      --change 'WORKDIR /' \
      --change "$cmd" \
      --change "$LABEL_CHANGE" \
      --message "built by scripts/build-offline-images.sh" \
      - "$image" >/dev/null
  new_id=$(docker image inspect --format '{{.Id}}' "$image")
  # A --force rebuild leaves the previous image untagged: drop it if unused.
  if [[ -n $old_id && $old_id != "$new_id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
}

image_size() {
  docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'
}

# verify IMAGE CMD...: run it; on failure remove the image so a rerun rebuilds.
verify() {
  local image=$1 out
  shift
  if ! out=$(docker run --rm --network none "$image" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    docker image rm "$image" >/dev/null 2>&1 || true
    die "verification of $image failed (image removed): $*"
  fi
  printf '%s\n' "$out" | sed 's/^/    | /'
}

# --- sandbox-busybox:latest ----------------------------------------------------
# Applets of Alpine's busybox that Debian's busybox-static lacks, provided by
# Debian packages (coreutils, procps, psmisc, util-linux) as real programs.
ALPINE_EXTRA_TOOLS=(printenv nohup pgrep pkill pwdx pmap install split sum cksum comm nice tsort base32 pstree fuser flock mountpoint)

# copy_with_libs ROOT PATH: the binary at the same path under ROOT, plus every
# shared library ldd names (dereferenced), so it runs in the image.
copy_with_libs() {
  local root=$1 path=$2 lib
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
  while IFS= read -r lib; do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$path" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
}

add_alpine_extras() {
  local root=$1 tool path added=()
  for tool in "${ALPINE_EXTRA_TOOLS[@]}"; do
    # An applet of the same name wins (it is what Alpine runs).
    [[ -e $root/bin/$tool ]] && continue
    path=""
    for candidate in "/usr/bin/$tool" "/bin/$tool"; do
      # Packages register either path (merged /usr); dpkg -S proves it is Debian's.
      if [[ -x $candidate ]] && dpkg -S "$candidate" >/dev/null 2>&1; then path=$candidate; break; fi
    done
    [[ -n $path ]] || die "'$tool' (for the Alpine applet set) is not installed from a Debian package on this machine"
    copy_with_libs "$root" "$path"
    added+=("$tool")
  done
  # busybox's `hd` applet is exactly `hexdump -C`.
  printf '#!/bin/sh\nexec hexdump -C "$@"\n' >"$root/usr/bin/hd"
  chmod 0755 "$root/usr/bin/hd"
  say "added Alpine applets as Debian tools: ${added[*]} hd"
}

build_busybox() {
  local t root bb applet path n=0
  t=$(now)
  say "building $BUSYBOX_IMAGE from busybox-static"
  bb=$(dpkg -L busybox-static | grep -m 1 -E '/s?bin/busybox$' || true)
  [[ -n $bb && -x $bb ]] || die "busybox-static is installed but its /bin/busybox was not found"

  root=$WORK/busybox-root
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,home,workspace,tmp,proc,sys,dev,var/tmp}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  install -m 0755 "$bb" "$root/bin/busybox"

  # One link per applet in /bin (on every PATH), plus one at busybox's own
  # install location when that differs (/usr/bin/env for shebangs, /sbin/...).
  while IFS= read -r applet; do
    [[ -n $applet && $applet != busybox ]] || continue
    ln -s busybox "$root/bin/$applet"
    n=$((n + 1))
  done < <("$root/bin/busybox" --list)
  while IFS= read -r path; do
    applet=${path##*/}
    [[ $path == */* && $applet != busybox ]] || continue
    [[ -e $root/$path || -L $root/$path ]] && continue
    ln -s /bin/busybox "$root/$path"
  done < <("$root/bin/busybox" --list-full)

  # Alpine's busybox carries everyday applets Debian's build leaves out
  # (printenv, pgrep, nohup, ...). Add the real Debian tools of those names,
  # with the shared libraries they load, from this (Debian) machine.
  add_alpine_extras "$root"

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
  : >"$root/etc/hosts"
  chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/hosts"

  import_root "$root" "$BUSYBOX_IMAGE" 'CMD ["/bin/sh"]'
  say "imported $BUSYBOX_IMAGE ($n applets, $(image_size "$BUSYBOX_IMAGE")); verifying"
  verify "$BUSYBOX_IMAGE" sh -c 'echo ok && ps && id && FOO=bar printenv FOO && pgrep -x sh >/dev/null && nohup true 2>/dev/null && echo alpine extras ok'
  say "$BUSYBOX_IMAGE ready in $(since "$t")"
}

# --- sandbox-python:bookworm ---------------------------------------------------
# The Debian mirror serving $SUITE, read from the machine's apt sources
# (one-line sources.list format and Deb822 *.sources).
debian_mirror() {
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local files=() f found=""
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
  done
  for f in "${files[@]}"; do
    if [[ $f == *.sources ]]; then
      # Deb822: blank-line separated stanzas; keep Types: deb, Enabled != no,
      # Suites containing the suite; print each URI.
      found=$(awk -v suite="$SUITE" '
        function flush() {
          if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*no[ \t]*$/ &&
              (" " suites " ") ~ ("[ \t]" suite "[ \t]")) {
            n = split(uris, u, /[ \t]+/)
            for (i = 1; i <= n; i++) if (u[i] != "") print u[i]
          }
          types = uris = suites = enabled = ""; last = ""
        }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (last == "uris") uris = uris " " $0; else if (last == "suites") suites = suites " " $0; next }
        {
          key = tolower($0); sub(/:.*/, "", key)
          val = $0; sub(/^[^:]*:[ \t]*/, "", val)
          last = key
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "enabled") enabled = tolower(val)
        }
        END { flush() }' "$f")
    else
      # One-line format: deb [options] URI SUITE COMPONENTS...
      found=$(awk -v suite="$SUITE" '
        /^[ \t]*deb[ \t]/ {
          line = $0
          sub(/^[ \t]*deb[ \t]+/, "", line)
          if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
          split(line, w, /[ \t]+/)
          if (w[2] == suite) print w[1]
        }' "$f")
    fi
    found=$(printf '%s\n' "$found" | grep -E '^(https?|file):' | head -n 1 || true)
    if [[ -n $found ]]; then
      echo "${found%/}"
      return
    fi
  done
  echo "http://deb.debian.org/debian"
}

build_python() {
  local t t1 root mirror log
  t=$(now)
  mirror=$(debian_mirror)
  root=$WORK/python-root
  log=$WORK/debootstrap.log
  say "building $PYTHON_IMAGE: debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
  t1=$(now)
  if ! debootstrap --variant=minbase --include=python3,procps "$SUITE" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $mirror)"
  fi
  say "debootstrap done in $(since "$t1")"

  # debootstrap unmounts what it mounted, but be sure before tarring.
  awk -v w="$root" '{ if (index($5, w "/") == 1) print $5 }' /proc/self/mountinfo | sort -r |
    while IFS= read -r mp; do umount -l "$mp" || true; done

  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  mkdir -p "$root/workspace"
  # Keep the image small: apt caches, lists and logs.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
    "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/* "$root"/debootstrap
  # The engine provides these at run time; do not bake in this machine's.
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"

  import_root "$root" "$PYTHON_IMAGE" 'CMD ["/bin/bash"]'
  say "imported $PYTHON_IMAGE ($(image_size "$PYTHON_IMAGE")); verifying"
  verify "$PYTHON_IMAGE" python --version
  say "$PYTHON_IMAGE ready in $(since "$t")"
}

for name in "${todo[@]}"; do
  "build_$name"
done
say "done in $(since "$T_ALL")"
