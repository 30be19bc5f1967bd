#!/usr/bin/env bash
# Installs (when missing) and starts the PostgreSQL and Redis servers that the
# app's test suite and benchmarks run against, on loopback only, and installs
# the headless Chromium (with chromedriver) that its browser tests drive:
#   PostgreSQL: the distribution's cluster, role/database "kit" (password "kit")
#   Redis:      a dedicated redis-server on 127.0.0.1:6380 (password "kit-test")
# Usage: scripts/services.sh up | down | status
# Idempotent: a second "up" finds everything running and changes nothing.
set -euo pipefail

REDIS_PORT=${KIT_TEST_REDIS_PORT:-6380}
REDIS_PASSWORD=${KIT_TEST_REDIS_PASSWORD:-kit-test}
REDIS_DIR=${KIT_TEST_REDIS_DIR:-/tmp/kit-test-redis}
PG_ROLE=kit
PG_PASSWORD=kit
PG_DB=kit

say() { printf '==> %s\n' "$*"; }
die() { printf 'services.sh: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: install postgresql and redis-server yourself, then re-run"
  SUDO=sudo
fi

apt_install() {
  say "installing $* (Debian packages)"
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=300
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v pg_lsclusters >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

pg_cluster() {
  # Prints "version name port status" of the first cluster.
  pg_lsclusters --no-header | awk 'NR==1 {print $1, $2, $3, $4}'
}

pg_psql() { $SUDO runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtAX "$@"; }

postgres_up() {
  local ver name port status
  read -r ver name port status < <(pg_cluster) || die "no PostgreSQL cluster found (pg_lsclusters is empty)"
  if [ "$status" != online ]; then
    say "starting PostgreSQL $ver/$name on port $port"
    $SUDO pg_ctlcluster "$ver" "$name" start
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
  done
  pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL on 127.0.0.1:$port did not become ready"
  if [ "$(pg_psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'")" != 1 ]; then
    say "creating PostgreSQL role $PG_ROLE"
    pg_psql -c "CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  fi
  if [ "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    say "creating PostgreSQL database $PG_DB"
    pg_psql -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
  fi
  echo "PostgreSQL: postgres://$PG_ROLE:***@127.0.0.1:$port/$PG_DB"
}

redis_ping() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

redis_up() {
  if ! redis_ping; then
    say "starting redis-server on 127.0.0.1:$REDIS_PORT"
    mkdir -p "$REDIS_DIR"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$REDIS_PASSWORD" \
      --daemonize yes --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
      --logfile "$REDIS_DIR/redis.log" --save "" --appendonly no
    for _ in $(seq 1 20); do redis_ping && break; sleep 0.5; done
    redis_ping || die "redis-server did not answer on 127.0.0.1:$REDIS_PORT (see $REDIS_DIR/redis.log)"
  fi
  echo "Redis:      redis://:***@127.0.0.1:$REDIS_PORT"
}

case "${1:-up}" in
  up) ensure_packages; postgres_up; redis_up ;;
  down)
    if redis_ping; then REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave || true; fi
    read -r ver name _ status < <(pg_cluster) && [ "$status" = online ] && $SUDO pg_ctlcluster "$ver" "$name" stop
    echo "stopped" ;;
  status) pg_lsclusters; redis_ping && echo "redis: up" || echo "redis: down" ;;
  *) die "usage: scripts/services.sh up|down|status" ;;
esac
