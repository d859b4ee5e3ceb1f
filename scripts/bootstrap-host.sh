#!/usr/bin/env bash
# Installs what the lab and the tests need on a Debian 12 build machine (as root).
# Idempotent: re-running installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(podman runc debootstrap wireguard-tools wireguard-go iproute2 openssh-client
          iputils-ping rsync git make
          prometheus nftables   # promtool for the alert rule tests; nft blocks a pair in the lab
          shellcheck)           # ansible-test sanity skips its shellcheck test without it
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Only promtool is needed: do not leave a Prometheus server running on the build machine.
  if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi

make_venv() {  # directory requirements-file
  local dir=$1 requirements=$2
  if [[ ! -x $dir/bin/python || $requirements -nt $dir/.installed ]]; then
    echo "bootstrap: creating $dir from $requirements"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q -r "$requirements"
    touch "$dir/.installed"
  fi
}
make_venv .venv requirements.txt
make_venv .venv-docs requirements-docs.txt
# The oldest ansible-core the collection supports (meta/runtime.yml), for its sanity tests.
make_venv .venv-oldest requirements-oldest.txt

# The collection is used by its FQCN from a checkout: expose the repo as
# ansible_collections/wgmesh/wireguard.
mkdir -p .collections/ansible_collections/wgmesh
ln -sfn ../../.. .collections/ansible_collections/wgmesh/wireguard
