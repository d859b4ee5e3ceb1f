#!/usr/bin/env bash
# The lab scenarios of `make test`: default, firewalld, nat, relay, ipv6, debian, then the registry scenario
# (a skip with its reason where no registry is reachable); or only the scenarios named as
# arguments. Every scenario runs even when an earlier one failed; each one's output goes to the
# terminal and to build/logs/molecule-NAME.log. When any failed, the failing tests' reports
# come last, where a CI log's tail shows them.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
logs=build/logs
mkdir -p "$logs"
failed=()
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(default firewalld nat relay ipv6 debian registry)
for name in "${scenarios[@]}"; do
  # The verifier's pytest also writes a JUnit report: molecule's boxed, wrapped output is no
  # place to read a failure from.
  rm -f "$logs/molecule-$name.junit.xml"
  if [[ $name == registry ]]; then
    command=(bash scripts/molecule-registry.sh podman)  # exit 77: skipped, with the reason
  else
    command=(molecule test -s "$name")
  fi
  COLUMNS=160 PYTEST_ADDOPTS="--junitxml=$PWD/$logs/molecule-$name.junit.xml" \
    "${command[@]}" 2>&1 | tee "$logs/molecule-$name.log"
  rc=${PIPESTATUS[0]}
  # Outside a git checkout molecule does not find .config/molecule/config.yml: its verify step
  # then reports "Missing playbook" and the scenario still counts as successful, with no test run.
  if ((rc == 0)) && [[ $name != registry ]] && ! [[ -s $logs/molecule-$name.junit.xml ]]; then
    echo "molecule-all: scenario $name ran no test (no JUnit report; is this a git checkout?)" >&2
    rc=1
  fi
  if ((rc != 0)) && ! [[ $rc == 77 && $name == registry ]]; then failed+=("$name"); fi
done

((${#failed[@]} == 0)) && exit 0
echo
echo "======== molecule: FAILED scenario(s): ${failed[*]} (full logs in $logs/) ========"
for name in "${failed[@]}"; do
  log="$logs/molecule-$name.log"
  echo "---- $name: failing step ----"
  sed 's/\x1b\[[0-9;]*m//g' "$log" 2>/dev/null | grep -E 'Executed: Failed' | head -3
  if [[ -s $logs/molecule-$name.junit.xml ]]; then
    python3 scripts/junit_failures.py "$logs/molecule-$name.junit.xml"
  else
    # The verifier did not run (create, converge or idempotence failed): the failed tasks.
    sed 's/\x1b\[[0-9;]*m//g' "$log" 2>/dev/null | grep -E -A12 '(fatal|failed): \[|Idempotence test failed' \
      | tail -40 | cut -c1-2000
  fi
done
exit 1
