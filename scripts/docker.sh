#!/usr/bin/env bash
# Gives this host a working Docker engine with the Compose v2 plugin:
#   up    install Debian 12's docker.io (Engine 20.10) when dockerd is missing,
#         install the Compose v2 plugin taken from Debian 13's docker-compose
#         package (cached under /var/cache/kit), start dockerd in the
#         background when no engine answers, and print the versions.
#   down  stop the dockerd that "up" started (and only that one).
#   status  say whether an engine answers.
# Idempotent: a second "up" finds everything in place and changes nothing.
# Needs root. Whichever `docker` CLI comes first on PATH is used;
# a newer CLI (for example 28.x in /usr/local/bin) negotiates the API version
# down to the engine's.
set -euo pipefail

CACHE_DIR=${KIT_CACHE_DIR:-/var/cache/kit}
PLUGIN_DIR=/usr/libexec/docker/cli-plugins
PIDFILE=/run/kit-dockerd.pid
LOGFILE=/var/log/kit-dockerd.log
MIRROR=${KIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PLUGIN_SUITE=trixie # Debian 13: docker-compose is Compose v2; docker-buildx
WAIT_SECONDS=60

say() { printf '==> %s\n' "$*"; }
die() { printf 'docker.sh: %s\n' "$*" >&2; exit 1; }

# Scratch directories, removed however the script ends.
SCRATCH=()
cleanup() { [ ${#SCRATCH[@]} -eq 0 ] || rm -rf "${SCRATCH[@]}"; }
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages and starts dockerd"

# --- the engine ---------------------------------------------------------------

ensure_engine() {
  if command -v dockerd >/dev/null; then
    say "Docker engine installed ($(dockerd --version))"
    return
  fi
  say "installing docker.io from Debian's archive"
  apt-get update -qq -o DPkg::Lock::Timeout=300
  # Recommends are left out on purpose: git and needrestart are not needed,
  # and needrestart would offer to restart the host's services.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    --no-install-recommends docker.io >/dev/null
  say "installed $(dockerd --version)"
}

# --- the Compose v2 plugin ----------------------------------------------------

plugin_works() { [ -x "$PLUGIN_DIR/$1" ] && "$PLUGIN_DIR/$1" version >/dev/null 2>&1; }

cached_deb() {
  # The newest .deb of package $1 already downloaded, if any.
  [ -d "$CACHE_DIR" ] || return 0
  find "$CACHE_DIR" -maxdepth 1 -name "${1}_*_amd64.deb" | sort -V | tail -n 1
}

download_deb() {
  # apt-get download package $1 from Debian 13 through a throw-away sources
  # list and a separate apt state/cache dir: the host's apt setup is unchanged.
  local tmp
  tmp=$(mktemp -d)
  SCRATCH+=("$tmp")
  mkdir -p "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/sources.list.d" \
    "$tmp/preferences.d" "$tmp/download"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $PLUGIN_SUITE main" \
    >"$tmp/sources.list"
  # apt downloads as the unprivileged _apt user: let it reach and write there.
  chmod 0755 "$tmp"
  chown _apt "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/download"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$tmp/sources.list"
    -o "Dir::Etc::SourceParts=$tmp/sources.list.d"
    -o "Dir::Etc::Preferences=$tmp/preferences"
    -o "Dir::Etc::PreferencesParts=$tmp/preferences.d"
    -o "Dir::State=$tmp/state"
    -o "Dir::Cache=$tmp/cache"
    -o DPkg::Lock::Timeout=300
    -o Acquire::Languages=none
  )
  say "fetching Debian $PLUGIN_SUITE's package index (throw-away apt state in $tmp)"
  apt-get "${apt_opts[@]}" update -qq
  say "downloading $1 from $PLUGIN_SUITE"
  (cd "$tmp/download" && apt-get "${apt_opts[@]}" download -qq "$1")
  mkdir -p "$CACHE_DIR"
  mv "$tmp"/download/"$1"_*.deb "$CACHE_DIR/"
}

ensure_plugin() {
  # ensure_plugin NAME PACKAGE: the CLI plugin docker-NAME, taken from Debian
  # 13's PACKAGE (a static binary) and placed in $PLUGIN_DIR.
  local name=docker-$1 package=$2 deb x bin
  if plugin_works "$name"; then
    say "$name plugin installed ($("$PLUGIN_DIR/$name" version | head -n 1))"
    return
  fi
  deb=$(cached_deb "$package")
  if [ -z "$deb" ]; then
    download_deb "$package"
    deb=$(cached_deb "$package")
    [ -n "$deb" ] || die "$package was not downloaded"
  else
    say "using cached $(basename "$deb")"
  fi
  x=$(mktemp -d)
  SCRATCH+=("$x")
  dpkg -x "$deb" "$x"
  bin=$(find "$x" -type f -name "$name" -perm -u+x | head -n 1)
  [ -n "$bin" ] || die "no $name binary inside $deb"
  install -D -m 0755 "$bin" "$PLUGIN_DIR/$name"
  plugin_works "$name" || die "$PLUGIN_DIR/$name does not run"
  say "installed $PLUGIN_DIR/$name ($("$PLUGIN_DIR/$name" version | head -n 1))"
}

# --- the daemon ---------------------------------------------------------------

engine_answers() { docker info >/dev/null 2>&1; }

our_dockerd_pid() {
  # The pid in our pidfile, if that process is still a dockerd.
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  echo "$pid"
}

start_engine() {
  if engine_answers; then
    say "Docker engine already answers"
    return
  fi
  say "starting dockerd in the background (log: $LOGFILE)"
  # setsid: its own session, so it outlives this shell and the terminal.
  # (A background job of a non-interactive shell is no group leader, so
  # setsid execs dockerd in place and $! is dockerd's pid.)
  setsid dockerd >>"$LOGFILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" | tee "$PIDFILE" >/dev/null
  local waited=0
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$LOGFILE" >&2
      die "dockerd exited during start-up (see $LOGFILE)"
    fi
    [ "$waited" -lt "$WAIT_SECONDS" ] || die "docker info did not answer within ${WAIT_SECONDS}s (see $LOGFILE)"
    sleep 1
    waited=$((waited + 1))
  done
  say "dockerd (pid $pid) answers after ${waited}s"
}

stop_engine() {
  local pid
  if ! pid=$(our_dockerd_pid); then
    rm -f "$PIDFILE"
    if engine_answers; then
      say "a Docker engine runs, but this script did not start it: left alone"
    else
      say "no dockerd started by this script is running"
    fi
    return
  fi
  say "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  # dockerd stops its containers first (10 s grace each, in parallel).
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "dockerd still running after 60s: sending SIGKILL"
    kill -KILL "$pid" || true
  fi
  rm -f "$PIDFILE"
  say "dockerd stopped"
}

show_versions() {
  say "versions (CLI: $(command -v docker))"
  echo "Docker client: $(docker version --format '{{.Client.Version}} (API {{.Client.APIVersion}})')"
  echo "Docker engine: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
  docker compose version
}

case "${1:-}" in
  up)
    ensure_engine
    # Compose v2, and buildx (community.docker's docker_image_build uses it).
    ensure_plugin compose docker-compose
    ensure_plugin buildx docker-buildx
    start_engine
    show_versions
    ;;
  down) stop_engine ;;
  status)
    if engine_answers; then show_versions; else echo "no Docker engine answers"; exit 1; fi
    ;;
  *) die "usage: scripts/docker.sh up | down | status" ;;
esac
