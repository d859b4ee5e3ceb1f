"""Relays on the lab (molecule.yml): frankfurt and newyork are both behind NAT, without an endpoint,
so their pair has no tunnel of its own and goes through dublin (the relay by rule: the first site
with an endpoint). Checked for real: every LAN host reaches every other one, the path between the
two NAT sites' LANs goes through dublin, WireGuard's own view (peers, AllowedIPs, PSKs) has no
frankfurt-newyork tunnel, verify reports the pair as via dublin, and key and PSK rotation under
100 pps of relayed traffic lose nothing (a NAT site's key and the relay's own)."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

# The lab helpers of the default scenario (same lab script, same podman environment).
sys.path.insert(0, str(pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or pathlib.Path(__file__).parents[3])
                       / "molecule" / "default" / "tests"))
from labtools import ENV, ROOT, ping_losses, podman, run_playbook  # noqa: E402 pylint: disable=wrong-import-position

LAB = os.environ.get("WGMESH_LAB", "wgrelay")
K = int(os.environ.get("WGMESH_LAB_INDEX", "8"))
DUBLIN, FRANKFURT, NEWYORK = ("%s-%s" % (LAB, name) for name in ("dublin", "frankfurt", "newyork"))
SITES = [DUBLIN, FRANKFURT, NEWYORK]
TUNNEL = dict((site, "10.99.0.%d" % i) for i, site in enumerate(SITES, start=1))
LAN = dict((site, "10.%d.%d.0/24" % (10 * i, K)) for i, site in enumerate(SITES, start=1))
LAN_HOST = dict((site, "10.%d.%d.10" % (10 * i, K)) for i, site in enumerate(SITES, start=1))
LAN_GATEWAY = dict((site, "10.%d.%d.1" % (10 * i, K)) for i, site in enumerate(SITES, start=1))
WAN = dict((site, "10.249.%d.%d" % (K, 10 + i)) for i, site in enumerate(SITES, start=1))
# lab/lab.sh: site i behind NAT has 172.(15+i).K.2 behind its router at .1.
PRIVATE = dict((site, "172.%d.%d" % (15 + i, K)) for i, site in enumerate(SITES, start=1) if site != DUBLIN)
BEHIND_NAT = (FRANKFURT, NEWYORK)
RELAYED = {FRANKFURT: NEWYORK, NEWYORK: FRANKFURT}
# Where the rotation's numbers go (also printed when a test fails).
RESULTS = ROOT / "build" / "logs" / "relay-rotation.json"
STATE = {}


def on(container, command):
    proc = podman("exec", container, "sh", "-c", command)
    assert proc.returncode == 0, (container, command, proc.stdout, proc.stderr)
    return proc.stdout


def unanswered(container, addresses, deadline=5):
    """The addresses that did not answer one ping from the container (all pinged at once)."""
    script = 'for a in "$@"; do (ping -n -c 1 -w %d -q "$a" >/dev/null 2>&1 || echo "$a") & done; wait' % deadline
    proc = podman("exec", container, "sh", "-c", script, "ping", *addresses)
    assert proc.returncode == 0, proc.stderr
    return sorted(proc.stdout.split())


def public_keys():
    return dict((site, on(site, "wg show wg0 public-key").strip()) for site in SITES)


def allowed_ips(site):
    """{peer's public key: set of AllowedIPs} of the site's live interface."""
    return dict((key, set(ips.split())) for key, ips in
                (line.split("\t") for line in on(site, "wg show wg0 allowed-ips").splitlines()))


def psk_digests(site):
    """{file name: sha256} of the site's PSK files (the PSKs themselves never leave the site)."""
    return dict((path.rsplit("/", 1)[1], digest) for digest, path in
                (line.split() for line in on(site, "sha256sum /etc/wireguard/psk/*").splitlines()))


def live_psk_digests(site):
    """{peer's public key: sha256 of the PSK the live interface uses}."""
    script = ('wg show wg0 preshared-keys | while read -r key psk; do '
              'echo "$key $(echo "$psk" | sha256sum | cut -c1-64)"; done')
    return dict(line.split() for line in on(site, script).splitlines())


def file_psk_digests(site):
    """{file name: sha256} of the PSK files, hashed as live_psk_digests hashes the live ones."""
    script = 'for f in /etc/wireguard/psk/*; do echo "${f##*/} $(echo "$(cat "$f")" | sha256sum | cut -c1-64)"; done'
    return dict(line.split() for line in on(site, script).splitlines())


def hops(container, target, source=None):
    """The hops of a one-probe-per-hop traceroute (numeric), '*' for a hop that did not answer."""
    trace = on(container, "traceroute -n -q 1 -w 2 -m 6 %s%s" % ("-s %s " % source if source else "", target))
    return [line.split()[1] for line in trace.splitlines()[1:]]


def recap_changed(output):
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M))


def playbook(name, *args):
    start = time.time()
    proc = run_playbook(name, *args)
    return proc, time.time() - start


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    missing = [site for site in SITES if podman("container", "exists", site).returncode != 0]
    if missing:
        pytest.skip("lab %s is not up (missing %s)" % (LAB, ", ".join(missing)))


def test_frankfurt_and_newyork_are_behind_nat_with_no_endpoint():
    for site in BEHIND_NAT:
        addresses = on(site, "ip -4 -o addr show scope global | awk '{print $4}'").split()
        assert WAN[site] + "/24" not in addresses and PRIVATE[site] + ".2/24" in addresses, (site, addresses)
        assert on(site, "ip route show default").startswith("default via %s.1 " % PRIVATE[site]), site
    keys = public_keys()
    config = on(DUBLIN, "cat /etc/wireguard/wg0.conf")
    live = dict(line.split("\t") for line in on(DUBLIN, "wg show wg0 endpoints").splitlines())
    for site in BEHIND_NAT:
        section = next(part for part in config.split("[Peer]") if "PublicKey = %s" % keys[site] in part)
        assert "Endpoint" not in section, section
        # dublin reaches it only where its router maps it: the router's WAN address, a random port.
        match = re.fullmatch(r"%s:(\d+)" % re.escape(WAN[site]), live[keys[site]])
        assert match and int(match.group(1)) != 51820, live[keys[site]]
    # The two NAT sites know dublin's endpoint, and nothing else.
    for site in BEHIND_NAT:
        endpoints = re.findall(r"^Endpoint = (\S+)", on(site, "cat /etc/wireguard/wg0.conf"), re.M)
        assert endpoints == ["%s:51820" % WAN[DUBLIN]], (site, endpoints)


def test_every_lan_host_and_site_reaches_every_other_lan_host_and_tunnel_address():
    """The ping matrix: from each LAN host to the other two LAN hosts (the 6 directions) and to
    every other site's tunnel address; from each site to the same. The frankfurt-newyork rows only
    work through dublin."""
    pings, failed = 0, []
    for site in SITES:
        targets = [address for other in SITES if other != site for address in (LAN_HOST[other], TUNNEL[other])]
        for source in (site + "-lan", site):
            pings += len(targets)
            failed += [(source, address) for address in unanswered(source, targets)]
    assert (pings, failed) == (24, [])


def test_the_path_between_the_nat_sites_goes_through_dublin():
    """traceroute from each NAT site's LAN host, and from the site itself (from its LAN address, as
    the LAN's traffic leaves it), to the other NAT site's LAN host and tunnel address; while both
    LAN hosts ping each other through dublin (a relay that answers only when idle is no path to
    trace)."""
    pingers = [subprocess.Popen(["podman", "exec", site + "-lan", "ping", "-q", "-i", "0.05", "-w", "60",
                                 LAN_HOST[other]], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for site, other in RELAYED.items()]
    try:
        time.sleep(1)
        check_paths()
    finally:
        for site in RELAYED:
            podman("exec", site + "-lan", "pkill", "-INT", "-x", "ping")
        for proc in pingers:
            proc.wait(timeout=30)


def check_paths():
    for site, other in RELAYED.items():
        # The LAN host: its site, dublin, the other site, the other LAN host.
        expected = [LAN_GATEWAY[site], TUNNEL[DUBLIN], TUNNEL[other], LAN_HOST[other]]
        assert hops(site + "-lan", LAN_HOST[other]) == expected, site
        # The site: dublin's tunnel address first, then the other site, then its LAN host.
        assert hops(site, LAN_HOST[other], LAN_GATEWAY[site]) == [TUNNEL[DUBLIN], TUNNEL[other], LAN_HOST[other]], site
        assert hops(site, TUNNEL[other], LAN_GATEWAY[site]) == [TUNNEL[DUBLIN], TUNNEL[other]], site
    # The control: a pair with a tunnel of its own is direct (the peer, then its LAN host).
    assert hops(FRANKFURT + "-lan", LAN_HOST[DUBLIN]) == [LAN_GATEWAY[FRANKFURT], TUNNEL[DUBLIN], LAN_HOST[DUBLIN]]
    assert hops(DUBLIN + "-lan", LAN_HOST[NEWYORK]) == [LAN_GATEWAY[DUBLIN], TUNNEL[NEWYORK], LAN_HOST[NEWYORK]]


def test_wireguard_has_no_tunnel_between_the_nat_sites_only_dublins_peer_entry():
    keys = public_keys()
    for site, other in RELAYED.items():
        # One peer: dublin, whose entry also holds the other NAT site's tunnel address and LAN.
        assert allowed_ips(site) == {keys[DUBLIN]: {TUNNEL[DUBLIN] + "/32", LAN[DUBLIN],
                                                    TUNNEL[other] + "/32", LAN[other]}}, site
        assert keys[other] not in on(site, "cat /etc/wireguard/wg0.conf"), site
        # No PSK for the relayed pair: only dublin's file, and the live PSK is that file's.
        assert sorted(psk_digests(site)) == [DUBLIN + ".psk"], site
        assert live_psk_digests(site) == {keys[DUBLIN]: file_psk_digests(site)[DUBLIN + ".psk"]}, site
        # A handshake with dublin only (the relayed traffic needs no other).
        stamps = dict(line.split("\t") for line in on(site, "wg show wg0 latest-handshakes").splitlines())
        assert list(stamps) == [keys[DUBLIN]] and int(stamps[keys[DUBLIN]]) > 0, site
    # dublin holds each NAT site with its own addresses only (it routes between them itself).
    assert allowed_ips(DUBLIN) == {keys[FRANKFURT]: {TUNNEL[FRANKFURT] + "/32", LAN[FRANKFURT]},
                                   keys[NEWYORK]: {TUNNEL[NEWYORK] + "/32", LAN[NEWYORK]}}
    assert sorted(psk_digests(DUBLIN)) == sorted([FRANKFURT + ".psk", NEWYORK + ".psk"])
    # Each direct pair's PSK is the same at both ends, and the two pairs' PSKs differ.
    at_dublin = psk_digests(DUBLIN)
    for site in BEHIND_NAT:
        assert psk_digests(site)[DUBLIN + ".psk"] == at_dublin[site + ".psk"], site
    assert at_dublin[FRANKFURT + ".psk"] != at_dublin[NEWYORK + ".psk"]


def test_verify_passes_and_reports_the_nat_pair_via_dublin(tmp_path):
    report_path = tmp_path / "verify.json"
    proc = run_playbook("verify", "-e", "wireguard_mesh_verify_report=%s" % report_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verify: 6 of 6 directions ok" in proc.stdout, proc.stdout[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"] and len(report["rows"]) == 6, report
    for row in report["rows"]:
        site, peer = row["site"], row["peer"]
        relayed = RELAYED.get(site) == peer
        hop = TUNNEL[DUBLIN] if relayed else TUNNEL[peer]
        assert row["via"] == (DUBLIN if relayed else None), row
        assert row["first_hops"] == {LAN[peer]: hop} and row["direct"] is True, row
        assert row["lan_hosts"] == {LAN_HOST[peer]: True}, row
        assert row["ok"] and row["tunnel"] and row["handshake"] and 0 <= row["handshake_age"] < 180, row
    for site, peer in RELAYED.items():
        assert re.search(r"%s -> %s\s+tunnel ok\s+handshake \d+s ago\s+via %s\s+LAN hosts 1/1"
                         % (site, peer, DUBLIN), proc.stdout), proc.stdout[-3000:]
    direct = [line for line in proc.stdout.splitlines() if re.search(r"\S+ -> \S+\s+tunnel ok", line)]
    assert sum(1 for line in direct if re.search(r"\bdirect\b", line)) == 4, direct


def start_pinger(src, dst, directory):
    """100 pings/s from src's LAN host to dst's LAN host; every reply printed to a file (see
    labtools.ping_losses)."""
    podman("exec", src + "-lan", "pkill", "-INT", "-x", "ping")
    log = open(directory / ("%s-%s.ping" % (src, dst)), "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(["podman", "exec", src + "-lan", "ping", "-D", "-i", "0.01", "-w", "900", LAN_HOST[dst]],
                            env=ENV, stdout=log, stderr=subprocess.STDOUT)
    return (src, dst), proc, log


def stop_pingers(pingers):
    for src in set(src for (src, _dst), _proc, _log in pingers):
        podman("exec", src + "-lan", "pkill", "-INT", "-x", "ping")
    out = []
    for (src, dst), proc, log in pingers:
        proc.wait(timeout=30)
        log.close()
        text = pathlib.Path(log.name).read_text()
        result = ping_losses(text)
        out.append({"pair": "%s-lan -> %s-lan" % (src, dst), "sent": result["sent"], "answered": result["answered"],
                    "lost": result["lost"], "in_flight": result["in_flight"], "avg_ms": result["avg"],
                    "max_ms": result["max"]})
    return out


def test_key_and_psk_rotation_under_relayed_traffic_lose_nothing(tmp_path):
    keys = public_keys()
    before = dict((site, psk_digests(site)) for site in SITES)
    timings = {}
    # The relayed pair (frankfurt's LAN -> newyork's LAN, through dublin) and frankfurt's direct
    # pair (dublin's LAN -> frankfurt's LAN), 100 packets/s each.
    pingers = [start_pinger(FRANKFURT, NEWYORK, tmp_path), start_pinger(DUBLIN, FRANKFURT, tmp_path)]
    start = time.time()
    try:
        time.sleep(2)
        # Every pair with a tunnel: dublin-frankfurt and dublin-newyork (the relayed pair has no PSK).
        proc, timings["rotate_psk"] = playbook("rotate_psk")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert ("New PSK for 2 pair(s) (%s + %s, %s + %s)" % (DUBLIN, FRANKFURT, DUBLIN, NEWYORK)) in proc.stdout, \
            proc.stdout[-3000:]
        # A NAT site's key, then the relay's own (both NAT sites and the relayed path move with it).
        proc, timings["rotate frankfurt, dublin"] = playbook(
            "rotate", "-e", '{"wireguard_mesh_rotate_sites": ["%s", "%s"]}' % (FRANKFURT, DUBLIN))
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        time.sleep(1)
    finally:
        pings = stop_pingers(pingers)
    elapsed = time.time() - start
    STATE["rotation"] = {"timings_s": dict((k, round(v, 1)) for k, v in timings.items()),
                         "traffic_s": round(elapsed, 1), "pings": pings}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(STATE["rotation"], indent=2) + "\n")
    for ping in pings:
        # Every request answered but those on their way when ping stopped; at 100/s for the whole run.
        assert ping["lost"] == [] and ping["in_flight"] < 100 and ping["max_ms"] < 5000, STATE["rotation"]
        assert ping["sent"] > 50 * elapsed, STATE["rotation"]

    # frankfurt and dublin have new keys, their peers use them; newyork never held frankfurt's key, old or new.
    after = public_keys()
    assert after[FRANKFURT] != keys[FRANKFURT] and after[DUBLIN] != keys[DUBLIN] and after[NEWYORK] == keys[NEWYORK]
    assert after[FRANKFURT] in allowed_ips(DUBLIN) and keys[FRANKFURT] not in allowed_ips(DUBLIN)
    for site in BEHIND_NAT:
        assert list(allowed_ips(site)) == [after[DUBLIN]], site
    assert keys[FRANKFURT] not in on(DUBLIN, "cat /etc/wireguard/wg0.conf")
    newyork_view = on(NEWYORK, "cat /etc/wireguard/wg0.conf; wg show wg0 dump")
    assert keys[FRANKFURT] not in newyork_view and after[FRANKFURT] not in newyork_view
    # The two direct pairs have new PSKs, equal at both ends (files and live); still none for the relayed pair.
    now = dict((site, psk_digests(site)) for site in SITES)
    for site in BEHIND_NAT:
        assert sorted(now[site]) == [DUBLIN + ".psk"], site
        assert now[site][DUBLIN + ".psk"] != before[site][DUBLIN + ".psk"], site
        assert now[site][DUBLIN + ".psk"] == now[DUBLIN][site + ".psk"], site
        assert live_psk_digests(site) == {after[DUBLIN]: file_psk_digests(site)[DUBLIN + ".psk"]}, site
    live_at_dublin = live_psk_digests(DUBLIN)
    files_at_dublin = file_psk_digests(DUBLIN)
    assert live_at_dublin == {after[site]: files_at_dublin[site + ".psk"] for site in BEHIND_NAT}


def test_site_changes_nothing_after_the_rotations_and_the_mesh_still_answers():
    proc, timings = playbook("site")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    changed = recap_changed(proc.stdout)
    assert set(SITES) <= set(changed) and not any(changed.values()), changed
    failed = []
    for site in SITES:
        failed += [(site + "-lan", address) for address in
                   unanswered(site + "-lan", [LAN_HOST[other] for other in SITES if other != site])]
    assert failed == []
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
        results["site_rerun_s"] = round(timings, 1)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
