#!/usr/bin/env bash
# The local lab: Debian systemd containers as WireGuard sites, reached over SSH like real servers.
#   lab/lab.sh up [N] [--no-lan-hosts]   start N sites (default 3: dublin, frankfurt, newyork)
#   lab/lab.sh inventory N FILE          write an inventory for N sites
#   lab/lab.sh instances N               print molecule's instance config for N sites
#   lab/lab.sh down                      remove every lab container and network
# Site i: container wgmesh-<name>, WAN 10.249.0.(10+i), tunnel 10.99.0.i, LAN 10.(10*i).0.0/24
# with the site at .1 and, unless --no-lan-hosts, a LAN host wgmesh-<name>-lan at .10 whose
# default route is its site. Re-running keeps running containers of the current image and
# replaces other same-named ones.
# Several labs can run side by side: WGMESH_LAB=NAME (prefix of containers and networks,
# default wgmesh) with WGMESH_LAB_INDEX=K (1..200) uses WAN 10.249.K.0/24 and LANs
# 10.(10*i).K.0/24. WGMESH_LAB_IMAGES="IMAGE1 IMAGE2 ..." gives site i (and its LAN host) its
# own image, e.g. localhost/wgmesh-lab:trixie (Debian 13) among bookworm sites; sites past the
# list use WGMESH_LAB_IMAGE. Each image is localhost/wgmesh-lab:<suite>, built by build-image.sh.
# WGMESH_LAB_NAT="3 ..." puts those sites behind NAT: a router container <site>-gw holds the
# site's WAN address and masquerades the site (private 172.(15+i).K.2, behind 172.(15+i).K.1)
# with random source ports, as carrier NAT does; it forwards only TCP 22 to the site (so Ansible
# still reaches it at its WAN address), no WireGuard port: the site has no public endpoint.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
state="$here/state"
image="${WGMESH_LAB_IMAGE:-localhost/wgmesh-lab:bookworm}"
lab="${WGMESH_LAB:-wgmesh}"
index="${WGMESH_LAB_INDEX:-0}"
read -r -a site_images <<< "${WGMESH_LAB_IMAGES:-}"
read -r -a nat_sites <<< "${WGMESH_LAB_NAT:-}"
behind_nat() { [[ " ${nat_sites[*]} " == *" $1 "* ]]; }
nat_net() { echo "172.$((15+$1)).$index"; }
site_image() { echo "${site_images[$1-1]:-$image}"; }
wan_net="$lab-wan"
wan_prefix="10.249.$index"
# The WAN is a 1400-byte underlay (as behind many tunnels and PPPoE links), so the tunnel MTU
# the role computes (1400 - 60 = 1340) is tested for real.
wan_mtu=1400
lan_net() { echo "10.$((10*$1)).$index"; }

site_name() {
  local names=(dublin frankfurt newyork)
  if (($1 <= 3)); then echo "${names[$1-1]}"; else echo "site$1"; fi
}

ensure_network() {  # name subnet gateway mtu [internal]
  local name=$1 subnet=$2 gateway=$3 mtu=$4 internal=${5:-}
  if podman network exists "$name"; then
    [[ "$(podman network inspect "$name" --format '{{range .Subnets}}{{.Subnet}}{{end}} {{.Options.mtu}}')" \
       == "$subnet $mtu" ]] && return 0
    podman network rm -f "$name" >/dev/null
  fi
  podman network create ${internal:+--internal} --subnet "$subnet" --gateway "$gateway" --opt mtu="$mtu" \
    "$name" >/dev/null
}

ssh_key() {
  mkdir -p "$state"
  [[ -f "$state/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C wgmesh-lab -f "$state/id_ed25519"
}

# A network attachment with a fixed address, interface name and a MAC derived from the address,
# as a server has: a restarted site keeps its MAC (podman would pick a new one, and the
# neighbours' ARP caches would point at the old one for seconds), and the WAN is always eth0
# (podman's order of two networks is not fixed).
attach() {  # network ip interface
  local IFS=.
  # shellcheck disable=SC2086
  printf '%s:ip=%s,interface_name=%s,mac=02:77:%02x:%02x:%02x:%02x' "$1" "$2" "$3" $2
}

start_container() {  # name network-args...: a running container of the same image is kept
  local name=$1; shift
  local want
  want=$(podman image inspect --format '{{.Id}}' "${container_image:-$image}")
  if [[ "$(podman inspect --format '{{.State.Running}} {{.Image}}' "$name" 2>/dev/null)" == "true $want" ]]; then
    return 0
  fi
  podman run -d --replace --name "$name" --hostname "$name" "$@" \
    --cap-add NET_ADMIN --cap-add NET_RAW --device /dev/net/tun \
    --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv6.conf.all.disable_ipv6=0 \
    --sysctl net.ipv4.conf.all.rp_filter=1 --sysctl net.ipv4.conf.default.rp_filter=1 \
    --systemd=always "${container_image:-$image}" /sbin/init >/dev/null
}

forget_ssh_masters() {  # count: ansible's ControlPersist masters to replaced containers hang
  local i
  for i in $(seq 1 "$1"); do
    ssh -o ControlPath="$HOME/.ansible/cp/%C" -O exit "root@$wan_prefix.$((10+i))" >/dev/null 2>&1 || true
  done
}

wait_for() {  # name command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    podman exec "$name" "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "lab: $name did not come up ($*)" >&2
  return 1
}

setup_nat() {  # index name: the router's NAT, and the site's default route through it (a unit, so
  # that it survives a restart of the site)
  local private
  private=$(nat_net "$1")
  wait_for "$lab-$2-gw" nft list tables
  podman exec -i "$lab-$2-gw" nft -f - <<EOF
table ip lab-nat
delete table ip lab-nat
table ip lab-nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    iifname "eth0" tcp dport 22 dnat to $private.2
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "eth0" ip saddr $private.0/24 masquerade random
  }
}
EOF
  wait_for "$lab-$2" systemctl is-active --quiet basic.target
  podman exec -i "$lab-$2" sh -c 'cat > /etc/systemd/system/lab-nat-route.service && systemctl daemon-reload &&
    systemctl enable --now lab-nat-route.service 2>/dev/null' <<EOF
[Unit]
Description=Default route through the lab's NAT router
Before=network-online.target wg-quick@wg0.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip route replace default via $private.1
[Install]
WantedBy=multi-user.target
EOF
}

cmd_up() {
  local count=3 lan_hosts=1
  for arg in "$@"; do
    case $arg in
      --no-lan-hosts) lan_hosts=0 ;;
      *) count=$arg ;;
    esac
  done
  local suite
  for suite in $(for i in $(seq 1 "$count"); do site_image "$i"; done | sed 's/.*://' | sort -u); do
    "$here/build-image.sh" "$suite"
  done
  ssh_key
  forget_ssh_masters "$count"
  ensure_network "$wan_net" "$wan_prefix.0/24" "$wan_prefix.1" "$wan_mtu"
  local i name
  for i in $(seq 1 "$count"); do
    name=$(site_name "$i")
    container_image=$(site_image "$i")
    ensure_network "$lab-lan-$name" "$(lan_net "$i").0/24" "$(lan_net "$i").254" 1500 internal
    if behind_nat "$i"; then
      ensure_network "$lab-nat-$name" "$(nat_net "$i").0/24" "$(nat_net "$i").254" "$wan_mtu" internal
      start_container "$lab-$name-gw" --network "$(attach "$wan_net" "$wan_prefix.$((10+i))" eth0)" \
        --network "$(attach "$lab-nat-$name" "$(nat_net "$i").1" eth1)"
      start_container "$lab-$name" --network "$(attach "$lab-nat-$name" "$(nat_net "$i").2" eth0)" \
        --network "$(attach "$lab-lan-$name" "$(lan_net "$i").1" eth1)"
    else
      start_container "$lab-$name" --network "$(attach "$wan_net" "$wan_prefix.$((10+i))" eth0)" \
        --network "$(attach "$lab-lan-$name" "$(lan_net "$i").1" eth1)"
    fi
    if ((lan_hosts)); then
      start_container "$lab-$name-lan" --network "$(attach "$lab-lan-$name" "$(lan_net "$i").10" eth0)"
    fi
  done
  for i in $(seq 1 "$count"); do
    name=$(site_name "$i")
    if behind_nat "$i"; then setup_nat "$i" "$name"; fi
    wait_for "$lab-$name" systemctl is-active --quiet ssh.service
    podman exec -i "$lab-$name" sh -c \
      'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' < "$state/id_ed25519.pub"
    if ((lan_hosts)); then
      wait_for "$lab-$name-lan" ip link show
      podman exec "$lab-$name-lan" ip route replace default via "$(lan_net "$i").1"
    fi
  done
  # A replaced container may reuse an address whose old MAC the host still has cached.
  ip neigh flush to "$wan_prefix.0/24" 2>/dev/null || true
  echo "lab: $count sites up ($lab)"
}

cmd_inventory() {  # count file
  local count=$1 file=$2 i name
  mkdir -p "$(dirname "$file")"
  {
    echo "# Generated by lab/lab.sh inventory $count"
    echo "wireguard_mesh:"
    echo "  hosts:"
    for i in $(seq 1 "$count"); do
      name=$(site_name "$i")
      echo "    $lab-$name:"
      echo "      ansible_host: $wan_prefix.$((10+i))"
      behind_nat "$i" || echo "      wireguard_mesh_endpoint: $wan_prefix.$((10+i))"
      echo "      wireguard_mesh_address: 10.99.0.$i"
      echo "      wireguard_mesh_lan_cidrs: [$(lan_net "$i").0/24]"
    done
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $state/id_ed25519"
    echo "    wireguard_mesh_network: 10.99.0.0/24"
    echo "    wireguard_mesh_underlay_mtu: $wan_mtu"
  } > "$file"
}

cmd_instances() {  # count: molecule's instance config for the sites, as YAML
  local count=$1 i
  for i in $(seq 1 "$count"); do
    printf -- '- instance: '"$lab"'-%s\n  address: %s\n  user: root\n  port: 22\n  identity_file: %s\n' \
      "$(site_name "$i")" "$wan_prefix.$((10+i))" "$state/id_ed25519"
  done
}

cmd_down() {
  forget_ssh_masters 20
  local ids nets
  mapfile -t ids < <(podman ps -a --filter name="^$lab-" --format '{{.Names}}')
  ((${#ids[@]} == 0)) || podman rm -f -t 2 "${ids[@]}" >/dev/null
  mapfile -t nets < <(podman network ls --format '{{.Name}}' | grep "^$lab-" || true)
  ((${#nets[@]} == 0)) || podman network rm -f "${nets[@]}" >/dev/null
  echo "lab: down ($lab)"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  inventory) shift; cmd_inventory "$@" ;;
  instances) shift; cmd_instances "$@" ;;
  down) cmd_down ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
