"""Hosts whose admin already has a restrictive nftables firewall: input and forward policy drop in
an `inet` table and a forward drop in an `ip` table of another name, installed before the mesh
is brought up. The role's accept rules go to the top of those chains (and only there), the
admin's ruleset stays as it was apart from them, a reload of the admin's ruleset by hand is
repaired by the next run and one by nftables.service at once, and
`wireguard_mesh_firewall: none` leaves exactly the admin's ruleset and no drop-in."""

import re
import subprocess

import pytest

import test_rotation as rot
from labtools import ENV, podman, run_playbook, site_playbook

ADMIN_RULESET = """flush ruleset
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 accept
        icmp type echo-request accept
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
    }
}
table ip edge {
    chain routed {
        type filter hook forward priority filter + 5; policy drop;
        ct state established,related accept
    }
}
"""
TAG = 'comment "wgmesh:wg0"'


def load_admin_ruleset(site):
    """As `systemctl reload nftables` with this ruleset in /etc/nftables.conf: flush, then load."""
    proc = subprocess.run(["podman", "exec", "-i", site, "nft", "-f", "-"], input=ADMIN_RULESET, env=ENV,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def ruleset(site):
    return rot.on(site, "nft list ruleset")


def admin_part(text):
    """The ruleset without what the role adds: its table and its tagged rules."""
    text = re.sub(r"^table inet wgmesh \{\n.*?^\}\n", "", text, flags=re.M | re.S)
    return "".join(line for line in text.splitlines(True) if TAG not in line)


def converged(*args):
    out = site_playbook(*args)
    recap = dict((site, int(changed)) for site, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M))
    return dict((site, recap[site]) for site in rot.SITES)


def every_pair_answers():
    failed = [(a, b, what) for a in rot.SITES for b in rot.SITES if a != b
              for what, ping in (("tunnel", rot.tunnel_ping), ("LAN", rot.lan_ping)) if not ping(a, b)]
    assert failed == [], failed


@pytest.fixture(scope="module")
def hardened():
    """Every site as a fresh host with the admin's firewall: no interface, no role rules."""
    teardown = ("systemctl disable --now wg-quick@wg0 >/dev/null 2>&1; "
                "rm -f /etc/wireguard/wg0.conf /etc/wireguard/wgmesh-firewall.nft /etc/wireguard/wgmesh-firewall-nft.py")
    admin = {}
    for site in rot.SITES:
        assert podman("exec", site, "sh", "-c", teardown).returncode == 0
        load_admin_ruleset(site)
        admin[site] = ruleset(site)
        assert "wgmesh" not in admin[site]
    yield admin
    for site in rot.SITES:
        podman("exec", site, "sh", "-c", "nft delete table inet filter; nft delete table ip edge; true")
    site_playbook()
    rot.wait_for(rot.mesh_answers, 60, "every pair answers without the admin's firewall")


def test_first_converge_opens_the_admin_chains_and_changes_nothing_else(hardened):
    assert all(changed > 0 for changed in converged().values())
    rot.wait_for(rot.mesh_answers, 60, "every pair answers through the admin's drop policies")
    every_pair_answers()
    for site in rot.SITES:
        live = ruleset(site)
        assert admin_part(live) == hardened[site], live
        assert live.count(TAG) == 5, live  # port in input; in and out of wg0 in both forward chains
        first = re.search(r"chain input \{\n.*?policy drop;\n\t\t(.*)\n", live)
        assert first and first.group(1) == 'udp dport 51820 accept %s' % TAG, live
    assert set(converged().values()) == {0}


def test_down_up_cycles_keep_one_copy_of_each_rule(hardened):
    site = rot.SITES[1]
    before = ruleset(site)
    for _cycle in range(5):
        proc = podman("exec", site, "sh", "-c", "wg-quick down wg0 && wg-quick up wg0")
        assert proc.returncode == 0, proc.stderr
    assert ruleset(site) == before
    rot.wait_for(rot.mesh_answers, 60, "every pair answers after 5 down/up cycles")
    every_pair_answers()


def test_a_reload_of_the_admin_ruleset_is_repaired_by_the_next_run(hardened):
    site = rot.SITES[0]
    load_admin_ruleset(site)
    assert TAG not in ruleset(site) and "wgmesh" not in ruleset(site)
    changed = converged()
    assert changed[site] == 1 and all(changed[other] == 0 for other in rot.SITES if other != site), changed
    assert admin_part(ruleset(site)) == hardened[site] and ruleset(site).count(TAG) == 5
    every_pair_answers()
    assert set(converged().values()) == {0}


def test_nftables_service_start_and_reload_load_the_role_rules_again(hardened):
    """The admin's ruleset in /etc/nftables.conf, loaded by nftables.service: its "flush ruleset"
    takes the role's rules, the role's drop-in puts them back at once (no run needed)."""
    site = rot.SITES[1]
    original = rot.on(site, "cat /etc/nftables.conf")
    write = subprocess.run(["podman", "exec", "-i", site, "sh", "-c", "cat > /etc/nftables.conf"], input=ADMIN_RULESET,
                           env=ENV, capture_output=True, text=True, check=False)
    assert write.returncode == 0, write.stderr
    try:
        for action in ("restart", "reload"):
            proc = podman("exec", site, "systemctl", action, "nftables.service")
            assert proc.returncode == 0, proc.stderr
            live = ruleset(site)
            assert "table inet wgmesh" in live and live.count(TAG) == 5, (action, live)
            assert admin_part(live) == hardened[site], (action, live)
        every_pair_answers()
        assert set(converged().values()) == {0}
    finally:
        subprocess.run(["podman", "exec", "-i", site, "sh", "-c", "cat > /etc/nftables.conf"], input=original,
                       env=ENV, text=True, check=False)
        podman("exec", site, "systemctl", "stop", "nftables.service")  # flushes the ruleset
        load_admin_ruleset(site)
    assert converged()[site] == 1 and ruleset(site).count(TAG) == 5


def test_firewall_none_leaves_exactly_the_admin_ruleset(hardened):
    site = rot.SITES[2]
    # Without the role's rules the admin's policy decides: no handshake check for this site.
    none = ("--limit", site, "-e", "wireguard_mesh_firewall=none", "-e", "wireguard_mesh_verify=false")
    site_playbook(*none)
    assert ruleset(site) == hardened[site]
    config = rot.on(site, "cat /etc/wireguard/wg0.conf")
    assert "wgmesh-firewall" not in config
    for path in ("/etc/wireguard/wgmesh-firewall-nft.py", "/etc/systemd/system/nftables.service.d/wgmesh-wg0.conf"):
        assert podman("exec", site, "test", "-e", path).returncode != 0, path
    proc = run_playbook("site", *none)
    assert re.search(r"%s\s+: ok=\d+\s+changed=0" % site, proc.stdout), proc.stdout[-2000:]
