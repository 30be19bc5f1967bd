#!/usr/bin/env bash
# Entrypoint of kit-local/redis:8, written for this kit to behave like the
# official redis image's:
# - arguments that start with "-" or name a .conf file are for redis-server;
# - started as root, it gives /data to "redis" and re-runs itself as redis;
# - redis-server without a config file and without a --protected-mode of
#   its own gets "--protected-mode no" (the official image compiles that
#   default in), so it answers other containers even without a password. It
#   is added last: redis-server reads -v/--help/... only as its first argument.
set -euo pipefail

case "${1:-}" in
  -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  # Whatever in /data is not redis's becomes so. Entries redis already owns
  # are not searched (-prune): the server's own 0700 directories stay
  # unread, so this works with every capability but CHOWN/SETUID/SETGID dropped.
  if [ -d /data ]; then find /data -user redis -prune -o -exec chown redis '{}' +; fi
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "${1:-}" = redis-server ]; then
  # A config file, if any, comes right after the program name: leave it in charge.
  if [ $# -eq 1 ] || [ "${2:0:1}" = - ]; then
    case " $* " in
      *" --protected-mode "*) ;;
      *) set -- "$@" --protected-mode no ;;
    esac
  fi
  # Files the server writes (RDB, AOF) are for its own user only.
  if [ "$(umask)" = 0022 ]; then umask 0077; fi
fi

exec "$@"
