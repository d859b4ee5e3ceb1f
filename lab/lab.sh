#!/usr/bin/env bash
# The local lab: Debian systemd containers as WireGuard sites, reached over SSH like real servers.
#   lab/lab.sh up [N] [--no-lan-hosts]   start N sites (default 3: dublin, frankfurt, newyork)
#   lab/lab.sh inventory N FILE          write an inventory for N sites
#   lab/lab.sh instances N               print molecule's instance config for N sites
#   lab/lab.sh down                      remove every lab container and network
# Site i: container wgmesh-<name>, WAN 10.249.0.(10+i), tunnel 10.99.0.i, LAN 10.(10*i).0.0/24
# (sites 26..50: 10.(10*(i-25)+5).0.0/24)
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
# WGMESH_LAB_WAN6="2 3:only" makes the lab dual-stack (ULA): the WAN gets fd77:249:K::/64 and
# site i fd77:249:K::(10+i) next to its IPv4 address (so every site can reach an IPv6-only one),
# each LAN fd77:<LAN's 2nd octet>:K::/64 (site ::1, LAN host ::10 with its IPv6 default route via
# the site), IPv6 forwarding is on. A listed site is published over IPv6 (`inventory` writes its
# IPv6 endpoint); "i:only" makes site i IPv6-only: a unit removes its IPv4 WAN address at every
# boot (wireguard-tools and wireguard-go are installed before, as the archive is reached over
# IPv4 only), and Ansible and molecule reach it at its IPv6 address.
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
read -r -a wan6_sites <<< "${WGMESH_LAB_WAN6:-}"
wan6=${wan6_sites[*]:+yes}
wan6_prefix="fd77:249:$index"
published_v6() { [[ " ${wan6_sites[*]} " == *" $1 "* || " ${wan6_sites[*]} " == *" $1:only "* ]]; }
v6_only() { [[ " ${wan6_sites[*]} " == *" $1:only "* ]]; }
lan6_net() { local net; net=$(lan_net "$1"); net=${net#10.}; echo "fd77:${net%.*}:$index"; }
# Where Ansible reaches site i.
site_host() { if v6_only "$1"; then echo "$wan6_prefix::$((10+$1))"; else echo "$wan_prefix.$((10+$1))"; fi; }
nat_net() { echo "172.$((15+$1)).$index"; }
site_image() { echo "${site_images[$1-1]:-$image}"; }
wan_net="$lab-wan"
wan_prefix="10.249.$index"
# The WAN is a 1400-byte underlay (as behind many tunnels and PPPoE links), so the tunnel MTU
# the role computes (1400 - 60 = 1340) is tested for real.
wan_mtu=1400
# Past 25 sites, 10*i would leave 10.0.0.0/8: sites 26..50 take 10.15, 10.25, ..., 10.255.
lan_net() { if (($1 <= 25)); then echo "10.$((10*$1)).$index"; else echo "10.$((10*($1-25)+5)).$index"; fi; }

site_name() {
  local names=(dublin frankfurt newyork)
  if (($1 <= 3)); then echo "${names[$1-1]}"; else echo "site$1"; fi
}

ensure_network() {  # name subnet gateway mtu [internal [subnet6 gateway6]]
  local name=$1 subnet=$2 gateway=$3 mtu=$4 internal=${5:-} subnet6=${6:-} gateway6=${7:-} v6=()
  [[ -z $subnet6 ]] || v6=(--ipv6 --subnet "$subnet6" --gateway "$gateway6")
  if podman network exists "$name"; then
    [[ "$(podman network inspect "$name" --format '{{range .Subnets}}{{.Subnet}}{{end}} {{.Options.mtu}}')" \
       == "$subnet$subnet6 $mtu" ]] && return 0
    podman network rm -f "$name" >/dev/null
  fi
  podman network create ${internal:+--internal} --subnet "$subnet" --gateway "$gateway" "${v6[@]}" --opt mtu="$mtu" \
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
attach() {  # network ip interface [ipv6]
  local IFS=.
  # shellcheck disable=SC2086
  printf '%s:ip=%s,interface_name=%s,mac=02:77:%02x:%02x:%02x:%02x' "$1" "$2" "$3" $2
  [[ -z ${4:-} ]] || printf ',ip=%s' "$4"
}

start_container() {  # name network-args...: a running container of the same image is kept
  local name=$1; shift
  local want
  want=$(podman image inspect --format '{{.Id}}' "${container_image:-$image}")
  if [[ "$(podman inspect --format '{{.State.Running}} {{.Image}}' "$name" 2>/dev/null)" == "true $want" ]]; then
    return 0
  fi
  # /proc/sys is read-only in the containers: the sysctls the role sets are set here (send_redirects
  # as on a relay, whose redirects would starve its ICMP errors to the sites it carries).
  podman run -d --replace --name "$name" --hostname "$name" "$@" \
    --cap-add NET_ADMIN --cap-add NET_RAW --device /dev/net/tun \
    --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv6.conf.all.disable_ipv6=0 \
    --sysctl net.ipv4.conf.all.rp_filter=1 --sysctl net.ipv4.conf.default.rp_filter=1 \
    --sysctl net.ipv4.conf.all.send_redirects=0 --sysctl net.ipv4.conf.default.send_redirects=0 \
    ${wan6:+--sysctl net.ipv6.conf.all.forwarding=1} \
    --systemd=always "${container_image:-$image}" /sbin/init >/dev/null
}

forget_ssh_masters() {  # count: ansible's ControlPersist masters to replaced containers hang
  local i
  for i in $(seq 1 "$1"); do
    ssh -o ControlPath="$HOME/.ansible/cp/%C" -O exit "root@$wan_prefix.$((10+i))" >/dev/null 2>&1 || true
    [[ -z $wan6 ]] || ssh -o ControlPath="$HOME/.ansible/cp/%C" -O exit "root@$wan6_prefix::$((10+i))" \
      >/dev/null 2>&1 || true
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

setup_v6_only() {  # name: no IPv4 address on the WAN, now and after every restart of the site
  wait_for "$lab-$1" systemctl is-active --quiet basic.target
  # The build machine reaches Debian's archive over IPv4 only: the site gets WireGuard's packages
  # while it still has its IPv4 address (a real IPv6-only server gets them over IPv6).
  podman exec "$lab-$1" sh -c 'command -v wg >/dev/null && command -v wireguard-go >/dev/null || {
    apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
      wireguard-tools wireguard-go; }' >/dev/null
  podman exec -i "$lab-$1" sh -c 'cat > /etc/systemd/system/lab-wan6-only.service && systemctl daemon-reload &&
    systemctl enable --now lab-wan6-only.service 2>/dev/null' <<EOF
[Unit]
Description=The lab's IPv6-only WAN: no IPv4 address on eth0
Before=network-online.target wg-quick@wg0.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip -4 addr flush dev eth0
[Install]
WantedBy=multi-user.target
EOF
}

# systemd in each container takes about 4 inotify instances; the kernel's default of 128 per
# user stops the 33rd container's systemd ("Failed to create inotify object").
raise_inotify_instances() {  # site count
  local key=fs.inotify.max_user_instances have need
  have=$(sysctl -n "$key")
  need=$((16 * $1))
  ((have >= need)) && return 0
  sysctl -qw "$key=$need" || { echo "lab: $1 sites need $key >= $need (now $have): sysctl -w $key=$need" >&2; exit 1; }
  echo "lab: $key raised from $have to $need for $1 sites"
}

# The kernel's neighbour tables are shared by all network namespaces: every site holds every
# other site's WAN address, so N sites need about N*N entries, past the default limit of 1024
# at 32 sites ("neighbor table overflow": SSH and tunnels time out on the lab WAN).
raise_neighbour_limits() {  # site count
  local need=$((4 * $1 * $1)) family level key
  for family in ipv4 ipv6; do
    for level in 1 2 3; do
      key=net.$family.neigh.default.gc_thresh$level
      (($(sysctl -n "$key") >= need * level / 4)) || sysctl -qw "$key=$((need * level / 4))" ||
        { echo "lab: $1 sites need $key >= $((need * level / 4))" >&2; exit 1; }
    done
  done
}

cmd_up() {
  local count=3 lan_hosts=1
  for arg in "$@"; do
    case $arg in
      --no-lan-hosts) lan_hosts=0 ;;
      *) count=$arg ;;
    esac
  done
  ((count >= 1 && count <= 50)) || { echo "lab: up takes 1 to 50 sites, not $count" >&2; exit 2; }
  raise_inotify_instances "$count"
  raise_neighbour_limits "$count"
  local suite
  for suite in $(for i in $(seq 1 "$count"); do site_image "$i"; done | sed 's/.*://' | sort -u); do
    "$here/build-image.sh" "$suite"
  done
  ssh_key
  forget_ssh_masters "$count"
  # podman's bridge plugin turns the host's IPv6 forwarding on (a host that forwards ignores
  # router advertisements): down puts back what the host had.
  [[ -z $wan6 || -e "$state/$lab.ipv6-forwarding" ]] || sysctl -n net.ipv6.conf.all.forwarding > "$state/$lab.ipv6-forwarding"
  ensure_network "$wan_net" "$wan_prefix.0/24" "$wan_prefix.1" "$wan_mtu" "" \
    ${wan6:+"$wan6_prefix::/64" "$wan6_prefix::1"}
  local i name
  for i in $(seq 1 "$count"); do
    name=$(site_name "$i")
    container_image=$(site_image "$i")
    ensure_network "$lab-lan-$name" "$(lan_net "$i").0/24" "$(lan_net "$i").254" 1500 internal \
      ${wan6:+"$(lan6_net "$i")::/64" "$(lan6_net "$i")::fe"}
    if behind_nat "$i"; then
      ensure_network "$lab-nat-$name" "$(nat_net "$i").0/24" "$(nat_net "$i").254" "$wan_mtu" internal
      start_container "$lab-$name-gw" --network "$(attach "$wan_net" "$wan_prefix.$((10+i))" eth0 \
        ${wan6:+"$wan6_prefix::$((10+i))"})" --network "$(attach "$lab-nat-$name" "$(nat_net "$i").1" eth1)"
      start_container "$lab-$name" --network "$(attach "$lab-nat-$name" "$(nat_net "$i").2" eth0)" \
        --network "$(attach "$lab-lan-$name" "$(lan_net "$i").1" eth1 ${wan6:+"$(lan6_net "$i")::1"})"
    else
      start_container "$lab-$name" --network "$(attach "$wan_net" "$wan_prefix.$((10+i))" eth0 \
        ${wan6:+"$wan6_prefix::$((10+i))"})" \
        --network "$(attach "$lab-lan-$name" "$(lan_net "$i").1" eth1 ${wan6:+"$(lan6_net "$i")::1"})"
    fi
    if ((lan_hosts)); then
      start_container "$lab-$name-lan" --network "$(attach "$lab-lan-$name" "$(lan_net "$i").10" eth0 \
        ${wan6:+"$(lan6_net "$i")::10"})"
    fi
  done
  for i in $(seq 1 "$count"); do
    name=$(site_name "$i")
    if behind_nat "$i"; then setup_nat "$i" "$name"; fi
    if v6_only "$i"; then setup_v6_only "$name"; fi
    wait_for "$lab-$name" systemctl is-active --quiet ssh.service
    podman exec -i "$lab-$name" sh -c \
      'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' < "$state/id_ed25519.pub"
    if ((lan_hosts)); then
      wait_for "$lab-$name-lan" ip link show
      podman exec "$lab-$name-lan" ip route replace default via "$(lan_net "$i").1"
      [[ -z $wan6 ]] || podman exec "$lab-$name-lan" ip -6 route replace default via "$(lan6_net "$i")::1"
    fi
    # Until duplicate address detection is done, an IPv6 address cannot be used.
    [[ -z $wan6 ]] || wait_for "$lab-$name" sh -c '! ip -6 addr show tentative | grep -q inet6'
  done
  # A replaced container may reuse an address whose old MAC the host still has cached.
  ip neigh flush to "$wan_prefix.0/24" 2>/dev/null || true
  [[ -z $wan6 ]] || ip -6 neigh flush to "$wan6_prefix::/64" 2>/dev/null || true
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
      echo "      ansible_host: $(site_host "$i")"
      if published_v6 "$i"; then
        echo "      wireguard_mesh_endpoint: $wan6_prefix::$((10+i))"
      else
        behind_nat "$i" || echo "      wireguard_mesh_endpoint: $wan_prefix.$((10+i))"
      fi
      echo "      wireguard_mesh_address: 10.99.0.$i"
      if [[ -n $wan6 ]]; then
        echo "      wireguard_mesh_address6: fd77:99::$i"
        echo "      wireguard_mesh_lan_cidrs: [$(lan_net "$i").0/24, $(lan6_net "$i")::/64]"
      else
        echo "      wireguard_mesh_lan_cidrs: [$(lan_net "$i").0/24]"
      fi
    done
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $state/id_ed25519"
    echo "    wireguard_mesh_network: 10.99.0.0/24"
    [[ -z $wan6 ]] || echo "    wireguard_mesh_network6: fd77:99::/64"
    echo "    wireguard_mesh_underlay_mtu: $wan_mtu"
  } > "$file"
}

cmd_instances() {  # count: molecule's instance config for the sites, as YAML
  local count=$1 i
  for i in $(seq 1 "$count"); do
    printf -- '- instance: '"$lab"'-%s\n  address: %s\n  user: root\n  port: 22\n  identity_file: %s\n' \
      "$(site_name "$i")" "$(site_host "$i")" "$state/id_ed25519"
  done
}

cmd_down() {
  forget_ssh_masters 20
  local ids nets
  mapfile -t ids < <(podman ps -a --filter name="^$lab-" --format '{{.Names}}')
  ((${#ids[@]} == 0)) || podman rm -f -t 2 "${ids[@]}" >/dev/null
  mapfile -t nets < <(podman network ls --format '{{.Name}}' | grep "^$lab-" || true)
  ((${#nets[@]} == 0)) || podman network rm -f "${nets[@]}" >/dev/null
  if [[ -e "$state/$lab.ipv6-forwarding" ]]; then
    sysctl -qw net.ipv6.conf.all.forwarding="$(cat "$state/$lab.ipv6-forwarding")" && rm -f "$state/$lab.ipv6-forwarding"
  fi
  echo "lab: down ($lab)"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  inventory) shift; cmd_inventory "$@" ;;
  instances) shift; cmd_instances "$@" ;;
  down) cmd_down ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
