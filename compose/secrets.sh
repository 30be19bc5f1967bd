#!/usr/bin/env bash
# Writes the stack's secret files (compose.yml's secrets:) into DIR from
# NAME=value lines on stdin: SECRET_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD,
# FLOWER_PASSWORD, DJANGO_SUPERUSER_PASSWORD (other lines are ignored; a name
# not given leaves its files out). One copy per uid that reads it:
#   DIR/app/     10001: web and the one-off jobs
#   DIR/nobody/  65534: worker, beat, flower
#   DIR/root/    0:     db and redis
#   compose/secrets.sh compose/secrets <values      (dev.sh; the stack tests)
# As root each file is mode 0400 and owned by its reader, as the django_stack
# role writes them on a server. As another user (a laptop), chown to another
# uid is not allowed: the files stay yours, mode 0444 (development secrets),
# inside directories only you can enter.
set -euo pipefail
dir=${1:?usage: compose/secrets.sh DIR <NAME=value lines}

declare -A uid=([app]=10001 [nobody]=65534 [root]=0)
declare -A names=(
  [app]="secret_key postgres_password redis_password flower_password django_superuser_password"
  [nobody]="secret_key postgres_password redis_password flower_password"
  [root]="postgres_password redis_password"
)
declare -A values=()
while IFS= read -r line || [ -n "$line" ]; do
  [[ $line =~ ^([A-Z_]+)=(.*)$ ]] && values[${BASH_REMATCH[1],,}]=${BASH_REMATCH[2]}
done

umask 077
for reader in app nobody root; do
  mkdir -p "$dir/$reader"
  for name in ${names[$reader]}; do
    [ -n "${values[$name]+set}" ] || continue
    file=$dir/$reader/$name
    rm -f "$file"
    printf '%s' "${values[$name]}" >"$file"
    if [ "$(id -u)" = 0 ]; then
      chown "${uid[$reader]}:${uid[$reader]}" "$file"
      chmod 0400 "$file"
    else
      chmod 0444 "$file"
    fi
  done
done
