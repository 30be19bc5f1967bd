#!/usr/bin/env bash
# The local stack, for a developer: compose.yml + compose.dev.yml.
#   compose/dev.sh up     build, check the env, migrate, collectstatic, a demo
#                         superuser, start everything, print the URL (make dev)
#   compose/dev.sh down   stop it and remove its containers (make dev-down;
#                         volumes are kept: add --volumes to drop the data)
#   compose/dev.sh ports  only check that the ports it publishes are free
# The env file is compose/.env; the first run writes it from env.example with
# the images of .kit/images.env (make images), and the secret files under
# compose/secrets/ with generated values (secrets.sh). An older .env that still
# holds secrets has them moved into the files.
#
# Ports, on 127.0.0.1: nginx on DEV_HTTP_PORT (8081), runserver on DEV_WEB_PORT
# (8001). Not 8080 and 2222, which make demo's sandbox VDS (kit-vds) holds, nor
# 8000, where a `manage.py runserver` on the host listens by default; the stack
# tests and make bench-stack use 18080-18095. They come from these variables,
# never from the env file's HTTP_PORT (the server's port): an old compose/.env
# with HTTP_PORT=8080 changes nothing here.
set -euo pipefail
cd "$(dirname "$0")"
# compose takes a variable from the shell before the env file: a DATABASE_URL
# exported for a manage.py on the host would point the stack elsewhere.
unset DATABASE_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND REDIS_URL

ENV_FILE=$PWD/.env
PROJECT=${DEV_PROJECT:-shop-dev}
DEV_HTTP_PORT=${DEV_HTTP_PORT:-8081}
DEV_WEB_PORT=${DEV_WEB_PORT:-8001}
export ENV_FILE DEV_HTTP_PORT DEV_WEB_PORT
say() { printf '==> %s\n' "$*"; }
compose() { docker compose --project-name "$PROJECT" -f compose.yml -f compose.dev.yml --env-file "$ENV_FILE" "$@"; }
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
value() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; }

SECRETS=(SECRET_KEY POSTGRES_PASSWORD REDIS_PASSWORD FLOWER_PASSWORD DJANGO_SUPERUSER_PASSWORD)

write_env() {
  say "writing $ENV_FILE from env.example"
  [ -f ../.kit/images.env ] || { echo "dev.sh: ../.kit/images.env is missing: run make images" >&2; exit 1; }
  umask 077
  sed -e "s/^HTTP_BIND=.*/HTTP_BIND=127.0.0.1/" \
      -e "s/^WORKER_STOP_GRACE_PERIOD=.*/WORKER_STOP_GRACE_PERIOD=10s/" \
      env.example >"$ENV_FILE"
  { echo; echo "# make dev publishes on DEV_HTTP_PORT and DEV_WEB_PORT, not HTTP_PORT (see dev.sh)."
    echo "# Images chosen by make images:"; grep -v '^#' ../.kit/images.env; } >>"$ENV_FILE"
}

# The secret files, from an older env file's secrets when it has them (which
# then leave it: the env file is every container's environment), else new.
write_secrets() {
  local pattern="^($(IFS='|'; echo "${SECRETS[*]}"))="
  if grep -Eq "$pattern" "$ENV_FILE"; then
    say "moving the secrets of $ENV_FILE into secret files under compose/secrets/"
    grep -E "$pattern" "$ENV_FILE" | bash secrets.sh secrets
    sed -i -E "/$pattern/d" "$ENV_FILE"
  fi
  if [ ! -e secrets/app/secret_key ]; then
    say "writing the secret files under compose/secrets/, with generated values"
    printf 'SECRET_KEY=%s\nPOSTGRES_PASSWORD=%s\nREDIS_PASSWORD=%s\nFLOWER_PASSWORD=%s\nDJANGO_SUPERUSER_PASSWORD=%s\n' \
      "$(secret)" "$(secret)" "$(secret)" "$(secret | cut -c1-16)" "$(secret | cut -c1-16)" | bash secrets.sh secrets
  fi
  # A digest of the files: when they change, compose recreates the containers that read them.
  local revision
  revision=$(cat secrets/app/* | sha256sum | cut -c1-16)
  sed -i "s/^SECRETS_REVISION=.*/SECRETS_REVISION=$revision/" "$ENV_FILE"
}

# Stop early, naming the holder and the fix, when a port dev publishes is taken
# (Docker would only say "port is already allocated"). Our own running stack may hold it.
check_port() {  # VARIABLE PORT WHAT
  local var=$1 port=$2 what=$3 holder="" project="" fix="stop it"
  [[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || {
    echo "dev.sh: $var=$port is not a port number (1-65535)" >&2; exit 1; }
  read -r holder project < <(docker ps --filter "publish=$port" \
    --format '{{.Names}} {{.Label "com.docker.compose.project"}}') || true
  if [ -n "$holder" ]; then
    [ "$project" = "$PROJECT" ] && return 0
    case "$holder/$project" in
      kit-vds/*) fix="make demo-down (kit-vds is make demo's sandbox VDS)" ;;
      */shop-dev) fix="make dev-down" ;;
      */?*) fix="docker compose --project-name $project down" ;;
      *) fix="docker rm -f $holder" ;;
    esac
    holder="the container $holder"
  else
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null |
      sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/the process \1 (pid \2)/p' | head -n 1)
    if [ -z "$holder" ]; then
      (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 0
      holder="a process that ss cannot name"
    fi
  fi
  echo "dev.sh: 127.0.0.1:$port ($what, $var) is held by $holder." >&2
  echo "  Fix: $fix, or pick another port: $var=<port> make dev" >&2
  exit 1
}

check_ports() {
  check_port DEV_HTTP_PORT "$DEV_HTTP_PORT" "nginx"
  check_port DEV_WEB_PORT "$DEV_WEB_PORT" "gunicorn"
}

up() {
  say "checking that 127.0.0.1:$DEV_HTTP_PORT and 127.0.0.1:$DEV_WEB_PORT are free"
  check_ports
  [ -f "$ENV_FILE" ] || write_env
  write_secrets
  say "building the app image"
  bash build.sh "$ENV_FILE"
  say "checking $ENV_FILE"
  compose run --rm --no-deps config
  say "starting db and redis"
  compose up --detach --wait db redis
  say "migrate, collectstatic, demo superuser $(value DJANGO_SUPERUSER_USERNAME)"
  compose run --rm web python -m deploykit.release
  say "starting the stack"
  compose up --detach --wait
  cat <<EOT

The stack is up:
  admin     http://127.0.0.1:$DEV_HTTP_PORT/admin/   (through nginx)
  gunicorn  http://127.0.0.1:$DEV_WEB_PORT/admin/   (reloads on changes)
  login     $(value DJANGO_SUPERUSER_USERNAME) / $(cat secrets/app/django_superuser_password)
  logs      docker compose --project-name $PROJECT -f compose/compose.yml -f compose/compose.dev.yml logs -f
  stop      make dev-down
EOT
}

case "${1:-up}" in
  up) up ;;
  down) shift; compose --profile '*' down "$@" ;;
  ports) check_ports; echo "127.0.0.1:$DEV_HTTP_PORT and 127.0.0.1:$DEV_WEB_PORT are free (or this dev stack's)" ;;
  *) echo "usage: compose/dev.sh up | down [--volumes] | ports" >&2; exit 2 ;;
esac
