#!/usr/bin/env bash
# The local stack, for a developer: compose.yml + compose.dev.yml.
#   compose/dev.sh up     build, check the env, migrate, collectstatic, a demo
#                         superuser, start everything, print the URL (make dev)
#   compose/dev.sh down   stop it and remove its containers (make dev-down;
#                         volumes are kept: add --volumes to drop the data)
# The env file is compose/.env; the first run writes it from env.example with
# generated secrets and the images of .kit/images.env (make images).
set -euo pipefail
cd "$(dirname "$0")"

ENV_FILE=$PWD/.env
PROJECT=${DEV_PROJECT:-shop-dev}
export ENV_FILE
say() { printf '==> %s\n' "$*"; }
compose() { docker compose --project-name "$PROJECT" -f compose.yml -f compose.dev.yml --env-file "$ENV_FILE" "$@"; }
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
value() { sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; }

write_env() {
  say "writing $ENV_FILE from env.example, with generated secrets"
  [ -f ../.kit/images.env ] || { echo "dev.sh: ../.kit/images.env is missing: run make images" >&2; exit 1; }
  umask 077
  sed -e "s/^SECRET_KEY=.*/SECRET_KEY=$(secret)/" \
      -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(secret)/" \
      -e "s/^REDIS_PASSWORD=.*/REDIS_PASSWORD=$(secret)/" \
      -e "s/^FLOWER_PASSWORD=.*/FLOWER_PASSWORD=$(secret | cut -c1-16)/" \
      -e "s/^DJANGO_SUPERUSER_PASSWORD=.*/DJANGO_SUPERUSER_PASSWORD=$(secret | cut -c1-16)/" \
      -e "s/^HTTP_BIND=.*/HTTP_BIND=127.0.0.1/" \
      -e "s/^HTTP_PORT=.*/HTTP_PORT=8080/" \
      -e "s|^CSRF_TRUSTED_ORIGINS=.*|CSRF_TRUSTED_ORIGINS=http://127.0.0.1:8080,http://localhost:8080|" \
      -e "s/^WORKER_STOP_GRACE_PERIOD=.*/WORKER_STOP_GRACE_PERIOD=10s/" \
      env.example >"$ENV_FILE"
  { echo; echo "# Images chosen by make images:"; grep -v '^#' ../.kit/images.env; } >>"$ENV_FILE"
}

up() {
  [ -f "$ENV_FILE" ] || write_env
  say "checking $ENV_FILE"
  compose run --rm --no-deps --quiet-pull config
  say "building the app image"
  compose build web
  say "starting db and redis"
  compose up --detach --wait db redis
  say "migrate"
  compose run --rm web python manage.py migrate --noinput
  say "collectstatic"
  compose run --rm web python manage.py collectstatic --noinput
  say "demo superuser $(value DJANGO_SUPERUSER_USERNAME)"
  compose run --rm web python manage.py shell --verbosity 0 -c \
    "import os; from django.contrib.auth import get_user_model as m; u = os.environ['DJANGO_SUPERUSER_USERNAME'];
m().objects.filter(username=u).exists() or m().objects.create_superuser(u, os.environ['DJANGO_SUPERUSER_EMAIL'], os.environ['DJANGO_SUPERUSER_PASSWORD'])"
  say "starting the stack"
  compose up --detach --wait
  cat <<EOT

The stack is up:
  admin     http://127.0.0.1:$(value HTTP_PORT)/admin/   (through nginx)
  runserver http://127.0.0.1:${DEV_WEB_PORT:-8000}/admin/   (autoreload)
  login     $(value DJANGO_SUPERUSER_USERNAME) / $(value DJANGO_SUPERUSER_PASSWORD)
  logs      docker compose --project-name $PROJECT -f compose/compose.yml -f compose/compose.dev.yml logs -f
  stop      make dev-down
EOT
}

case "${1:-up}" in
  up) up ;;
  down) shift; compose --profile monitoring down "$@" ;;
  *) echo "usage: compose/dev.sh up | down [--volumes]" >&2; exit 2 ;;
esac
