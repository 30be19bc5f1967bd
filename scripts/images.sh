#!/usr/bin/env bash
# Chooses the base images the stack runs and writes them to .kit/images.env:
# the official images (python:3.13-slim, postgres:17, redis:7, nginx:1.27)
# where a registry answers, local stand-ins with the same contract, built by
# scripts/images/build.sh from a debootstrapped Debian 13, where none does.
# make dev and the stack tests append .kit/images.env to their env file.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=.kit/images.env
OFFICIAL=(python:3.13-slim postgres:17 redis:7 nginx:1.27)
say() { printf '==> %s\n' "$*"; }

mkdir -p .kit
pulled=true
for image in "${OFFICIAL[@]}"; do
  if docker image inspect "$image" >/dev/null 2>&1; then
    continue
  fi
  say "pulling $image"
  if ! timeout 300 docker pull --quiet "$image" >/dev/null 2>.kit/pull.err; then
    say "no registry answers ($(tail -n 1 .kit/pull.err | cut -c1-120)); using local stand-ins"
    pulled=false
    break
  fi
done

if $pulled; then
  cat >"$OUT" <<EOT
# Written by scripts/images.sh: a registry answered, so the official images.
PYTHON_IMAGE=python:3.13-slim
POSTGRES_IMAGE=postgres:17
REDIS_IMAGE=redis:7
NGINX_IMAGE=nginx:1.27
EOT
else
  bash scripts/images/build.sh
  cat >"$OUT" <<EOT
# Written by scripts/images.sh: no registry answered, so local stand-ins
# (scripts/images/build.sh) with the official images' contract.
PYTHON_IMAGE=kit-local/python:3.13-slim
POSTGRES_IMAGE=kit-local/postgres:17
REDIS_IMAGE=kit-local/redis:8
NGINX_IMAGE=kit-local/nginx:1
EOT
fi
say "images for the stack ($OUT):"
grep -v '^#' "$OUT" | sed 's/^/    /'
