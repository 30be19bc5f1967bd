#!/usr/bin/env bash
# Builds local stand-ins for the official images the kit's compose stack uses
# by default, because no container registry can be reached from this host
# (`docker pull` fails), then checks that each one honours the contract the
# compose file relies on:
#
#   kit-local/trixie-base:latest  Debian 13 minbase made by debootstrap
#                                 (the root filesystem is cached as a tarball)
#   kit-local/python:3.13-slim    ~ python:3.13-slim   (tests/images/python/)
#   kit-local/postgres:17         ~ postgres:17        (tests/images/postgres/)
#   kit-local/redis:8             ~ redis:7            (tests/images/redis/; Debian 13 ships Redis 8.0,
#                                                       whose commands and options the stack uses alike)
#   kit-local/nginx:1             ~ nginx:1            (tests/images/nginx/)
#   kit-local/vds:13              a fresh Debian 13 server (tests/images/vds/): systemd
#                                 as PID 1, sshd (root by key only), python3; the
#                                 sandbox VDS of playbooks/sandbox.yml
#
# Usage: tests/images/build.sh [options] [python|postgres|redis|nginx|vds ...]
#   (no option)       build what is missing or out of date, then check every image
#   --check           only run the checks (the images must exist)
#   --no-check        only build
#   --force           rebuild the images without the layer cache, re-import the base
#   --refresh-rootfs  also run debootstrap again instead of using the cached tarball
#
# Idempotent: every image carries a label (kit.inputs) with a hash of what it
# was built from (its build context, and for the base the debootstrap
# recipe); an image whose label matches is not built again.
# Needs root and a running engine (tests/docker.sh up is run when none answers).
# The checks publish ports only on 127.0.0.1, talk to containers on their own
# bridge network, and remove every container, volume and network they make.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_DIR=${KIT_CACHE_DIR:-/var/cache/kit}
LOG_DIR=${KIT_IMAGES_LOG_DIR:-/var/log/kit-images}

# The base root filesystem. Anything that changes here changes its hash, so
# the cached tarball and the images built on it are made again.
SUITE=trixie
MIRROR=${KIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KIT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# netbase (/etc/services, /etc/protocols) and tzdata: what the official
# images add to a minimal Debian for networked programs and time zones.
BASE_PACKAGES=(netbase tzdata)
BASE_TAG=kit-local/trixie-base:latest

# Image directories under tests/images/, in build order, and their tags.
ALL_IMAGES=(python postgres redis nginx vds)
declare -A TAG=(
  [python]=kit-local/python:3.13-slim
  [postgres]=kit-local/postgres:17
  [redis]=kit-local/redis:8
  [nginx]=kit-local/nginx:1
  [vds]=kit-local/vds:13
)

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and docker need it)"

# --- options ------------------------------------------------------------------

FORCE=false
REFRESH_ROOTFS=false
DO_BUILD=true
DO_CHECK=true
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=true ;;
    --refresh-rootfs) REFRESH_ROOTFS=true; FORCE=true ;;
    --check) DO_BUILD=false ;;
    --no-check) DO_CHECK=false ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) [ -n "${TAG[$arg]:-}" ] || die "unknown image $arg (one of: ${ALL_IMAGES[*]})"
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
RUN_ID="$$"     # labels what the checks create, so it can all be removed
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
  check_cleanup
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
  docker info >/dev/null 2>&1 || bash "$HERE/../docker.sh" up
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
  local tarball=$1 root log="$LOG_DIR/debootstrap.log"
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

build_base() {
  local hash tarball
  hash=$(base_hash)
  BASE_HASH=$hash
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
  timed "import $BASE_TAG" run_logged "$LOG_DIR/import-base.log" docker import \
    --change "LABEL kit.inputs=$hash" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tarball" "$BASE_TAG"
}

# --- the images built on it ---------------------------------------------------

# stage_context NAME DIR: copies tests/images/NAME and what the image needs
# from the host into a throw-away build context.
stage_context() {
  local name=$1 ctx=$2
  cp -a "$HERE/$name/." "$ctx/"
  if [ "$name" = python ]; then
    # HTTPS from containers goes through an intercepting proxy that only the
    # host's bundle trusts.
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-certificates.crt"
  fi
}

context_hash() {
  local name=$1 ctx=$2
  {
    echo "image=$name tag=${TAG[$name]} base=$BASE_HASH"
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
  local log="$LOG_DIR/build-$name.log" cache_opt=()
  if $FORCE; then cache_opt=(--no-cache); fi
  say "building $tag from tests/images/$name (log: $log)"
  remember_old "$tag"
  # DOCKER_BUILDKIT=0: the classic builder, which Engine 20.10 always has.
  timed "build $tag" run_logged "$log" env DOCKER_BUILDKIT=0 docker build "${cache_opt[@]}" \
    --force-rm --label "kit.inputs=$hash" --label "kit.source=tests/images/$name" \
    -t "$tag" "$ctx"
}

# --- checks -------------------------------------------------------------------

CHECK_NET=""
check_cleanup() {
  docker ps -aq --filter "label=kit.check=$RUN_ID" 2>/dev/null | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=kit.check=$RUN_ID" 2>/dev/null | xargs -r docker volume rm >/dev/null 2>&1 || true
  [ -z "$CHECK_NET" ] || docker network rm "$CHECK_NET" >/dev/null 2>&1 || true
  CHECK_NET=""
}

fail() { printf 'build.sh: check failed: %s\n' "$*" >&2; exit 1; }
pass() { note "ok: $*"; }

# A container made by a check: labelled, on the check network.
crun() { docker run --label "kit.check=$RUN_ID" --network "$CHECK_NET" "$@"; }

# The servers are checked locked down the way compose files run them: a
# read-only root, every capability dropped but those needed to hand data
# directories to the service user and switch to it, no privilege gain.
HARDENED=(--read-only --cap-drop ALL --cap-add CHOWN --cap-add SETUID --cap-add SETGID
  --security-opt no-new-privileges:true)

# wait_until SECONDS WHAT COMMAND...: retries the command every half second.
wait_until() {
  local limit=$1 what=$2 t0=$EPOCHREALTIME
  shift 2
  until "$@" >/dev/null 2>&1; do
    if awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
      fail "$what: not within ${limit}s"
    fi
    sleep 0.5
  done
}

# stop_container NAME [CODE]: docker stop, which must end it cleanly (exit 0,
# or CODE) well before docker's 10 s grace period would turn into SIGKILL.
stop_container() {
  local name=$1 want=${2:-0} t0=$EPOCHREALTIME secs code
  docker stop "$name" >/dev/null
  secs=$(elapsed_since "$t0")
  code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
  [ "$code" = "$want" ] || fail "$name exited with $code on docker stop"
  awk -v s="$secs" 'BEGIN { exit !(s < 9) }' || fail "$name took ${secs}s to stop"
  pass "docker stop: exit $code in ${secs}s"
}

check_python() {
  local img=${TAG[python]} out ctx
  out=$(docker run --rm "$img" sh -c 'python --version && python3 --version && pip --version')
  note "${out//$'\n'/ | }"
  out=$(docker run --rm "$img" sh -c \
    'python -m venv /tmp/v && /tmp/v/bin/pip install -q --no-deps six && /tmp/v/bin/python -c "import six; print(six.__version__)"')
  pass "python -m venv + pip install six (through the proxy): six $out"
  # pip inside a build, system-wide as the official image allows (no PEP 668 block).
  scratch ctx
  printf 'FROM %s\nRUN pip install -q --no-cache-dir --no-deps six && python -c "import six"\n' "$img" \
    >"$ctx/Dockerfile"
  run_logged "$LOG_DIR/check-python-build.log" env DOCKER_BUILDKIT=0 docker build --no-cache \
    --force-rm --label "kit.check=$RUN_ID" -t "kit-check/python-pip:$RUN_ID" "$ctx"
  docker rmi "kit-check/python-pip:$RUN_ID" >/dev/null
  pass "pip install inside docker build"
}

psql_in() { # psql_in PASSWORD SQL: a client container connecting over the network as "kit"
  crun --rm -e PGPASSWORD="$1" "${TAG[postgres]}" psql -h db -U kit -d shop -v ON_ERROR_STOP=1 -tAXc "$2"
}

check_postgres() {
  local img=${TAG[postgres]} c="kit-check-pg-$RUN_ID" vol="kit-check-pgdata-$RUN_ID" out
  # No password: a clear refusal, not a server without one.
  if out=$(crun --rm -e POSTGRES_PASSWORD= "$img" 2>&1); then
    fail "postgres started with an empty POSTGRES_PASSWORD"
  fi
  grep -q POSTGRES_PASSWORD <<<"$out" || fail "no clear message for an empty password: $out"
  pass "empty POSTGRES_PASSWORD refused: $(grep -m1 POSTGRES_PASSWORD <<<"$out")"

  docker volume create --label "kit.check=$RUN_ID" "$vol" >/dev/null
  crun -d --name "$c" --network-alias db "${HARDENED[@]}" --tmpfs /var/run/postgresql --tmpfs /tmp \
    -v "$vol:/var/lib/postgresql/data" \
    -e POSTGRES_USER=kit -e POSTGRES_PASSWORD=kit-secret -e POSTGRES_DB=shop "$img" >/dev/null
  wait_until 90 "pg_isready on $c" docker exec "$c" pg_isready -q -h 127.0.0.1 -U kit -d shop
  out=$(psql_in kit-secret "SELECT current_user, current_database(), current_setting('server_version')")
  [ "${out%|*}" = "kit|shop" ] || fail "unexpected answer: $out"
  pass "first start: role kit, database shop, over TCP with the password (server $out)"
  if psql_in wrong-password "SELECT 1" >/dev/null 2>&1; then fail "a wrong password was accepted"; fi
  out=$(psql_in kit-secret "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'kit'")
  [ "$out" = 'SCRAM-SHA-256' ] || fail "password not stored as SCRAM: $out"
  pass "wrong password refused; password stored as SCRAM-SHA-256"
  out=$(docker exec "$c" stat -c '%U %a' /proc/1 /var/lib/postgresql/data | tr '\n' ' ')
  [ "$out" = "postgres 555 postgres 700 " ] || fail "server user / data dir: $out"
  pass "server runs as postgres; data dir owned by postgres, mode 700"
  psql_in kit-secret "CREATE TABLE kit_check (x int); INSERT INTO kit_check VALUES (42)" >/dev/null

  stop_container "$c"
  # (docker logs may trail the container's exit by a moment)
  wait_until 5 "a clean shutdown in the logs" \
    sh -c "docker logs $c 2>&1 | grep -q 'database system is shut down'"
  docker start "$c" >/dev/null
  wait_until 60 "pg_isready after restart" docker exec "$c" pg_isready -q -h 127.0.0.1 -U kit -d shop
  out=$(psql_in kit-secret "SELECT x FROM kit_check")
  [ "$out" = 42 ] || fail "data lost across a restart: $out"
  [ "$(docker logs "$c" 2>&1 | grep -c 'init process complete')" = 1 ] || fail "initialised twice"
  pass "restart on the existing data dir: no re-init, data kept"

  docker kill -s TERM "$c" >/dev/null
  out=$(timeout 20 docker wait "$c") || fail "still running 20s after SIGTERM"
  [ "$out" = 0 ] || fail "exit code $out on SIGTERM"
  pass "SIGTERM (no client connected): exit 0"
}

redis_in() { crun --rm "${TAG[redis]}" redis-cli --no-auth-warning "$@"; }

check_redis() {
  local img=${TAG[redis]} c="kit-check-redis-$RUN_ID" c2="kit-check-redis2-$RUN_ID" out
  crun -d --name "$c" --network-alias cache "${HARDENED[@]}" "$img" \
    redis-server --requirepass kit-secret --appendonly yes >/dev/null
  wait_until 30 "redis PING" sh -c "[ \"\$(docker exec $c redis-cli --no-auth-warning -a kit-secret ping)\" = PONG ]"
  out=$(redis_in -h cache -a kit-secret ping)
  [ "$out" = PONG ] || fail "PING from another container: $out"
  [ "$(redis_in -h cache ping 2>&1)" != PONG ] || fail "answered without the password"
  pass "--requirepass: PING answered from another container, refused without the password"
  out="$(redis_in -h cache -a kit-secret config get appendonly | tail -n 1) $(redis_in -h cache -a kit-secret config get dir | tail -n 1)"
  [ "$out" = "yes /data" ] || fail "appendonly, dir: $out"
  pass "--appendonly yes, dir /data"
  out=$(docker exec "$c" stat -c %U /proc/1)
  [ "$out" = redis ] || fail "redis-server runs as $out"
  pass "runs as user redis"
  redis_in -h cache -a kit-secret set kit-check 42 >/dev/null
  stop_container "$c"
  # Its data dir now holds the server's own 0700 appendonlydir.
  docker start "$c" >/dev/null
  wait_until 30 "redis PING after restart" sh -c "[ \"\$(docker exec $c redis-cli --no-auth-warning -a kit-secret ping)\" = PONG ]"
  out=$(redis_in -h cache -a kit-secret get kit-check)
  [ "$out" = 42 ] || fail "data lost across a restart: $out"
  pass "restart on its own data (AOF): key kept"

  # The default CMD: every interface, no protected mode, so a password-less
  # server still answers other containers (as the official image does).
  crun -d --name "$c2" --network-alias cache2 "$img" >/dev/null
  wait_until 30 "default CMD PING" sh -c "[ \"\$(docker exec $c2 redis-cli ping)\" = PONG ]"
  out=$(redis_in -h cache2 ping)
  [ "$out" = PONG ] || fail "default CMD from another container: $out"
  pass "default CMD: PING answered from another container"
}

check_nginx() {
  local img=${TAG[nginx]} c="kit-check-nginx-$RUN_ID" conf addr out
  scratch conf
  # A site of our own in conf.d proves the include.
  cat >"$conf/kit-check.conf" <<'EOF'
server {
    listen 8081;
    location = /kit-check { default_type text/plain; return 200 "kit-check ok\n"; }
}
EOF
  chmod 0755 "$conf"
  chmod 0644 "$conf/kit-check.conf"
  crun -d --name "$c" "${HARDENED[@]}" --cap-add NET_BIND_SERVICE \
    --tmpfs /var/cache/nginx --tmpfs /var/run \
    -v "$conf/kit-check.conf:/etc/nginx/conf.d/kit-check.conf:ro" \
    -p 127.0.0.1::80 -p 127.0.0.1::8081 "$img" >/dev/null
  addr=$(docker port "$c" 80/tcp | head -n 1)
  wait_until 20 "nginx on $addr" curl -fsS "http://$addr/"
  curl -fsS "http://$addr/" | grep -q 'kit-local nginx' || fail "default page not served"
  addr=$(docker port "$c" 8081/tcp | head -n 1)
  out=$(curl -fsS "http://$addr/kit-check")
  [ "$out" = "kit-check ok" ] || fail "conf.d site: $out"
  pass "read-only root + tmpfs, capabilities dropped: default site and a conf.d site answer on 127.0.0.1"
  docker logs "$c" 2>/dev/null | grep -q 'GET /kit-check' || fail "no access log on stdout"
  pass "access log on stdout"
  out=$(docker exec "$c" sh -c 'for p in /proc/[0-9]*; do
          case "$(tr "\0" " " <"$p/cmdline" 2>/dev/null)" in "nginx: worker"*) stat -c %U "$p";; esac
        done' | sort -u)
  [ "$out" = nginx ] || fail "workers run as: $out"
  pass "workers run as user nginx"
  stop_container "$c"
}

# How a systemd container runs on this host (see playbooks/sandbox.yml, which
# starts the sandbox VDS the same way): not --privileged (the host lacks
# CAP_SYS_RESOURCE, so docker fails with "unable to apply caps") but every
# other capability Engine 20.10 knows, one by one; no seccomp or apparmor
# profile; every device; the host's cgroup tree, writable; /run on tmpfs.
VDS_CAPS=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
  SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
  SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE
  MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)
VDS_RUN=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --device-cgroup-rule 'a *:* rwm' --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw
  --tmpfs /run --tmpfs /run/lock)
for cap in "${VDS_CAPS[@]}"; do VDS_RUN+=(--cap-add "$cap"); done

# system_state CONTAINER: what systemctl is-system-running says inside.
system_state() { docker exec "$1" systemctl is-system-running 2>/dev/null || true; }
booted() { case "$(system_state "$1")" in running | degraded) return 0 ;; esac; return 1; }

check_vds() {
  local img=${TAG[vds]} c="kit-check-vds-$RUN_ID" keys addr out t0
  # The image itself: no host keys, no machine id, no authorized key.
  out=$(docker run --rm "$img" sh -c 'ls /etc/ssh/ssh_host_* /etc/machine-id /root/.ssh/authorized_keys 2>/dev/null || true')
  [ -z "$out" ] || fail "the image carries: $out"
  pass "no SSH host key, machine id or authorized key in the image"

  t0=$EPOCHREALTIME
  crun -d --name "$c" --hostname vds "${VDS_RUN[@]}" -p 127.0.0.1::22 "$img" >/dev/null
  wait_until 60 "systemd running or degraded in $c" booted "$c"
  pass "systemd up in $(elapsed_since "$t0")s: $(system_state "$c")$(
    docker exec "$c" systemctl --failed --plain --no-legend | awk '{ printf " (failed: %s)", $1 }')"
  # What docker.service (and many servers) wait for must not wait here: the
  # engine has configured the network already.
  t0=$EPOCHREALTIME
  docker exec "$c" timeout 10 systemctl start network-online.target || fail "network-online.target not reached within 10s"
  pass "network-online.target reached in $(elapsed_since "$t0")s"

  # A throw-away operator key, copied in as a provider does.
  scratch keys
  ssh-keygen -q -t ed25519 -N '' -C kit-check -f "$keys/id_ed25519"
  docker exec "$c" install -d -m 0700 /root/.ssh
  docker cp "$keys/id_ed25519.pub" "$c:/root/.ssh/authorized_keys"
  docker exec "$c" sh -c 'chown root:root /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys'
  addr=$(docker port "$c" 22/tcp | head -n 1)
  local ssh_opts=(-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o ConnectTimeout=5 -p "${addr##*:}")
  local ssh_to=(ssh "${ssh_opts[@]}" -i "$keys/id_ed25519" "root@${addr%:*}")
  wait_until 30 "ssh on $addr" "${ssh_to[@]}" true
  out=$("${ssh_to[@]}" 'systemctl is-system-running; python3 --version; sudo -n true && echo sudo; hostname' | tr '\n' ' ')
  case "$out" in running\ Python\ 3.*\ sudo\ vds\ | degraded\ Python\ 3.*\ sudo\ vds\ ) ;;
    *) fail "over ssh: $out" ;; esac
  pass "ssh root@$addr with the key: $out"
  if ssh "${ssh_opts[@]}" -o PubkeyAuthentication=no "root@${addr%:*}" true 2>/dev/null; then
    fail "logged in without a key"
  fi
  pass "no login without the key"
  out=$(docker exec "$c" sshd -T | grep -E '^(permitrootlogin|passwordauthentication|kbdinteractiveauthentication) ' | tr '\n' ' ')
  [ "$out" = "permitrootlogin without-password passwordauthentication no kbdinteractiveauthentication no " ] ||
    fail "sshd allows more than keys: $out"
  pass "sshd -T: $out"
  out=$(docker exec "$c" sh -c 'cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' | tr '\n' ' ')
  grep -Eq '^[0-9a-f]{32} 256 SHA256:' <<<"$out" || fail "machine id / host key after the first boot: $out"
  pass "made at first boot: machine id and host key: $out"

  # A reboot (docker restart): the same machine comes back by itself.
  t0=$EPOCHREALTIME
  docker restart "$c" >/dev/null
  addr=$(docker port "$c" 22/tcp | head -n 1)
  ssh_opts[-1]=${addr##*:} # the published port may change with a restart
  ssh_to=(ssh "${ssh_opts[@]}" -i "$keys/id_ed25519" "root@${addr%:*}")
  wait_until 60 "ssh after docker restart" "${ssh_to[@]}" true
  pass "docker restart: ssh answers again after $(elapsed_since "$t0")s"
  wait_until 60 "systemd after docker restart" booted "$c"
  [ "$(docker exec "$c" sh -c 'cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' | tr '\n' ' ')" = "$out" ] ||
    fail "machine id or host key changed across a restart"
  pass "same machine id and host key after the restart; $(system_state "$c")"

  # SIGRTMIN+3 (STOPSIGNAL): systemd halts; its final reboot(2) in a PID
  # namespace ends the container as if by SIGINT: 130 is a clean halt (a
  # systemd that hung would be killed, 137, after 10 s).
  stop_container "$c" 130
}

run_checks() {
  local name
  for name in "${SELECTED[@]}"; do
    docker image inspect "${TAG[$name]}" >/dev/null 2>&1 || die "${TAG[$name]} is missing: run tests/images/build.sh"
  done
  CHECK_NET="kit-check-$RUN_ID"
  docker network create --label "kit.check=$RUN_ID" "$CHECK_NET" >/dev/null
  for name in "${SELECTED[@]}"; do
    say "checking ${TAG[$name]}"
    timed "check $name" "check_$name"
  done
  check_cleanup
}

# --- summary ------------------------------------------------------------------

versions_of() {
  case "$1" in
    python) docker run --rm "${TAG[python]}" sh -c 'python --version; pip --version | cut -d" " -f1,2' ;;
    postgres) docker run --rm "${TAG[postgres]}" postgres --version ;;
    redis) docker run --rm "${TAG[redis]}" redis-server --version | cut -d' ' -f1-3 ;;
    nginx) docker run --rm "${TAG[nginx]}" nginx -v 2>&1 ;;
    vds) docker run --rm "${TAG[vds]}" sh -c 'systemctl --version | head -n 1; ssh -V 2>&1 | cut -d, -f1; python3 --version' ;;
  esac | tr '\n' ' '
}

summary() {
  local name tag size i
  say "images"
  for tag in "$BASE_TAG" $(for name in "${SELECTED[@]}"; do echo "${TAG[$name]}"; done); do
    size=$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')
    printf '    %-30s %8s  %s\n' "$tag" "$size" "$(image_label "$tag")"
  done
  if $DO_CHECK; then
    say "versions inside"
    for name in "${SELECTED[@]}"; do printf '    %-9s %s\n' "$name" "$(versions_of "$name")"; done
  fi
  say "timings"
  for i in "${!STEP_NAMES[@]}"; do printf '    %-40s %7ss\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"; done
  printf '    %-40s %7ss\n' total "$(elapsed_since "$T_START")"
}

# --- main ---------------------------------------------------------------------

T_START=$EPOCHREALTIME
mkdir -p "$CACHE_DIR" "$LOG_DIR"
ensure_engine
BASE_HASH=$(base_hash)
if $DO_BUILD; then
  ensure_debootstrap
  build_base
  for name in "${SELECTED[@]}"; do build_image "$name"; done
  # Rebuilt images leave their old versions untagged: remove those.
  remove_old
fi
if $DO_CHECK; then run_checks; fi
summary
