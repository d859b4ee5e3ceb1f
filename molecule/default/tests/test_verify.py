"""The verify playbook on the lab, as the guide checks a mesh: tunnels, LAN hosts, the direct
path (first hop), handshakes and iperf3; then a blocked pair and a detour, each failing with
what is wrong."""

import json
import os

import pytest

from labtools import podman, run_playbook, site_playbook
from test_monitoring import block, unblock

LAB = os.environ.get("WGMESH_LAB", "wgmesh")
DUBLIN, FRANKFURT, NEWYORK = ("%s-%s" % (LAB, name) for name in ("dublin", "frankfurt", "newyork"))
SITES = [DUBLIN, FRANKFURT, NEWYORK]
TUNNEL = {DUBLIN: "10.99.0.1", FRANKFURT: "10.99.0.2", NEWYORK: "10.99.0.3"}
WAN = {DUBLIN: "10.249.0.11", FRANKFURT: "10.249.0.12", NEWYORK: "10.249.0.13"}
LAN_HOST = {DUBLIN: "10.10.0.10", FRANKFURT: "10.20.0.10", NEWYORK: "10.30.0.10"}


def verify(tmp_path, *extra):
    report = tmp_path / "verify.json"
    proc = run_playbook("verify", "-e", "wireguard_mesh_verify_report=%s" % report, *extra)
    data = json.loads(report.read_text()) if report.exists() else None
    return proc, data


def on(site, command):
    proc = podman("exec", site, "sh", "-c", command)
    assert proc.returncode == 0, (site, command, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="module", autouse=True)
def converged():
    site_playbook()


def test_verify_prints_the_matrix_and_checks_lans_direct_paths_and_handshakes(tmp_path):
    proc, report = verify(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "verify: 6 of 6 directions ok" in proc.stdout
    assert "from/to" in proc.stdout and "FAIL" not in proc.stdout
    assert report["ok"] and len(report["rows"]) == 6
    for row in report["rows"]:
        site, peer = row["site"], row["peer"]
        # The first hop of the TTL-1 echo towards the peer's LAN is the peer itself: the direct path.
        assert row["first_hops"] == {LAN_HOST[peer][:-2] + "0/24": TUNNEL[peer]}, row
        assert row["lan_hosts"] == {LAN_HOST[peer]: True}, row
        assert row["tunnel"] and row["handshake"] and 0 <= row["handshake_age"] < 180, row
    assert report["throughput"] == []


def test_throughput_matrix_through_the_tunnel_and_the_underlay_leaves_no_server(tmp_path):
    proc, report = verify(tmp_path, "-e", "wireguard_mesh_verify_throughput=true",
                          "-e", "wireguard_mesh_verify_throughput_seconds=2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    speeds = report["throughput"]
    pairs = sorted((s["client"], s["server"]) for s in speeds)
    assert pairs == [(DUBLIN, FRANKFURT), (DUBLIN, NEWYORK), (FRANKFURT, NEWYORK)]
    for speed in speeds:
        assert speed["tunnel_bps"] > 1e6 and speed["underlay_bps"] > 1e6, speed
        assert 0 < speed["ratio"] == round(speed["tunnel_bps"] / speed["underlay_bps"], 2), speed
    assert "Mbit/s" in proc.stdout and "ratio" in proc.stdout
    for site in SITES:
        assert podman("exec", site, "pgrep", "-x", "iperf3").returncode == 1, site  # the servers are gone
        assert on(site, "ls /run/wgmesh-iperf3.pid 2>/dev/null || true") == "", site


def test_a_blocked_pair_fails_verify_with_the_pair_and_why(tmp_path):
    block(DUBLIN, WAN[NEWYORK])
    try:
        proc, report = verify(tmp_path)
    finally:
        unblock(DUBLIN)
    assert proc.returncode != 0, proc.stdout[-3000:]
    failed = sorted((row["site"], row["peer"]) for row in report["rows"] if not row["ok"])
    assert failed == [(DUBLIN, NEWYORK), (NEWYORK, DUBLIN)], report["rows"]
    assert "verify: 4 of 6 directions ok" in proc.stdout
    assert "%s -> %s (no answer from %s" % (DUBLIN, NEWYORK, TUNNEL[NEWYORK]) in proc.stdout
    assert "%s LAN host %s: no answer (pinged from 10.10.0.1)" % (NEWYORK, LAN_HOST[NEWYORK]) in proc.stdout


def test_a_detour_through_another_site_is_not_a_direct_path(tmp_path):
    """Frankfurt's peer Dublin takes over New York's LAN, as a hand-edited AllowedIPs would: the
    first hop towards that LAN is Dublin; a site run puts it back."""
    dublin_key = on(DUBLIN, "wg show wg0 public-key").strip()
    allowed = on(FRANKFURT, "wg show wg0 allowed-ips").split("\n")
    dublin_ips = [line.split("\t")[1] for line in allowed if line.startswith(dublin_key)][0].split()
    on(FRANKFURT, "wg set wg0 peer %s allowed-ips %s" % (dublin_key, ",".join(dublin_ips + ["10.30.0.0/24"])))
    try:
        proc, report = verify(tmp_path)
    finally:
        site_playbook()
    assert proc.returncode != 0, proc.stdout[-3000:]
    row = [r for r in report["rows"] if (r["site"], r["peer"]) == (FRANKFURT, NEWYORK)][0]
    assert row["first_hops"] == {"10.30.0.0/24": TUNNEL[DUBLIN]} and row["direct"] is False, row
    assert ("%s LAN 10.30.0.0/24: the first hop is %s, not %s: the path is not direct"
            % (NEWYORK, TUNNEL[DUBLIN], TUNNEL[NEWYORK])) in proc.stdout
    proc, report = verify(tmp_path)
    assert proc.returncode == 0 and report["ok"], proc.stdout[-3000:]
