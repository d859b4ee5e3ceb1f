"""Rolling key rotation and PSK rotation on the lab, under traffic.

While the LAN hosts ping each other pairwise at 100 packets/s, every site's key is rotated
twice in a row and then every PSK; the loss and the RTTs go to benchmarks/results/rotation.md.
Then: a rotation whose verify fails is rolled back, a rotation with a site down goes on around it,
and a site run once the site is back gives it the new key.

Works against any lab (lab/lab.sh): WGMESH_LAB (container prefix, default wgmesh),
WGMESH_LAB_INDEX (subnets, default 0), WGMESH_LAB_INVENTORY (default inventories/lab) and
WGMESH_LAB_NAT (the sites behind NAT; their results go to rotation-nat.md).
"""

import hashlib
import os
import re
import subprocess
import time

import pytest

from labtools import ENV, INVENTORY, ROOT, ping_losses, podman

LAB = os.environ.get("WGMESH_LAB", "wgmesh")
INDEX = int(os.environ.get("WGMESH_LAB_INDEX", "0"))
NAMES = ["dublin", "frankfurt", "newyork"]
SITES = ["%s-%s" % (LAB, name) for name in NAMES]
TUNNEL = dict((site, "10.99.0.%d" % (i + 1)) for i, site in enumerate(SITES))
LAN_HOST = dict((site, "10.%d.%d.10" % (10 * (i + 1), INDEX)) for i, site in enumerate(SITES))
WAN = dict((site, "10.249.%d.%d" % (INDEX, 11 + i)) for i, site in enumerate(SITES))
# One pinger per LAN host covers the three pairs: dublin -> frankfurt -> newyork -> dublin.
PINGS = ((SITES[0], SITES[1]), (SITES[1], SITES[2]), (SITES[2], SITES[0]))
BEHIND_NAT = [SITES[int(i) - 1] for i in os.environ.get("WGMESH_LAB_NAT", "").split()]
RESULTS = ROOT / "benchmarks" / "results" / ("rotation-nat.md" if BEHIND_NAT else "rotation.md")
SWITCH_WINDOW = (-0.05, 0.25)  # seconds around a key switch: requests sent then meet the new key
STATE = {}


def on(site, command):
    return podman("exec", site, "sh", "-c", command).stdout


def playbook(name, *args):
    start = time.time()
    proc = subprocess.run(["ansible-playbook", "wgmesh.wireguard.%s" % name, "-i", INVENTORY, *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    STATE.setdefault("outputs", []).append(proc.stdout + proc.stderr)
    return proc, time.time() - start


def recap_changed(output):
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M))


def public_keys():
    return dict((site, on(site, "wg show wg0 public-key").strip()) for site in SITES)


def secrets():
    """Every private key and PSK on the sites (read here only to prove none was printed)."""
    found = set()
    for site in SITES:
        for line in on(site, "cat /etc/wireguard/*.key* /etc/wireguard/psk/*.psk 2>/dev/null").split():
            found.add(line.strip())
    return found


def psk_digests():
    return dict((site, dict((path.rsplit("/", 1)[1], digest) for digest, path in
                            (line.split() for line in on(site, "sha256sum /etc/wireguard/psk/*.psk").splitlines())))
                for site in SITES)


def handshakes_ok(site, since=0):
    stamps = [int(line.split()[1]) for line in on(site, "wg show wg0 latest-handshakes").splitlines() if line.strip()]
    return len(stamps) == len(SITES) - 1 and all(stamp >= since and stamp > 0 for stamp in stamps)


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    pytest.fail("%s within %d s" % (what, timeout))


def tunnel_ping(src, dst):
    return podman("exec", src, "ping", "-c", "1", "-w", "2", "-q", TUNNEL[dst]).returncode == 0


def lan_ping(src, dst):
    return podman("exec", src + "-lan", "ping", "-c", "1", "-w", "2", "-q", LAN_HOST[dst]).returncode == 0


def mesh_answers():
    """Every pair answers, tunnel addresses and LAN hosts: a test hands the next one a lab whose
    LAN paths work too, not only the sites' own addresses."""
    return all(tunnel_ping(a, b) and lan_ping(a, b) for a in SITES for b in SITES if a != b)


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    missing = [site for site in SITES if podman("container", "exists", site).returncode != 0]
    if missing:
        pytest.skip("lab %s is not up (missing %s)" % (LAB, ", ".join(missing)))


def start_pingers(directory, pairs=PINGS):
    """Every reply is printed (to a file: a pipe nobody reads would block ping) so that
    labtools.ping_losses can tell a lost request from one still on its way when ping stopped."""
    procs = []
    for src in set(src for src, _dst in pairs):
        podman("exec", src + "-lan", "pkill", "-INT", "-x", "ping")
    for src, dst in pairs:
        with open(directory / ("%s-%s.ping" % (src, dst)), "w") as log:
            procs.append(((src, dst), subprocess.Popen(["podman", "exec", src + "-lan", "ping", "-D", "-i", "0.01",
                                                        "-w", "900", LAN_HOST[dst]], env=ENV, stdout=log,
                                                       stderr=subprocess.STDOUT), log.name))
    return procs


def stop_pingers(procs):
    out = []
    for src in set(src for (src, _dst), _proc, _log in procs):
        podman("exec", src + "-lan", "pkill", "-INT", "-x", "ping")
    for (src, dst), proc, log in procs:
        proc.wait(timeout=30)
        with open(log) as handle:
            text = handle.read()
        out.append(dict(ping_losses(text), pair="%s -> %s" % (src[len(LAB) + 1:], dst[len(LAB) + 1:]),
                        summary=text.strip().splitlines()[-2:]))
    return out


def max_rtt(ping, windows):
    """The largest RTT of the requests sent within any of the windows (epoch start, end)."""
    rtts = [rtt for sent, rtt in ping["sent_at"] if any(start <= sent <= end for start, end in windows)]
    return max(rtts) if rtts else None


def switch_reports(stdout):
    """(site, handoff_ms, peers_moved_ms, switched_at) of each key switch in rotate's report."""
    return [(m.group(3), m.group(1), float(m.group(2)), float(m.group(4))) for m in re.finditer(
        r'"handoff_ms": ([\d.]+),.*?"peers_moved_ms": ([-\d.]+),\s*"site": "([^"]+)",\s*"switched_at": ([\d.]+)',
        stdout[stdout.rindex("Rotate keys | Report"):], re.S)]


def where_lost(ping, switches):
    """Each lost request's send time (its predecessor's + 10 ms) from the nearest key switch."""
    sent = ping["sent_by_seq"]
    out = []
    for seq in ping["lost"]:
        before = max((s for s in sent if s < seq), default=None)
        if before is None or not switches:
            continue
        at = sent[before] + (seq - before) * 0.01
        site, switched_at = min(switches, key=lambda item: abs(item[1] - at))
        out.append("%s: request %d sent %+.0f ms from the key switch of %s" % (ping["pair"], seq, (at - switched_at) * 1000,
                                                                               site))
    return out


def write_results(pings, timings, reports):
    lines = [
        "# Key and PSK rotation under traffic (written by molecule/default/tests/test_rotation.py)",
        "",
        "Lab `%s`: three sites (wireguard-go in podman containers on one 2-core machine, load average "
        "%.1f when the pingers stopped). Each LAN host pings the next site's LAN host at 100 packets/s (`ping -i 0.01`, through "
        "the two sites' tunnel) while the playbooks below run one after the other." % (LAB, os.getloadavg()[0]),
        "",
    ] + ([
        "Behind NAT: %s, with no endpoint of its own: a router masquerades it with a random source port per "
        "destination, and forwards no WireGuard port to it, so the other sites reach it only at the address and "
        "port they learn from its packets." % ", ".join(BEHIND_NAT),
        "",
    ] if BEHIND_NAT else []) + [
        "| step | time |",
        "|---|---|",
    ] + ["| %s | %.1f s |" % (step, seconds) for step, seconds in timings] + [
        "",
        "| pair (LAN host -> LAN host) | sent | lost | in flight at stop | avg RTT | max RTT | "
        "max RTT, `site` changing nothing | max RTT, sent 50 ms before to 250 ms after a key switch |",
        "|---|---|---|---|---|---|---|---|",
    ] + ["| %s | %d | %d | %d | %s ms | %s ms | %s ms | %s ms |"
         % (p["pair"], p["sent"], len(p["lost"]), p["in_flight"], p["avg"], p["max"], p["max_baseline"],
            p["max_switch"]) for p in pings] + [
        "",
        "Lost: a request without a reply although a later one was answered. Requests sent just "
        "before ping was stopped, a second after the last playbook, are in flight, not lost "
        "(ping's own summary counts them as lost).",
        "",
        "Target: 0 lost, max RTT < 100 ms. The eight lab containers and Ansible share two cores: the "
        "baseline column is the RTT that a `site` run which changes nothing causes on the same "
        "pingers, with no switch at all; the last column covers the requests that met each key "
        "switch (6 in all; the moment each site's module switched, from `rotate`'s report), and the "
        "lines below show where in the 2 s after a switch the worst RTT fell. A stalled handshake "
        "would show as about 5000 ms and loss.",
        "",
        "The key switches as the sites' modules recorded them (handed off through the tunnel, no shared clock):",
        "",
    ] + ["- %s" % line for line in reports] + [""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))


def test_rotation_under_traffic_loses_nothing(tmp_path):
    before_keys = public_keys()
    before_psks = psk_digests()
    STATE["secrets"] = secrets()
    timings = []
    reports = []
    procs = start_pingers(tmp_path)
    try:
        time.sleep(2)
        # The same pingers during a `site` run that changes nothing: the RTT that the lab's
        # shared CPUs cause without any switch, to compare the rotation's RTT with.
        start = time.time()
        proc, seconds = playbook("site", "-vvv", "--diff")
        assert proc.returncode == 0 and not any(recap_changed(proc.stdout).values()), proc.stdout[-3000:]
        timings.append(("`site` changing nothing (baseline)", seconds))
        STATE["baseline"] = (start, start + seconds)
        for run in ("first", "second"):
            # The first run at -vvv --diff: every secret on the sites is grepped for in the output.
            proc, seconds = playbook("rotate", *(("-vvv", "--diff") if run == "first" else ()))
            STATE["secrets"] |= secrets()
            assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
            timings.append(("`rotate` (%s run, 3 sites)" % run, seconds))
            switches = switch_reports(proc.stdout)
            assert len(switches) == len(SITES), proc.stdout[-3000:]
            reports += ["rotate (%s run), %s: switch datagrams to key change %s ms, last other site moved %s ms "
                        "after the key change" % (run, site, handoff, moved) for site, handoff, moved, _at in switches]
            STATE.setdefault("switches", []).extend((run, site, at) for site, _handoff, _moved, at in switches)
            keys = public_keys()
            assert all(keys[site] != before_keys[site] for site in SITES), (before_keys, keys)
            STATE.setdefault("keys", []).append(keys)
        proc, seconds = playbook("rotate_psk", "-vvv", "--diff")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        timings.append(("`rotate_psk` (3 pairs, incl. waiting for the next rekey)", seconds))
        reports += ["rotate_psk: " + m.group(1) for m in re.finditer(r"(set at both ends within [\d.]+ ms)", proc.stdout)]
        time.sleep(1)
    finally:
        pings = stop_pingers(procs)
    # The switch window: a handshake with the new key (a few ms here) and its first retry; the
    # wider window shows what follows it (the playbook's next tasks on the shared cores).
    windows = [(at + SWITCH_WINDOW[0], at + SWITCH_WINDOW[1]) for _run, _site, at in STATE["switches"]]
    for ping in pings:
        ping["max_baseline"] = max_rtt(ping, [STATE["baseline"]])
        ping["max_switch"] = max_rtt(ping, windows)
    for run, site, at in STATE["switches"]:
        near = [max_rtt(ping, [(at + SWITCH_WINDOW[0], at + SWITCH_WINDOW[1])]) or 0 for ping in pings]
        after = max(((rtt, sent - at, ping["pair"]) for ping in pings for sent, rtt in ping["sent_at"]
                     if at - 0.5 <= sent <= at + 2), default=(0, 0, "-"))
        reports.append("key switch of %s (%s run): worst RTT %.0f ms within %+d..%+d ms; within 2 s: %.0f ms "
                       "(%s), request sent %+.0f ms from the switch"
                       % (site, run, max(near), SWITCH_WINDOW[0] * 1000, SWITCH_WINDOW[1] * 1000, after[0], after[2],
                          after[1] * 1000))
    reports += ["lost: " + line for ping in pings
                for line in where_lost(ping, [(site, at) for _run, site, at in STATE["switches"]])]
    write_results(pings, timings, reports)
    for ping in pings:
        # The target is max RTT < 100 ms; on the shared 2-core build machine a site run that
        # changes nothing already shows RTT spikes of several 100 ms (CPU contention), so the
        # test fails on any loss and on a stall as long as a lost handshake (retried after
        # 5 s); the maxima go to benchmarks/results/rotation.md (a CI run here saw 1.47 s once).
        # Requests after the last reply were on their way when ping stopped, a second after
        # the last playbook: more than a stall's worth of them would be a tunnel that died.
        assert ping["lost"] == [] and ping["max"] < 5000 and ping["in_flight"] < 500, ping

    # Both runs gave every site a new key; the PSKs changed and agree at both ends.
    first, second = STATE["keys"]
    assert all(first[site] != second[site] for site in SITES)
    assert len(set(second.values())) == len(SITES)
    after_psks = psk_digests()
    for site in SITES:
        for other in SITES:
            if other != site:
                name = other + ".psk"
                assert after_psks[site][name] == after_psks[other][site + ".psk"], (site, other)
                assert after_psks[site][name] != before_psks[site][name], (site, other)


def test_disk_holds_only_the_new_keys():
    keys = public_keys()
    old = set(k for run in [STATE["keys"][0]] for k in run.values())
    for site in SITES:
        assert handshakes_ok(site), site
        listing = on(site, "stat -c '%a %n' /etc/wireguard/* /etc/wireguard/psk/*")
        assert ".prev" not in listing and ".next" not in listing, listing
        # .names: the public keys and site names for monitoring (public data, 0644).
        assert all(line.startswith(("600 ", "700 ")) or line.endswith((".nft", ".sh", ".names"))
                   for line in listing.splitlines()), listing
        config = on(site, "cat /etc/wireguard/wg0.conf")
        for other in SITES:
            if other != site:
                assert config.count(keys[other]) == 2, (site, other)  # PostUp PSK line and [Peer]
        assert not any(key in config for key in old), site
        live = on(site, "wg show wg0 peers").split()
        assert sorted(live) == sorted(keys[other] for other in SITES if other != site), site
        # The key file holds the key the interface uses (a restart keeps it).
        assert on(site, "wg pubkey < /etc/wireguard/wg0.key").strip() == keys[site]


def test_no_secret_in_the_output_and_site_is_idempotent():
    proc = playbook("site")[0]
    assert proc.returncode == 0, proc.stdout[-4000:]
    changed = recap_changed(proc.stdout)
    assert changed and all(v == 0 for v in changed.values()), changed
    printed = "\n".join(STATE.get("outputs", []))
    assert "ESTABLISH SSH CONNECTION" in printed  # the -vvv runs are among the outputs
    leaked = [s for s in secrets() | STATE.get("secrets", set()) if len(s) == 44 and s in printed]
    assert not leaked, "a private key or PSK appears in the playbook output"


def test_failed_verify_rolls_back_to_the_old_key():
    site, peer = SITES[0], SITES[1]
    keys = public_keys()
    key_file = hashlib.sha256(on(site, "cat /etc/wireguard/wg0.key").encode()).hexdigest()
    # The peer drops WireGuard from the site (SSH still works): the switch happens, verify fails.
    block = ("nft add table inet rottest && nft add chain inet rottest pre '{ type filter hook prerouting priority -5; }' "
             "&& nft add rule inet rottest pre ip saddr %s udp dport 51820 drop" % WAN[site])
    assert podman("exec", peer, "sh", "-c", block).returncode == 0
    try:
        proc = playbook("rotate", "-e", '{"wireguard_mesh_rotate_sites": ["%s"]}' % site)[0]
    finally:
        podman("exec", peer, "nft", "delete", "table", "inet", "rottest")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "failed and was rolled back" in out and peer in out, out[-3000:]
    assert public_keys() == keys
    assert hashlib.sha256(on(site, "cat /etc/wireguard/wg0.key").encode()).hexdigest() == key_file
    assert "wg0.key.prev" not in on(site, "ls /etc/wireguard")
    for other in SITES[1:]:
        assert keys[site] in on(other, "cat /etc/wireguard/wg0.conf"), other
        assert keys[site] in on(other, "wg show wg0 peers"), other
    wait_for(mesh_answers, 30, "the mesh answers with the old key after the rollback")


def test_rotation_goes_on_around_a_site_that_is_down_and_a_site_run_brings_it_back():
    rotated, other, down = SITES
    keys = public_keys()
    assert podman("stop", "-t", "2", down).returncode == 0
    try:
        proc = playbook("rotate", "-e", '{"wireguard_mesh_rotate_sites": ["%s", "%s"]}' % (rotated, down))[0]
        new_key = on(rotated, "wg show wg0 public-key").strip()
        other_live = on(other, "wg show wg0 peers").split()
        other_config = on(other, "cat /etc/wireguard/wg0.conf")
    finally:
        assert podman("start", down).returncode == 0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Not reached, so not rotated and not told: %s" % down in out, out[-3000:]
    assert "old public key of %s: once back, run the site playbook" % rotated in out, out[-3000:]
    assert new_key != keys[rotated]
    # The site that was down is still everyone's peer, with the key it has.
    assert sorted(other_live) == sorted([new_key, keys[down]])
    assert new_key in other_config and keys[down] in other_config and keys[rotated] not in other_config
    wait_for(lambda: tunnel_ping(down, other), 90, "the restarted site answers the site that was not rotated")
    assert keys[rotated] in on(down, "cat /etc/wireguard/wg0.conf")
    proc = playbook("site")[0]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert new_key in on(down, "wg show wg0 peers")
    wait_for(mesh_answers, 60, "every pair answers after the site run")
