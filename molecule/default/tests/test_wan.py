"""The lab as a WAN: 40 ms each way between every two sites, and key and PSK rotation still lose nothing.

The kernel has no netem, so every site gets a relay address on the lab WAN (lab/wan_relay.py on the
host, which holds each datagram 40 ms) and the inventory names that address as the site's
endpoint. The sites then only ever see relay addresses, and the endpoints WireGuard learns from
the packets differ from the configured ones, as behind NAT: a re-run must still change nothing.
Then (`make bench-rotation-wan`, marked bench: molecule deselects it), with every LAN host pinging
every other at 100 packets/s, every site's key is rotated and then every PSK; once on the idle
machine, once with every core busy. The figures go to benchmarks/results/rotation-wan.md.
Leaves the lab on its direct WAN again.
"""

import os
import re
import subprocess
import sys
import time

import pytest
import yaml

import test_rotation as rot
from labtools import ROOT, podman

DELAY = 0.040
RELAY = dict((site, "10.249.%d.%d" % (rot.INDEX, 31 + i)) for i, site in enumerate(rot.SITES))
RESULTS = ROOT / "benchmarks" / "results" / "rotation-wan.md"
EVERY_DIRECTION = tuple((src, dst) for src in rot.SITES for dst in rot.SITES if src != dst)


def wan_bridge():
    """The host's interface on the lab WAN (it holds the gateway address)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "to", "10.249.%d.1/32" % rot.INDEX],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip(), "no host interface holds 10.249.%d.1" % rot.INDEX
    return out.split()[1]


def relay_drops():
    """Datagrams the kernel dropped at the relay's sockets (all bound to relay addresses), from
    /proc/net/udp: a full receive buffer is the lab's loss, not the mesh's."""
    relay = set(RELAY.values())
    drops = 0
    with open("/proc/net/udp") as table:
        next(table)
        for line in table:
            fields = line.split()
            packed = bytes.fromhex(fields[1].split(":")[0])[::-1]
            if ".".join(str(byte) for byte in packed) in relay:
                drops += int(fields[-1])
    return drops


def restart_tunnels():
    for site in rot.SITES:
        assert rot.on(site, "systemctl restart wg-quick@wg0 && echo restarted").strip() == "restarted", site
    rot.wait_for(rot.mesh_answers, 60, "every pair answers after the restart")


def lan_rtt(src, dst):
    out = podman("exec", src + "-lan", "ping", "-c", "3", "-w", "10", rot.LAN_HOST[dst]).stdout
    return float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))


@pytest.fixture(scope="module")
def wan(tmp_path_factory):
    missing = [site for site in rot.SITES if podman("container", "exists", site).returncode != 0]
    if missing:
        pytest.skip("lab %s is not up (missing %s)" % (rot.LAB, ", ".join(missing)))
    bridge = wan_bridge()
    for address in RELAY.values():
        subprocess.run(["ip", "addr", "add", address + "/24", "dev", bridge], check=True)
    argv = [sys.executable, str(ROOT / "lab" / "wan_relay.py"), "--delay", str(DELAY)]
    for site in rot.SITES:
        argv += ["--listen", "%s:51820=%s:51820" % (RELAY[site], rot.WAN[site]),
                 "--source", "%s=%s" % (rot.WAN[site], RELAY[site])]
    relay = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert relay.stdout.readline().strip() == "ready"
    override = tmp_path_factory.mktemp("wan") / "wan.yml"
    override.write_text(yaml.safe_dump({"wireguard_mesh": {"hosts": dict(
        (site, {"wireguard_mesh_endpoint": RELAY[site]}) for site in rot.SITES)}}))
    try:
        yield str(override)
    finally:
        # Back to the direct WAN: configs first (through the relay, which still carries the
        # tunnels), then the relay goes and the tunnels restart from the configs.
        proc = rot.playbook("site")[0]
        relay.kill()
        relay.wait()
        for address in RELAY.values():
            subprocess.run(["ip", "addr", "del", address + "/24", "dev", bridge], check=False)
        restart_tunnels()
        assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_mesh_runs_over_the_wan_and_reruns_change_nothing(wan):
    proc = rot.playbook("site", "-i", wan)[0]
    assert proc.returncode == 0, proc.stdout[-3000:]
    restart_tunnels()
    assert all(lan_rtt(src, dst) >= 2 * DELAY * 1000 for src, dst in rot.PINGS)
    for site in rot.SITES:
        endpoints = rot.on(site, "wg show wg0 endpoints")
        assert all(RELAY[other] + ":" in endpoints for other in rot.SITES if other != site), (site, endpoints)
    # As behind NAT, packets come from other addresses than the configured endpoints: whichever of
    # two sites sent through the other's relay port, the other sees it at a port of the relay's
    # (an upstream socket), so in every pair at least one end holds such a learned endpoint. The
    # site playbook leaves them alone.
    keys = rot.public_keys()
    live = dict((site, rot.on(site, "wg show wg0 endpoints")) for site in rot.SITES)
    for one, other in [(a, b) for a in rot.SITES for b in rot.SITES if a < b]:
        ends = ["%s\t%s:51820" % (keys[other], RELAY[other]) in live[one].splitlines(),
                "%s\t%s:51820" % (keys[one], RELAY[one]) in live[other].splitlines()]
        assert not all(ends), (one, other, live)
    for dummy in range(2):
        proc = rot.playbook("site", "-i", wan)[0]
        assert proc.returncode == 0 and not any(rot.recap_changed(proc.stdout).values()), proc.stdout[-3000:]


def rotate_under_traffic(wan, directory, burners):
    """rotate (every site) and rotate_psk while every LAN host pings every other at 100 packets/s, with
    that many CPU-bound processes; the pings' figures, the steps' times and the load at the end."""
    burning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for dummy in range(burners)]
    timings = []
    switches = []
    drops = relay_drops()
    procs = rot.start_pingers(directory, EVERY_DIRECTION)
    try:
        time.sleep(2)
        for name in ("rotate", "rotate_psk"):
            proc, seconds = rot.playbook(name, "-i", wan)
            assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
            timings.append((name, seconds))
            if name == "rotate":
                switches = [(site, at) for site, _handoff, _moved, at in rot.switch_reports(proc.stdout)]
        time.sleep(1)
    finally:
        pings = rot.stop_pingers(procs)
        load = os.getloadavg()[0]
        for proc in burning:
            proc.kill()
            proc.wait()
    for ping in pings:
        ping["where_lost"] = rot.where_lost(ping, switches)
    timings.append(("datagrams the relay's sockets dropped (receive buffer full)", relay_drops() - drops))
    return pings, timings, load


@pytest.mark.bench
def test_rotation_over_the_wan_loses_nothing_idle_and_on_busy_cpus(wan, tmp_path):
    runs = []
    for burners in (0, 2):
        directory = tmp_path / ("busy%d" % burners)
        directory.mkdir()
        runs.append((burners,) + rotate_under_traffic(wan, directory, burners))
    lines = [
        "# Key and PSK rotation over a 40 ms WAN (written by molecule/default/tests/test_wan.py)",
        "",
        "Lab `%s`: three sites whose WireGuard datagrams all pass lab/wan_relay.py, %d ms each way (LAN to "
        "LAN RTT about %d ms), on one %d-core machine. Every LAN host pings every other LAN host at 100 "
        "packets/s (6 streams) while `rotate` (every site, one after the other) and then `rotate_psk` run; "
        "then the same again with two CPU-bound processes running. Lost: no reply although a later request "
        "was answered." % (rot.LAB, DELAY * 1000, 2 * DELAY * 1000, os.cpu_count() or 2),
        "",
    ]
    for burners, pings, timings, load in runs:
        lines += [
            "## %s (load average %.1f at the end)" % ("two CPU-bound processes" if burners else "idle machine", load),
            "",
            "| step | time |",
            "|---|---|",
        ] + ["| `%s` | %.1f s |" % (name, seconds) if name.startswith("rotate") else "| %s | %d |" % (name, seconds)
             for name, seconds in timings] + [
            "",
            "| stream (LAN host -> LAN host) | sent | lost | in flight at stop | avg RTT | max RTT |",
            "|---|---|---|---|---|---|",
        ] + ["| %s | %d | %d | %d | %s ms | %s ms |"
             % (p["pair"], p["sent"], len(p["lost"]), p["in_flight"], p["avg"], p["max"]) for p in pings] + [""] + [
            "- lost: " + line for p in pings for line in p["where_lost"]] + [""]
    RESULTS.write_text("\n".join(lines))
    for _burners, pings, _timings, _load in runs:
        for ping in pings:
            assert ping["lost"] == [] and ping["max"] < 5000 and ping["in_flight"] < 500, ping
