#!/usr/bin/env bash
# Runs molecule scenarios (molecule/*/molecule.yml) one after another with
# `molecule test`, then prints each one's result and time.
#   scripts/molecule.sh              every scenario: bad-input, base, base@12, docker, default
#   scripts/molecule.sh docker base  only those
# NAME@12 runs scenario NAME on Debian 12 (KIT_VDS_IMAGE=kit-local/vds:12,
# built by `make vds12-image`) instead of 13.
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
# Quick ones first: a broken role shows up before the long default scenario.
ALL=(bad-input base base@12 docker default)
say() { printf '==> %s\n' "$*"; }

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL[@]}")
for run in "${scenarios[@]}"; do
  name=${run%@*}
  [ -f "molecule/$name/molecule.yml" ] || {
    echo "molecule.sh: no scenario $name (one of: $(cd molecule && ls -d */ | tr -d / | xargs))" >&2
    exit 2
  }
done

results=()
failed=0
for run in "${scenarios[@]}"; do
  name=${run%@*} image=${KIT_VDS_IMAGE:-kit-local/vds:13}
  [ "$run" = "$name" ] || image=kit-local/vds:${run#*@}
  say "molecule test --scenario-name $name (platform $image)"
  started=$(date +%s)
  if KIT_VDS_IMAGE=$image molecule test --scenario-name "$name"; then result=passed; else result=FAILED; failed=1; fi
  results+=("$(printf '%-10s %-7s %4d s' "$run" "$result" "$(($(date +%s) - started))")")
done

say "molecule scenarios"
printf '    %s\n' "${results[@]}"
exit "$failed"
