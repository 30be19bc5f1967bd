#!/usr/bin/env bash
# Builds local stand-ins for the official images the kit's compose stack uses
# by default, because no container registry can be reached from this host
# (`docker pull` fails), and the sandbox VDS's image:
#
#   kit-local/trixie-base:latest  Debian 13 minbase made by debootstrap
#                                 (the root filesystem is cached as a tarball)
#   kit-local/bookworm-base:latest  the same for Debian 12, only when vds12 is named
#   kit-local/python:3.13-slim    ~ python:3.13-slim   (scripts/images/python/)
#   kit-local/postgres:17         ~ postgres:17        (scripts/images/postgres/)
#   kit-local/redis:8             ~ redis:7            (scripts/images/redis/; Debian 13 ships Redis 8.0,
#                                                       whose commands and options the stack uses alike)
#   kit-local/nginx:1             ~ nginx:1            (scripts/images/nginx/)
#   kit-local/vds:13              a fresh Debian 13 server (sandbox/image/): systemd
#                                 as PID 1, sshd (root by key only), python3; the
#                                 sandbox VDS of sandbox/sandbox.yml
#   kit-local/vds:12              only when named (make vds12-image): the same
#                                 server on Debian 12, for molecule's base@12
#   kit-local/acme-test:13        only when named (make test-e2e does): Pebble, a
#                                 test ACME CA, and testssl.sh (tests/e2e/acme/)
#
# Usage: scripts/images/build.sh [options] [python|postgres|redis|nginx|vds|vds12|acme ...]
#   (no option)       build what is missing or out of date
#   --force           rebuild the images without the layer cache, re-import the base
#   --refresh-rootfs  also run debootstrap again instead of using the cached tarball
#
# Idempotent: every image carries a label (kit.inputs) with a hash of what it
# was built from (its build context, and for the base the debootstrap
# recipe); an image whose label matches is not built again.
# Needs root and a running engine (scripts/docker.sh up is run when none answers).
# `make test-images` (tests/images/) checks that each image keeps the
# contract the compose stack and the playbooks rely on.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE_DIR=${KIT_CACHE_DIR:-/var/cache/kit}
LOG_DIR=${KIT_IMAGES_LOG_DIR:-/var/log/kit-images}

# The base root filesystems, one per Debian suite. Anything that changes here
# changes its hash, so the cached tarball and the images built on it are made
# again.
MIRROR=${KIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KIT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# netbase (/etc/services, /etc/protocols) and tzdata: what the official
# images add to a minimal Debian for networked programs and time zones.
BASE_PACKAGES=(netbase tzdata)
base_tag() { echo "kit-local/$1-base:latest"; }

# The images in build order, their tags and build contexts.
ALL_IMAGES=(python postgres redis nginx vds)
declare -A TAG=(
  [python]=kit-local/python:3.13-slim
  [postgres]=kit-local/postgres:17
  [redis]=kit-local/redis:8
  [nginx]=kit-local/nginx:1
  [vds]=kit-local/vds:13
  [vds12]=kit-local/vds:12
  [acme]=kit-local/acme-test:13
)
declare -A SOURCE=(
  [python]=scripts/images/python
  [postgres]=scripts/images/postgres
  [redis]=scripts/images/redis
  [nginx]=scripts/images/nginx
  [vds]=sandbox/image
  [vds12]=sandbox/image
  [acme]=tests/e2e/acme
)
# The suite an image is built on: trixie unless named here.
declare -A SUITE_OF=([vds12]=bookworm)
suite_of() { echo "${SUITE_OF[$1]:-trixie}"; }

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and docker need it)"

# --- options ------------------------------------------------------------------

FORCE=false
REFRESH_ROOTFS=false
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=true ;;
    --refresh-rootfs) REFRESH_ROOTFS=true; FORCE=true ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) [ -n "${TAG[$arg]:-}" ] || die "unknown image $arg (one of: ${ALL_IMAGES[*]} vds12 acme)"
       SELECTED+=("$arg") ;;
  esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL_IMAGES[@]}")

# --- timing and clean-up ------------------------------------------------------

STEP_NAMES=()
STEP_SECS=()
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# timed NAME COMMAND...: runs the command, prints and records how long it took.
timed() {
  local name=$1 t0=$EPOCHREALTIME
  shift
  "$@"
  local secs
  secs=$(elapsed_since "$t0")
  STEP_NAMES+=("$name")
  STEP_SECS+=("$secs")
  note "($name: ${secs}s)"
}

SCRATCH=()      # temporary directories
ROOTFS_DIRS=()  # debootstrap targets (may hold mounts while it runs)
remove_rootfs() {
  # debootstrap mounts /proc and /sys inside its target: unmount anything
  # still mounted below it before deleting, and never cross a file system.
  local dir=$1 mnt
  [ -d "$dir" ] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mnt; do umount -l "$mnt" || true; done
  rm -rf --one-file-system "$dir"
}
cleanup() {
  local d
  for d in "${ROOTFS_DIRS[@]}"; do remove_rootfs "$d"; done
  [ ${#SCRATCH[@]} -eq 0 ] || rm -rf "${SCRATCH[@]}"
}
trap cleanup EXIT
# scratch VAR: a new temporary directory in VAR, removed at exit. (Not
# $(scratch): a command substitution's subshell could not record it.)
scratch() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/kit-images.XXXXXX")
  SCRATCH+=("$d")
  printf -v "$1" '%s' "$d"
}

# Images replaced by a rebuild, removed at the end (children before parents).
OLD_IDS=()
remember_old() {
  local id
  id=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null) || return 0
  OLD_IDS+=("$id")
}
remove_old() {
  local i id
  for ((i = ${#OLD_IDS[@]} - 1; i >= 0; i--)); do
    id=${OLD_IDS[$i]}
    # Still tagged (rebuilt identically) or used by a container or another
    # image: docker refuses, and it stays.
    if [ -z "$(docker image inspect -f '{{join .RepoTags ","}}' "$id" 2>/dev/null)" ]; then
      docker rmi "$id" >/dev/null 2>&1 || true
    fi
  done
}

image_label() { docker image inspect -f "{{ index .Config.Labels \"kit.inputs\" }}" "$1" 2>/dev/null || true; }

# run_logged LOG COMMAND...: output to LOG; on failure show its end and stop.
run_logged() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "failed: $* (full log: $log)"
  fi
}

# --- prerequisites ------------------------------------------------------------

ensure_engine() {
  docker info >/dev/null 2>&1 || bash "$ROOT/scripts/docker.sh" up
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return
  say "installing debootstrap"
  apt-get update -qq -o DPkg::Lock::Timeout=300
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    --no-install-recommends debootstrap >/dev/null
}

# --- the base image -----------------------------------------------------------

# Turns the fresh debootstrap tree into a container base: no services started
# by package scripts, no docs or caches, apt sources with updates and security.
customize_rootfs() {
  local root=$1
  # There is no init in an image build: package scripts must not start services.
  printf '#!/bin/sh\n# kit-local images: no service is started during a build.\nexit 101\n' \
    >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"

  # Small layers: dpkg leaves out docs (except copyrights), man pages, translations.
  cat >"$root/etc/dpkg/dpkg.cfg.d/kit-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

  # apt keeps no downloaded packages or binary caches in a layer.
  cat >"$root/etc/apt/apt.conf.d/kit-docker" <<'EOF'
Acquire::Languages "none";
APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
EOF

  # The suite with its point-release updates and security fixes.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

  # Nothing from this host or from the bootstrap run stays behind.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/debconf/*-old \
    "$root"/var/lib/dpkg/*-old "$root"/tmp/* "$root"/var/tmp/*
  find "$root/var/log" -type f -delete
  : >"$root/etc/resolv.conf"
  : >"$root/etc/machine-id"
  echo localhost >"$root/etc/hostname"
}

base_hash() {
  {
    echo "suite=$SUITE variant=minbase mirror=$MIRROR security=$SECURITY_MIRROR"
    echo "include=${BASE_PACKAGES[*]}"
    declare -f customize_rootfs
  } | sha256sum | cut -c1-16
}

make_rootfs_tarball() {
  local tarball=$1 root log="$LOG_DIR/debootstrap-$SUITE.log"
  root=$(mktemp -d /var/tmp/kit-rootfs.XXXXXX)
  ROOTFS_DIRS+=("$root")
  local include
  include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
  say "debootstrap --variant=minbase --include=$include $SUITE (log: $log)"
  timed "debootstrap $SUITE" run_logged "$log" \
    debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$MIRROR"
  customize_rootfs "$root"
  say "packing the root filesystem into $tarball"
  timed "pack rootfs tarball" tar --numeric-owner -C "$root" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  # Older recipes' tarballs are of no further use.
  find "$CACHE_DIR" -maxdepth 1 -name "rootfs-$SUITE-minbase-*.tar" ! -path "$tarball" -delete
  remove_rootfs "$root"
}

# build_base SUITE: kit-local/SUITE-base; its hash goes to BASE_HASH[SUITE].
# SUITE is global while it runs: customize_rootfs and base_hash read it.
declare -A BASE_HASH=()
build_base() {
  SUITE=$1
  local hash tarball BASE_TAG
  BASE_TAG=$(base_tag "$SUITE")
  hash=$(base_hash)
  BASE_HASH[$SUITE]=$hash
  tarball="$CACHE_DIR/rootfs-$SUITE-minbase-$hash.tar"
  if ! $FORCE && [ "$(image_label "$BASE_TAG")" = "$hash" ]; then
    say "$BASE_TAG is up to date (inputs $hash)"
    return
  fi
  if $REFRESH_ROOTFS; then rm -f "$tarball"; fi
  if [ -f "$tarball" ]; then
    say "using the cached root filesystem $tarball"
  else
    make_rootfs_tarball "$tarball"
  fi
  say "importing $tarball as $BASE_TAG"
  remember_old "$BASE_TAG"
  timed "import $BASE_TAG" run_logged "$LOG_DIR/import-base-$SUITE.log" docker import \
    --change "LABEL kit.inputs=$hash" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tarball" "$BASE_TAG"
}

# --- the images built on it ---------------------------------------------------

# stage_context NAME DIR: copies the image's source directory and what the
# image needs from the host into a throw-away build context.
stage_context() {
  local name=$1 ctx=$2
  cp -a "$ROOT/${SOURCE[$name]}/." "$ctx/"
  if [ "$name" = python ]; then
    # HTTPS from containers goes through an intercepting proxy that only the
    # host's bundle trusts.
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
  fi
}

context_hash() {
  local name=$1 ctx=$2
  {
    echo "image=$name tag=${TAG[$name]} base=${BASE_HASH[$(suite_of "$name")]}"
    cd "$ctx"
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%a %n'
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}

build_image() {
  local name=$1 tag=${TAG[$1]} ctx hash
  scratch ctx
  stage_context "$name" "$ctx"
  hash=$(context_hash "$name" "$ctx")
  if ! $FORCE && [ "$(image_label "$tag")" = "$hash" ]; then
    say "$tag is up to date (inputs $hash)"
    return
  fi
  local log="$LOG_DIR/build-$name.log" cache_opt=() base_opt=()
  # An image built on another suite than trixie gets its base as an argument.
  if [ -n "${SUITE_OF[$name]:-}" ]; then base_opt=(--build-arg "BASE=$(base_tag "${SUITE_OF[$name]}")"); fi
  if $FORCE; then cache_opt=(--no-cache); fi
  say "building $tag from ${SOURCE[$name]} (log: $log)"
  remember_old "$tag"
  # DOCKER_BUILDKIT=0: the classic builder, which Engine 20.10 always has.
  timed "build $tag" run_logged "$log" env DOCKER_BUILDKIT=0 docker build "${cache_opt[@]}" \
    --force-rm "${base_opt[@]}" --label "kit.inputs=$hash" --label "kit.source=${SOURCE[$name]}" \
    -t "$tag" "$ctx"
}

# --- summary ------------------------------------------------------------------

summary() {
  local name tag size i
  say "images"
  for tag in $(for suite in "${!BASE_HASH[@]}"; do base_tag "$suite"; done) $(for name in "${SELECTED[@]}"; do echo "${TAG[$name]}"; done); do
    size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')
    printf '    %-30s %8s  %s\n' "$tag" "$size" "$(image_label "$tag")"
  done
  say "timings"
  for i in "${!STEP_NAMES[@]}"; do printf '    %-40s %7ss\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"; done
  printf '    %-40s %7ss\n' total "$(elapsed_since "$T_START")"
}

# --- main ---------------------------------------------------------------------

T_START=$EPOCHREALTIME
mkdir -p "$CACHE_DIR" "$LOG_DIR"
ensure_engine
ensure_debootstrap
for suite in $(for name in "${SELECTED[@]}"; do suite_of "$name"; done | sort -u); do build_base "$suite"; done
for name in "${SELECTED[@]}"; do build_image "$name"; done
# Rebuilt images leave their old versions untagged: remove those.
remove_old
summary
