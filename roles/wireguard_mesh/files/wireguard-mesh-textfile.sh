#!/bin/sh
# wgmesh.wireguard: write the metrics of one WireGuard interface's peers for node_exporter's
# textfile collector, with mdlayher's wireguard_exporter's metric names and labels (device,
# public_key) plus the peer's site name (name), and the mesh's completeness:
#   wireguard_mesh_peers_expected  sites of the mesh minus this one (lines of NAMES_FILE)
#   wireguard_mesh_peers           peers on the interface (0 when it is down)
# Reads only public data (wg show <iface> public-key, latest-handshakes, transfer,
# allowed-ips, endpoints): no private key or PSK ever passes through this script.
# The file is written next to its destination and renamed over it (atomic for readers).
# Usage: wireguard-mesh-textfile INTERFACE NAMES_FILE TEXTFILE_DIR
set -eu
[ $# -eq 3 ] || { echo "usage: $0 INTERFACE NAMES_FILE TEXTFILE_DIR" >&2; exit 2; }
iface=$1 names=$2 dir=$3
[ -r "$names" ] || names=/dev/null
out="$dir/wireguard_mesh_$iface.prom"
tmp="$dir/.wireguard_mesh_$iface.prom.$$"
trap 'rm -f "$tmp"' EXIT
umask 022

live() {
  pub=$(wg show "$iface" public-key 2>/dev/null) || return 0
  printf 'device\t%s\n' "$pub"
  for what in latest-handshakes transfer allowed-ips endpoints; do
    wg show "$iface" "$what" | sed "s/^/$what	/"
  done
}

live | awk -v iface="$iface" '
function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\n/, "\\n", s); return s }
function head(metric, kind, help) { printf "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, kind }
function labels(key) { return "device=\"" esc(iface) "\",public_key=\"" esc(key) "\",name=\"" esc(name[key]) "\"" }
FILENAME != "-" { if (NF >= 2 && $1 !~ /^#/) { key = $1; sub(/^[^ \t]+[ \t]+/, ""); name[key] = $0; expected++ } next }
{ split($0, f, "\t") }
f[1] == "device" { device = f[2]; up = 1 }
f[1] == "latest-handshakes" { peers[f[2]] = 1; handshake[f[2]] = f[3] }
f[1] == "transfer" { rx[f[2]] = f[3]; tx[f[2]] = f[4] }
f[1] == "allowed-ips" { ips[f[2]] = (f[3] == "(none)") ? "" : f[3] }
f[1] == "endpoints" { endpoint[f[2]] = (f[3] == "(none)") ? "" : f[3] }
END {
  count = 0
  for (k in peers) count++
  head("wireguard_mesh_peers_expected", "gauge", "Peers this site should have: the other sites of the mesh (wgmesh.wireguard).")
  printf "wireguard_mesh_peers_expected{device=\"%s\"} %d\n", esc(iface), expected
  head("wireguard_mesh_peers", "gauge", "Peers on the interface, 0 when it is down (wgmesh.wireguard).")
  printf "wireguard_mesh_peers{device=\"%s\"} %d\n", esc(iface), count
  head("wireguard_mesh_interface_up", "gauge", "Whether the WireGuard interface is up (wgmesh.wireguard).")
  printf "wireguard_mesh_interface_up{device=\"%s\"} %d\n", esc(iface), up
  if (!up) exit
  head("wireguard_device_info", "gauge", "Metadata about a device.")
  printf "wireguard_device_info{device=\"%s\",public_key=\"%s\"} 1\n", esc(iface), esc(device)
  if (!count) exit
  head("wireguard_peer_info", "gauge", "Metadata about a peer. The public_key label on peer metrics refers to the peer'"'"'s public key; not the device'"'"'s public key.")
  for (k in peers) {
    n = split(ips[k], list, " ")
    joined = ""
    for (i = 1; i <= n; i++) joined = joined (i > 1 ? "," : "") list[i]
    printf "wireguard_peer_info{%s,allowed_ips=\"%s\",endpoint=\"%s\"} 1\n", labels(k), esc(joined), esc(endpoint[k])
    allowed[k] = n
  }
  head("wireguard_peer_allowed_ips_count", "gauge", "Number of allowed IPs (CIDRs) of a given peer.")
  for (k in peers) printf "wireguard_peer_allowed_ips_count{%s} %d\n", labels(k), allowed[k]
  head("wireguard_peer_last_handshake_seconds", "gauge", "UNIX timestamp for the last handshake with a given peer.")
  for (k in peers) printf "wireguard_peer_last_handshake_seconds{%s} %s\n", labels(k), handshake[k]
  head("wireguard_peer_receive_bytes_total", "counter", "Number of bytes received from a given peer.")
  for (k in peers) printf "wireguard_peer_receive_bytes_total{%s} %s\n", labels(k), (rx[k] == "" ? 0 : rx[k])
  head("wireguard_peer_transmit_bytes_total", "counter", "Number of bytes transmitted to a given peer.")
  for (k in peers) printf "wireguard_peer_transmit_bytes_total{%s} %s\n", labels(k), (tx[k] == "" ? 0 : tx[k])
}' "$names" - > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$out"
