"""newyork is really behind NAT (molecule.yml): a private address only, no endpoint in its peers'
configs, and its peers reach it where its router maps it, at a random port."""

import os
import re
import subprocess

CONTAINERS_CONF = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "lab", "containers.conf")
NEWYORK, OTHERS = "wgmesh-newyork", ("wgmesh-dublin", "wgmesh-frankfurt")
ROUTER_WAN = "10.249.0.13"


def on(site, command):
    proc = subprocess.run(["podman", "exec", site, "sh", "-c", command], capture_output=True, text=True, check=False,
                          env=dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF))
    assert proc.returncode == 0, (site, command, proc.stderr)
    return proc.stdout


def test_newyork_has_a_private_address_only():
    addresses = on(NEWYORK, "ip -4 -o addr show scope global | awk '{print $4}'").split()
    assert ROUTER_WAN + "/24" not in addresses and "172.18.0.2/24" in addresses, addresses
    assert on(NEWYORK, "ip route show default").startswith("default via 172.18.0.1 ")


def test_peers_reach_newyork_where_its_router_maps_it_without_a_configured_endpoint():
    key = on(NEWYORK, "wg show wg0 public-key").strip()
    ports = []
    for site in OTHERS:
        config = on(site, "cat /etc/wireguard/wg0.conf")
        section = next(part for part in config.split("[Peer]") if "PublicKey = %s" % key in part)
        assert "Endpoint" not in section, section
        live = dict(line.split("\t") for line in on(site, "wg show wg0 endpoints").splitlines())
        match = re.fullmatch(r"%s:(\d+)" % re.escape(ROUTER_WAN), live[key])
        assert match, live[key]
        ports.append(int(match.group(1)))
    # masquerade random: not the port newyork listens on.
    assert 51820 not in ports, ports
