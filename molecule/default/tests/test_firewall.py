"""Firewall (nftables backend, auto-detected), MTU and source restriction on the lab."""

import os
import re
import subprocess
import time

from labtools import ENV, podman, site_playbook, spoofed_ping

SITES = {"wgmesh-dublin": "10.99.0.1", "wgmesh-frankfurt": "10.99.0.2", "wgmesh-newyork": "10.99.0.3"}
TUNNEL_MTU = 1340  # lab WAN MTU 1400 - 60
IMAGE = os.environ.get("WGMESH_LAB_IMAGE", "localhost/wgmesh-lab:bookworm")


def ruleset(site):
    return podman("exec", site, "nft", "list", "ruleset").stdout


def test_rules_exist_once_after_down_up_cycles_and_playbook_runs():
    before = {site: ruleset(site) for site in SITES}
    for site, text in before.items():
        assert text.count("table inet wgmesh") == 1, site
        assert len(re.findall(r"udp dport 51820 accept", text)) == 1, site
        assert len(re.findall(r'iifname "wg0" accept', text)) == 1, site
        assert len(re.findall(r'oifname "wg0" accept', text)) == 1, site
        assert re.search(r'iifname != "wg0" ip daddr %s fib saddr type != local drop' % SITES[site], text), site
    for _cycle in range(5):
        down = podman("exec", "wgmesh-frankfurt", "wg-quick", "down", "wg0")
        assert down.returncode == 0, down.stderr
        up = podman("exec", "wgmesh-frankfurt", "wg-quick", "up", "wg0")
        assert up.returncode == 0, up.stderr
    out = site_playbook()
    assert re.search(r"wgmesh-frankfurt\s+: ok=\d+\s+changed=0", out), out[-1500:]
    after = {site: ruleset(site) for site in SITES}
    assert after == before


def test_tunnel_mtu_from_the_underlay_and_df_pings():
    for site in SITES:
        mtu = podman("exec", site, "cat", "/sys/class/net/wg0/mtu").stdout.strip()
        assert mtu == str(TUNNEL_MTU), site
    payload = TUNNEL_MTU - 28  # IPv4 20 + ICMP 8
    for site in SITES:
        for other, address in SITES.items():
            if other == site:
                continue
            fits = podman("exec", site, "ping", "-c", "1", "-w", "5", "-M", "do", "-s", str(payload), address)
            assert fits.returncode == 0, (site, address, fits.stdout + fits.stderr)
            too_big = podman("exec", site, "ping", "-c", "1", "-w", "2", "-M", "do", "-s", str(payload + 1), address)
            assert too_big.returncode != 0, (site, address)


def test_forwarding_sysctls_are_persisted():
    for site in SITES:
        conf = podman("exec", site, "cat", "/etc/sysctl.d/99-wireguard.conf").stdout
        assert "net.ipv4.ip_forward = 1" in conf and "net.ipv4.conf.all.rp_filter = 1" in conf, site
        assert podman("exec", site, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"


def drop_counter(site):
    match = re.search(r"udp dport 51820 counter packets (\d+) bytes \d+ drop", ruleset(site))
    return int(match.group(1)) if match else None


def test_restricted_sources_drop_strangers_and_keep_the_mesh():
    site_playbook("-e", "wireguard_mesh_firewall_restrict_sources=true")
    try:
        text = ruleset("wgmesh-newyork")
        assert "10.249.0.11" in text and "10.249.0.12" in text
        before = drop_counter("wgmesh-newyork")
        assert before is not None, text
        # A container on the WAN that is no site: its packets to newyork's WireGuard port are dropped.
        stranger = podman("run", "--rm", "--network", "wgmesh-wan:ip=10.249.0.200", IMAGE, "bash", "-c",
                          "for i in 1 2 3; do echo probe > /dev/udp/10.249.0.13/51820; done")
        assert stranger.returncode == 0, stranger.stderr
        time.sleep(1)
        assert drop_counter("wgmesh-newyork") >= before + 3
        for site in SITES:
            for other, address in SITES.items():
                if other != site:
                    ping = podman("exec", site, "ping", "-c", "1", "-w", "5", "-q", address)
                    assert ping.returncode == 0, (site, address)
    finally:
        site_playbook()
    assert drop_counter("wgmesh-newyork") is None


def test_rules_survive_a_restart():
    assert podman("restart", "-t", "5", "wgmesh-frankfurt").returncode == 0
    deadline = time.time() + 60
    while time.time() < deadline and "table inet wgmesh" not in ruleset("wgmesh-frankfurt"):
        time.sleep(1)
    assert "udp dport 51820 accept" in ruleset("wgmesh-frankfurt")
    ping = podman("exec", "wgmesh-dublin", "ping", "-c", "1", "-w", "30", "-q", "10.99.0.2")
    assert ping.returncode == 0


def test_packets_for_the_tunnel_address_from_outside_the_tunnel_are_dropped():
    # Without the rule newyork would answer: Linux accepts a packet for any of its addresses on
    # any interface, and strict rp_filter passes it (the stranger is reachable via the WAN).
    spoof = ("wgmesh-wan", "10.249.0.201", "10.249.0.13", SITES["wgmesh-newyork"])
    assert spoofed_ping(IMAGE, *spoof) == (False, True)
    assert podman("exec", "wgmesh-newyork", "nft", "flush", "chain", "inet", "wgmesh", "preraw").returncode == 0
    try:
        assert spoofed_ping(IMAGE, *spoof) == (True, True)  # the control: the rule is what drops
    finally:
        assert podman("exec", "wgmesh-newyork", "nft", "-f", "/etc/wireguard/wgmesh-firewall.nft").returncode == 0
    assert spoofed_ping(IMAGE, *spoof) == (False, True)


def echo_requests_from(site, source):
    """Echo requests from ``source`` that arrived through the tunnel (the counter of the test's own table)."""
    match = re.search(r"ip saddr %s icmp type echo-request counter packets (\d+)" % re.escape(source), ruleset(site))
    return int(match.group(1)) if match else None


def test_masquerade_hides_the_lan_hosts_behind_the_tunnel_address():
    """wireguard_mesh_masquerade on: what Dublin's LAN host sends into the tunnel reaches Frankfurt
    from Dublin's tunnel address; off again: from the LAN host's own address."""
    counters = ("table inet masqtest {\n  chain pre {\n    type filter hook prerouting priority -300;\n"
                '    iifname "wg0" ip saddr 10.99.0.1 icmp type echo-request counter\n'
                '    iifname "wg0" ip saddr 10.10.0.10 icmp type echo-request counter\n  }\n}\n')
    load = subprocess.run(["podman", "exec", "-i", "wgmesh-frankfurt", "nft", "-f", "-"], input=counters, text=True,
                          capture_output=True, env=ENV, check=False)
    assert load.returncode == 0, load.stderr
    try:
        site_playbook("-e", "wireguard_mesh_masquerade=true")
        assert "masquerade" in ruleset("wgmesh-dublin")
        assert podman("exec", "wgmesh-dublin-lan", "ping", "-c", "3", "-w", "5", "10.20.0.10").returncode == 0
        assert echo_requests_from("wgmesh-frankfurt", "10.99.0.1") >= 3
        assert echo_requests_from("wgmesh-frankfurt", "10.10.0.10") == 0
        site_playbook()
        assert "masquerade" not in ruleset("wgmesh-dublin")
        assert podman("exec", "wgmesh-dublin-lan", "ping", "-c", "3", "-w", "5", "10.20.0.10").returncode == 0
        assert echo_requests_from("wgmesh-frankfurt", "10.10.0.10") >= 3
    finally:
        podman("exec", "wgmesh-frankfurt", "nft", "delete", "table", "inet", "masqtest")
        site_playbook()
