#!/usr/bin/env bash
# Deploys the mesh on the lab with ansible-playbook, then shows that every pair answers.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
log=lab/state/site.log
mkdir -p lab/state

echo "== ansible-playbook wgmesh.wireguard.site -i inventories/lab (also in $log)"
start=$(date +%s.%N)
ansible-playbook wgmesh.wireguard.site -i inventories/lab 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
elapsed=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || python3 -c "print(round($(date +%s.%N)-$start,1))")
printf 'playbook: rc=%s, %.1f s\n' "$rc" "$elapsed"
if ((rc != 0)); then
  echo "the playbook failed (its output is above and in $log)"; exit "$rc"
fi

echo
echo "== ansible-playbook wgmesh.wireguard.verify -i inventories/lab (the product's own check)"
if ! ansible-playbook wgmesh.wireguard.verify -i inventories/lab 2>&1 | tee -a "$log"; then
  echo "verify failed (its output is above and in $log)"; exit 1
fi

sites=(dublin frankfurt newyork)
declare -A tunnel=([dublin]=10.99.0.1 [frankfurt]=10.99.0.2 [newyork]=10.99.0.3)
declare -A lanhost=([dublin]=10.10.0.10 [frankfurt]=10.20.0.10 [newyork]=10.30.0.10)
failures=0
cell() {  # site address
  if podman exec "wgmesh-$1" ping -c 1 -w 5 -q "$2" >/dev/null 2>&1; then printf '%-14s' ok
  else printf '%-14s' FAIL; failures=$((failures + 1)); fi
}

echo
echo "== and from outside Ansible: ping from each site (rows) to every other site's tunnel address and LAN host"
printf '%-11s' ""; for to in "${sites[@]}"; do printf '%-14s%-14s' "$to" "$to-lan"; done; echo
for from in "${sites[@]}"; do
  printf '%-11s' "$from"
  for to in "${sites[@]}"; do
    if [[ $from == "$to" ]]; then printf '%-14s%-14s' - -; continue; fi
    cell "$from" "${tunnel[$to]}"; cell "$from" "${lanhost[$to]}"
  done
  echo
done

echo
echo "== traceroute from frankfurt to newyork's LAN host (must go directly via 10.99.0.3)"
trace=$(podman exec wgmesh-frankfurt traceroute -n -q 1 -w 2 -m 5 "${lanhost[newyork]}" 2>&1)
echo "$trace"
first_hop=$(echo "$trace" | awk '$1 == "1" {print $2}')
if [[ $first_hop == 10.99.0.3 ]]; then echo "direct path: ok"
else echo "direct path: FAIL (first hop $first_hop)"; failures=$((failures + 1)); fi

echo
if ((failures)); then echo "demo: $failures check(s) failed"; exit 1; fi
echo "demo: every pair answers"
