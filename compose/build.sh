#!/usr/bin/env bash
# build.sh [ENV_FILE]: the project's image, as the deploy builds it, for a
# laptop and the stack tests (the role builds with docker_image_build, the
# same two steps). From the env file (default .env beside this script):
#   APP_BUILD_CONTEXT  the project's directory, relative to this one (../app)
#   APP_IMAGE:APP_TAG  the image (shop-app:latest); APP_IMAGE-base:APP_TAG is the kit's runtime
#   PYTHON_IMAGE       the Python base image (python:3.13-slim)
#   APT_PACKAGES       the project's extra Debian packages (none)
set -euo pipefail
cd "$(dirname "$0")"
env_file=${1:-.env}
[ -f "$env_file" ] || { echo "build.sh: $env_file is missing (cp env.example .env)" >&2; exit 1; }
value() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }
context=$(value APP_BUILD_CONTEXT) image=$(value APP_IMAGE) tag=$(value APP_TAG) python=$(value PYTHON_IMAGE)
context=${context:-../app} image=${image:-shop-app} tag=${tag:-latest} python=${python:-python:3.13-slim}
[ -d "$context" ] || { echo "build.sh: APP_BUILD_CONTEXT $context is not a directory" >&2; exit 1; }

echo "==> the kit's runtime: $image-base:$tag (on $python)"
docker build --quiet --file image/base.Dockerfile --build-arg PYTHON_IMAGE="$python" \
  --build-arg APT_PACKAGES="$(value APT_PACKAGES)" --tag "$image-base:$tag" image >/dev/null
echo "==> the project: $image:$tag (from $context)"
docker build --file image/Dockerfile --build-arg KIT_BASE="$image-base:$tag" --build-arg RELEASE="$tag" \
  --tag "$image:$tag" "$context"
