"""The iptables and ufw backends, run for real on one site of the lab, then back to nftables;
each switch removes the previous backend's rules and file. Both start from an admin's firewall
that drops what it does not allow (iptables: INPUT and FORWARD policy DROP with Docker's
DOCKER-USER chain, which makes `auto` pick iptables and the nftables backend refuse; ufw: deny
incoming and routed); the site's own pings and its LAN's traffic forwarded through it must pass."""

import re

import pytest

import labtools
from labtools import run_playbook, site_playbook

SITE = "wgmesh-frankfurt"
PEERS = ["10.99.0.1", "10.99.0.3", "10.10.0.10", "10.30.0.10"]


def podman(*args):
    return labtools.podman("exec", SITE, *args)


# Forwarded through SITE both ways: its LAN host to the others' and back.
LAN_PAIRS = [("wgmesh-frankfurt-lan", "10.10.0.10"), ("wgmesh-frankfurt-lan", "10.30.0.10"),
             ("wgmesh-dublin-lan", "10.20.0.10"), ("wgmesh-newyork-lan", "10.20.0.10")]
# An admin's iptables before the role: INPUT and FORWARD policy DROP, Docker's DOCKER-USER.
ADMIN_IPTABLES = [
    "-P INPUT DROP", "-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", "-A INPUT -p icmp -j ACCEPT",
    "-P FORWARD DROP", "-N DOCKER-USER", "-A DOCKER-USER -j RETURN", "-A FORWARD -j DOCKER-USER",
    "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
]


def assert_mesh_answers():
    failed = [a for a in PEERS if podman("ping", "-c", "1", "-w", "5", "-q", a).returncode != 0]
    failed += [(host, a) for host, a in LAN_PAIRS
               if labtools.podman("exec", host, "ping", "-c", "1", "-w", "5", "-q", a).returncode != 0]
    assert failed == []


def iptables_rules():
    return [line for table in ("filter", "raw", "nat")
            for line in podman("iptables", "-t", table, "-S").stdout.splitlines()]


def file_exists(path):
    return podman("test", "-e", path).returncode == 0


@pytest.fixture
def back_to_nftables():
    yield
    # The admin's policies back to accept: auto then picks nftables, and the role removes its chains.
    podman("sh", "-c", "ufw --force disable >/dev/null 2>&1; iptables -w -P INPUT ACCEPT 2>/dev/null;"
           " iptables -w -P FORWARD ACCEPT 2>/dev/null; true")
    site_playbook("--limit", SITE)
    ruleset = podman("nft", "list", "ruleset").stdout
    assert "table inet wgmesh" in ruleset
    # The iptables backend's chains (iptables-nft shows them to nft too) and file went with it.
    assert "WGMESH" not in ruleset, ruleset
    assert not file_exists("/etc/wireguard/wgmesh-firewall.sh")
    podman("sh", "-c", "apt-get purge -y -qq ufw iptables >/dev/null 2>&1;"
           " nft delete table ip filter; nft delete table ip raw; nft delete table ip nat; true")
    assert_mesh_answers()


def assert_no_nftables_backend_left():
    ruleset = podman("nft", "list", "ruleset").stdout
    assert "table inet wgmesh" not in ruleset and "wgmesh:wg0" not in ruleset, ruleset
    for path in ("/etc/wireguard/wgmesh-firewall.nft", "/etc/wireguard/wgmesh-firewall-nft.py",
                 "/etc/systemd/system/nftables.service.d/wgmesh-wg0.conf"):
        assert not file_exists(path), path


def test_iptables_backend(back_to_nftables):
    install = podman("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables"
                     " >/dev/null")
    assert install.returncode == 0, install.stdout + install.stderr
    for rule in ADMIN_IPTABLES:
        assert podman("sh", "-c", "iptables -w " + rule).returncode == 0, rule
    admin = iptables_rules()
    config = podman("cat", "/etc/wireguard/wg0.conf").stdout
    # nftables rules cannot open iptables chains that drop: refused before anything changes.
    refused = run_playbook("site", "--limit", SITE, "-e", "wireguard_mesh_firewall=nftables")
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out[-2000:]
    assert ("site '%s': iptables chains with policy drop (ip filter FORWARD, ip filter INPUT" % SITE) in out, out[-2000:]
    assert iptables_rules() == admin and podman("cat", "/etc/wireguard/wg0.conf").stdout == config
    site_playbook("--limit", SITE)  # auto: iptables, since its chains drop
    config = podman("cat", "/etc/wireguard/wg0.conf").stdout
    assert "PreUp = sh /etc/wireguard/wgmesh-firewall.sh" in config
    assert_no_nftables_backend_left()
    for _cycle in range(5):
        assert podman("wg-quick", "down", "wg0").returncode == 0
        assert podman("wg-quick", "up", "wg0").returncode == 0
    out = site_playbook("--limit", SITE)
    assert re.search(r"%s\s+: ok=\d+\s+changed=0" % SITE, out), out[-1500:]
    rules = podman("iptables", "-S").stdout + podman("iptables", "-t", "raw", "-S").stdout
    assert rules.count("-A INPUT -j WGMESH-INPUT") == 1, rules
    assert rules.count("-A FORWARD -j WGMESH-FORWARD") == 1, rules
    assert rules.count("-A WGMESH-INPUT -p udp -m udp --dport 51820 -j ACCEPT") == 1, rules
    assert rules.count("-A WGMESH-FORWARD -i wg0 -j ACCEPT") == 1, rules
    assert "-A WGMESH-PREROUTING -d 10.99.0.2/32 ! -i wg0" in rules, rules
    live = iptables_rules()
    first = dict((chain, next(line for line in live if line.startswith("-A %s " % chain))) for chain in ("INPUT", "FORWARD"))
    assert first == {"INPUT": "-A INPUT -j WGMESH-INPUT", "FORWARD": "-A FORWARD -j WGMESH-FORWARD"}, live
    assert [line for line in live if "WGMESH" not in line] == admin
    assert_mesh_answers()
    # Off: exactly the admin's rules are left (the mesh then depends on them: no handshake check).
    site_playbook("--limit", SITE, "-e", "wireguard_mesh_firewall=none", "-e", "wireguard_mesh_verify=false")
    assert iptables_rules() == admin


def test_ufw_backend(back_to_nftables):
    setup = podman("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ufw"
                   " >/dev/null && ufw default deny incoming && ufw default deny routed && ufw allow 22/tcp >/dev/null"
                   " && ufw --force enable")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    admin = ufw_state()
    site_playbook("--limit", SITE)  # auto: ufw is active
    out = site_playbook("--limit", SITE)
    assert re.search(r"%s\s+: ok=\d+\s+changed=0" % SITE, out), out[-1500:]
    status = podman("ufw", "status").stdout
    assert re.search(r"^51820/udp\s+ALLOW\s+Anywhere\s+# wgmesh:wg0$", status, re.M), status
    assert re.search(r"^Anywhere on wg0\s+ALLOW FWD\s+Anywhere\s+# wgmesh:wg0$", status, re.M), status
    assert "PreUp" not in podman("cat", "/etc/wireguard/wg0.conf").stdout
    assert_no_nftables_backend_left()
    assert_mesh_answers()
    # Leaving ufw: exactly the admin's rules again, in ufw's files as in what it runs.
    site_playbook("--limit", SITE, "-e", "wireguard_mesh_firewall=none", "-e", "wireguard_mesh_verify=false")
    assert ufw_state() == admin
    out = site_playbook("--limit", SITE, "-e", "wireguard_mesh_firewall=none", "-e", "wireguard_mesh_verify=false")
    assert re.search(r"%s\s+: ok=\d+\s+changed=0" % SITE, out), out[-1500:]


def ufw_state():
    """ufw's rule files, the rules as it reports them, and what it loaded into iptables."""
    state = podman("sh", "-c", "cat /etc/ufw/user.rules /etc/ufw/user6.rules; ufw show added; ufw status verbose;"
                   " iptables -S | grep ufw-user")
    assert state.returncode == 0, state.stderr
    return state.stdout
