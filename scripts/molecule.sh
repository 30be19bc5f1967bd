#!/usr/bin/env bash
# Runs molecule scenarios (molecule/*/molecule.yml) with `molecule test`, then
# prints each one's result and time.
#   scripts/molecule.sh              every scenario, in two lanes at once (below)
#   scripts/molecule.sh docker base  only those, one after another, output live
# NAME@12 runs scenario NAME on Debian 12 (KIT_VDS_IMAGE=kit-local/vds:12,
# built by `make vds12-image`) instead of 13.
#
# Every scenario: the long one (default, a whole site.yml) in one lane, the
# quick ones one after another in the other, each lane with its own VDS and
# SSH port (KIT_MOLECULE_SSH_PORT). Most of a scenario's time is spent waiting
# on SSH, apt and Docker, so on CI's two cores the lanes take about as long as
# default alone. A lane's output goes to .kit/molecule/RUN.log and is printed
# whole when the scenario ends, so that the two never interleave. base and
# base@12 share one scenario's name, container and state, so they stay in the
# same lane.
#
# Every scenario runs even when an earlier one fails; the exit code is 1 if any
# failed. Needs the venv (make venv), a Docker engine (make docker), the VDS
# image (make sandbox-image) and, for default, the stack's images (make images):
# `make molecule` sees to all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
# Plain output in logs (CI); colours on a terminal.
[ -t 1 ] || export NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0
# The two lanes of a full run, and their SSH ports.
LONG=(default) QUICK=(bad-input base base@12 docker)
LOGS=.kit/molecule
say() { printf '==> %s\n' "$*"; }

scenarios=("$@")
for run in "${scenarios[@]}"; do
  name=${run%@*}
  [ -f "molecule/$name/molecule.yml" ] || {
    echo "molecule.sh: no scenario $name (one of: $(cd molecule && ls -d */ | tr -d / | grep -vx shared | xargs))" >&2
    exit 2
  }
done

mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS/results"

# One scenario: molecule test on its platform and port; its result line goes
# to $LOGS/results and ends its output.
scenario() {
  local run=$1 port=$2 name=${1%@*} image=${KIT_VDS_IMAGE:-kit-local/vds:13} result started
  [ "$run" = "$name" ] || image=kit-local/vds:${run#*@}
  say "molecule test --scenario-name $name (platform $image, ssh port $port)"
  started=$(date +%s)
  KIT_MOLECULE_SSH_PORT=$port KIT_VDS_IMAGE=$image molecule test --scenario-name "$name" \
    && result=passed || result=FAILED
  result=$(printf '%-10s %-7s %4d s' "$run" "$result" "$(($(date +%s) - started))")
  echo "$result" >>"$LOGS/results"
  say "$result"
}

# A lane: its scenarios one after another, each one's output to its log,
# printed whole when it ends (one log at a time).
lane() {
  local port=$1 run
  shift
  for run in "$@"; do
    say "molecule $run: started (ssh port $port)"
    scenario "$run" "$port" >"$LOGS/$run.log" 2>&1
    flock "$LOGS/results.lock" cat "$LOGS/$run.log"
  done
}

if [ ${#scenarios[@]} -gt 0 ]; then
  for run in "${scenarios[@]}"; do scenario "$run" 2230; done
else
  # Both lanes' prepare steps make the operator's key when it is missing
  # (sandbox/handover.yml): made here first, so that they do not race.
  if [ ! -f .kit/ssh/id_ed25519 ]; then
    mkdir -p -m 0700 .kit/ssh
    ssh-keygen -q -t ed25519 -N '' -C 'kit operator (sandbox)' -f .kit/ssh/id_ed25519
  fi
  # Each lane in a process group of its own (job control), so that an
  # interrupt or a CI cancel stops both lanes' molecule runs, not only this.
  set -m
  lane 2230 "${LONG[@]}" &
  long=$!
  lane 2231 "${QUICK[@]}" &
  quick=$!
  set +m
  trap 'kill -TERM -- "-$long" "-$quick" 2>/dev/null; exit 130' INT TERM
  wait "$long" "$quick" || true
  trap - INT TERM
fi

say "molecule scenarios"
sed 's/^/    /' "$LOGS/results"
expected=$((${#scenarios[@]} ? ${#scenarios[@]} : ${#LONG[@]} + ${#QUICK[@]}))
[ "$(wc -l <"$LOGS/results")" -eq "$expected" ] || {
  echo "molecule.sh: $expected scenarios to run, and only those above ended" >&2
  exit 1
}
! grep -q ' FAILED ' "$LOGS/results"
