#!/usr/bin/env bash
# Entrypoint of kit-local/postgres:17, written for this kit to honour the
# official postgres image's contract:
# - arguments that start with "-" are options for postgres;
# - started as root, it makes PGDATA and the socket directory postgres's and
#   re-runs itself as postgres;
# - on an empty PGDATA it runs initdb with POSTGRES_USER (default "postgres")
#   as superuser and POSTGRES_PASSWORD as its password (refusing to go on
#   without one), lets every address in with scram-sha-256 and listens on
#   "*", creates POSTGRES_DB (default: the user's name), runs
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz, then starts the server;
# - on an existing PGDATA it starts the server and nothing else.
# Each POSTGRES_* variable may instead be read from the file named by
# POSTGRES_*_FILE (for Docker secrets), while still root.
set -Eeuo pipefail

PGDATA=${PGDATA:-/var/lib/postgresql/data}
SOCKET_DIR=/var/run/postgresql

log() { printf 'entrypoint: %s\n' "$*"; }
die() { printf 'entrypoint: error: %s\n' "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from the environment, or from the file that
# VAR_FILE names, or DEFAULT; exported.
file_env() {
  local var=$1 default=${2:-} file_var="${1}_FILE" value
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "both $var and $file_var are set: use one"
  fi
  value=$default
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    value=$(<"${!file_var}")
  fi
  export "$var=$value"
  unset "$file_var"
}

run_init_scripts() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; bash "$f" ;;
      *.sql) log "running $f"; psql -v ON_ERROR_STOP=1 -X -q -f "$f" ;;
      *.sql.gz) log "running $f"; gzip -dc "$f" | psql -v ON_ERROR_STOP=1 -X -q ;;
      */\*) ;; # the directory is empty
      *) log "ignoring $f" ;;
    esac
  done
}

init_cluster() {
  file_env POSTGRES_USER postgres
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_DB "$POSTGRES_USER"
  local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    cat >&2 <<MSG
entrypoint: error: the database is not initialised and POSTGRES_PASSWORD is empty.
  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty password for
  the superuser "$POSTGRES_USER"; PostgreSQL will not be started without one.
MSG
    exit 1
  fi

  log "initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"

  # Every address, with a password (containers reach it over their network).
  printf "\n# kit-local/postgres: listen on every interface\nlisten_addresses = '*'\n" \
    >>"$PGDATA/postgresql.conf"
  printf '\n# kit-local/postgres: every address, with a password\nhost all all all %s\n' "$auth" \
    >>"$PGDATA/pg_hba.conf"

  # A temporary server on the socket only: nothing outside sees a half-made database.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" start
  export PGUSER=$POSTGRES_USER PGHOST=$SOCKET_DIR
  if [ "$POSTGRES_DB" != postgres ]; then
    log "creating database $POSTGRES_DB"
    psql -v ON_ERROR_STOP=1 -X -q --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  PGDATABASE=$POSTGRES_DB run_init_scripts
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGUSER PGHOST
  log "PostgreSQL init process complete; ready for start up."
}

# wants_info ARGS...: true when postgres is asked only to print something
# (--version, --help, -C param, --describe-config): then nothing is set up.
wants_info() {
  local arg
  for arg in "$@"; do
    case "$arg" in -'?' | --help | -V | --version | -C | --describe-config) return 0 ;; esac
  done
  return 1
}

# "docker run IMAGE -c foo=bar" means "postgres -c foo=bar".
if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && wants_info "$@"; then exec "$@"; fi

# as_root_prepare: gives PGDATA and the socket directory (often fresh volumes
# or tmpfs owned by root) to postgres. It changes only what needs changing,
# and modes before owners, so that CHOWN, SETUID and SETGID are the only
# capabilities it needs (compose files often drop all the others).
as_root_prepare() {
  local dir
  mkdir -p "$PGDATA" "$SOCKET_DIR"
  for dir in "$PGDATA" "$SOCKET_DIR"; do
    if [ "$(stat -c %U "$dir")" != postgres ]; then
      if [ "$dir" = "$PGDATA" ]; then chmod 0700 "$dir"; else chmod 2775 "$dir"; fi
    fi
  done
  # Whatever in PGDATA is not postgres's becomes so; entries postgres already
  # owns are not searched (-prune), which needs no DAC_* capability.
  find "$PGDATA" -user postgres -prune -o -exec chown postgres:postgres '{}' +
  if [ "$(stat -c %U "$SOCKET_DIR")" != postgres ]; then chown postgres:postgres "$SOCKET_DIR"; fi
  if [ "$(stat -c %a "$PGDATA")" != 700 ]; then
    chmod 0700 "$PGDATA" || die "PGDATA $PGDATA must have mode 0700 and could not be given it"
  fi
}

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  # The *_FILE secrets are read while still root, as the official image does:
  # a secret file may be readable by root only (Compose keeps the host
  # file's owner and mode). The values pass on to the re-run in its environment.
  file_env POSTGRES_USER postgres
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_DB "$POSTGRES_USER"
  as_root_prepare
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ]; then
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    init_cluster
  else
    log "PGDATA holds a cluster (PostgreSQL $(cat "$PGDATA/PG_VERSION")): starting it as it is"
  fi
fi

# exec: postgres becomes PID 1 and receives docker's stop signal itself.
exec "$@"
