#!/usr/bin/env bash
# A Docker daemon of the tests' own, for molecule's docker driver (see the shared lab facts:
# Debian's docker.io installs but runs no daemon here; one started by hand works).
#   scripts/docker-daemon.sh start   install docker.io if missing, start dockerd, import the
#                                    lab images (localhost/wgmesh-lab:<suite>) from podman
#   scripts/docker-daemon.sh stop    stop the daemon this script started (by its pid file)
# The daemon has its own socket, data root and pid file (nothing of a system Docker is touched)
# and no default bridge (--bridge=none): its containers are only on the networks molecule
# creates. Docker's own NAT and DNS stay on, as users have them: the role installs WireGuard
# from Debian's archive. Use it with
#   DOCKER_HOST=unix:///run/wgmesh-docker/docker.sock
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/lab/containers.conf}"
run=/run/wgmesh-docker
socket="unix://$run/docker.sock"
pidfile="$run/dockerd.pid"
data=/var/lib/wgmesh-docker
docker=/usr/bin/docker  # Debian's client, matching the daemon (another may come first in PATH)

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

cmd_start() {
  if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed"; then
    echo "docker: installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  mkdir -p "$run" "$data"
  if ! running; then
    echo "docker: starting dockerd ($socket, data in $data)"
    dockerd --host "$socket" --data-root "$data" --exec-root "$run/exec" --pidfile "$pidfile" \
      --bridge=none \
      >"$run/dockerd.log" 2>&1 &
  fi
  for _ in $(seq 1 60); do
    "$docker" -H "$socket" info >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$docker" -H "$socket" info >/dev/null || { tail -20 "$run/dockerd.log"; exit 1; }
  local suite image recipe
  for suite in "$@"; do
    image="localhost/wgmesh-lab:$suite"
    bash "$here/lab/build-image.sh" "$suite"
    recipe=$(podman image inspect --format '{{ index .Labels "wgmesh.recipe" }}' "$image")
    if [[ "$("$docker" -H "$socket" image inspect --format '{{ index .Config.Labels "wgmesh.recipe" }}' \
          "$image" 2>/dev/null)" != "$recipe" ]]; then
      echo "docker: importing $image (recipe $recipe) from podman"
      podman image mount "$image" >/dev/null
      tar -C "$(podman image mount "$image")" -c . | "$docker" -H "$socket" import \
        --change "LABEL wgmesh.recipe=$recipe" --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
      podman image unmount "$image" >/dev/null
    fi
  done
  echo "docker: ready ($socket)"
}

cmd_stop() {
  if running; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "docker: stopped dockerd (pid $pid)"
  else
    echo "docker: no dockerd of ours is running"
  fi
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
