"""A peer change is applied live: no interface restart, untouched pairs lose nothing, and
the kernel routes for the changed AllowedIPs appear and go (wg set alone leaves them stale)."""

import re
import subprocess
import time

import pytest

from labtools import ENV, ping_losses, podman, run_playbook, site_playbook

EXTRA_LAN = "10.31.0.0/24"


def site_playbook_with_newyork_lans(tmp_path, newyork_lans):
    extra = tmp_path / "newyork.yml"
    extra.write_text("wireguard_mesh:\n  hosts:\n    wgmesh-newyork:\n      wireguard_mesh_lan_cidrs: %s\n"
                     % newyork_lans)
    return site_playbook("-i", str(extra))


def interface_identity(site):
    """The wireguard-go process and interface index: both change when wg-quick restarts."""
    pid = podman("exec", site, "pgrep", "-f", "wireguard-go wg0").stdout.split()
    index = podman("exec", site, "cat", "/sys/class/net/wg0/ifindex").stdout.strip()
    return pid, index


def routes_via_wg0(site):
    return podman("exec", site, "ip", "-o", "route", "show", "dev", "wg0").stdout


@pytest.fixture
def pinger(tmp_path):
    """dublin pings frankfurt's tunnel address 10 times a second during the change; stop()
    ends it and returns labtools.ping_losses of its replies."""
    log_path = tmp_path / "ping.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["podman", "exec", "wgmesh-dublin", "ping", "-i", "0.1", "-w", "300", "10.99.0.2"],
                                env=ENV, stdout=log, stderr=subprocess.STDOUT)

    def stop():
        podman("exec", "wgmesh-dublin", "pkill", "-INT", "-f", "ping -i 0.1")
        proc.wait(timeout=15)
        return ping_losses(log_path.read_text())

    time.sleep(1)
    yield stop
    if proc.poll() is None:
        stop()


def test_changed_peer_is_applied_live_without_loss(tmp_path, pinger):
    before = {site: interface_identity(site) for site in ("wgmesh-dublin", "wgmesh-frankfurt", "wgmesh-newyork")}
    out = site_playbook_with_newyork_lans(tmp_path, "[10.30.0.0/24, %s]" % EXTRA_LAN)
    assert "changed=" in out
    assert EXTRA_LAN in routes_via_wg0("wgmesh-dublin")
    assert EXTRA_LAN in podman("exec", "wgmesh-frankfurt", "wg", "show", "wg0", "allowed-ips").stdout

    site_playbook_with_newyork_lans(tmp_path, "[10.30.0.0/24]")
    assert EXTRA_LAN not in routes_via_wg0("wgmesh-dublin")
    assert EXTRA_LAN not in podman("exec", "wgmesh-frankfurt", "wg", "show", "wg0", "allowed-ips").stdout

    after = {site: interface_identity(site) for site in before}
    assert after == before  # no interface was restarted

    time.sleep(1)
    pings = pinger()
    # In flight at the stop: up to 3 s of requests (RTT spikes of the shared CPUs), not a dead tunnel.
    assert pings["lost"] == [] and pings["answered"] > 20 and pings["in_flight"] <= 30, pings


def peers_state(site):
    """Public key, PSK set or not, endpoint, allowed IPs, keepalive: no handshake or transfer."""
    dump = podman("exec", site, "wg", "show", "wg0", "dump").stdout.splitlines()[1:]
    return sorted((f[0], f[1] != "(none)", f[2], f[3], f[7]) for f in (line.split("\t") for line in dump))


def test_limited_run_keeps_every_peer_everywhere():
    before = {site: peers_state(site) for site in ("wgmesh-dublin", "wgmesh-frankfurt", "wgmesh-newyork")}
    assert all(len(peers) == 2 for peers in before.values())
    proc = run_playbook("site", "--limit", "wgmesh-dublin")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "wgmesh-frankfurt " not in proc.stdout.split("PLAY RECAP", 1)[1]
    after = {site: peers_state(site) for site in before}
    assert after == before


def test_check_mode_previews_a_change_and_changes_nothing(tmp_path):
    extra = tmp_path / "newyork.yml"
    extra.write_text("wireguard_mesh:\n  hosts:\n    wgmesh-newyork:\n"
                     "      wireguard_mesh_lan_cidrs: [10.30.0.0/24, %s]\n" % EXTRA_LAN)
    before = {site: peers_state(site) for site in ("wgmesh-dublin", "wgmesh-frankfurt", "wgmesh-newyork")}
    config = podman("exec", "wgmesh-dublin", "cat", "/etc/wireguard/wg0.conf").stdout
    proc = run_playbook("site", "-i", str(extra), "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "+AllowedIPs = 10.99.0.3/32, 10.30.0.0/24, %s" % EXTRA_LAN in proc.stdout
    assert re.search(r"wgmesh-dublin\s+: ok=\d+\s+changed=[1-9]", proc.stdout)
    assert {site: peers_state(site) for site in before} == before
    assert podman("exec", "wgmesh-dublin", "cat", "/etc/wireguard/wg0.conf").stdout == config


def test_verify_playbook_passes_on_the_running_mesh():
    proc = run_playbook("verify")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"wgmesh-newyork\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", proc.stdout)
