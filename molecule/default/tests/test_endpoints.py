"""Endpoints given as DNS names (wireguard_mesh_endpoint_refresh): frankfurt and newyork are
reached by names the sites resolve through /etc/hosts. A name that gives a wrong address while
the pair's session is alive (DNS lagging behind a site that moved) changes nothing and loses
no packet; two sites that move to new addresses at once, so that neither can reach the other
where it was, find each other again through their timers. Afterwards both move back, the
names go, and a run with the lab's inventory removes the timers."""

import math
import re
import subprocess
import time

import pytest

from labtools import ENV, ping_losses, podman, site_playbook

DUBLIN, FRANKFURT, NEWYORK = "wgmesh-dublin", "wgmesh-frankfurt", "wgmesh-newyork"
SITES = (DUBLIN, FRANKFURT, NEWYORK)
WAN = {FRANKFURT: "10.249.0.12", NEWYORK: "10.249.0.13"}
MOVED = {FRANKFURT: "10.249.0.112", NEWYORK: "10.249.0.113"}
NAMES = {FRANKFURT: "frankfurt.wgmesh.test", NEWYORK: "newyork.wgmesh.test"}
TUNNEL = {DUBLIN: "10.99.0.1", FRANKFURT: "10.99.0.2", NEWYORK: "10.99.0.3"}
INTERVAL = 5
TIMER = "wireguard-mesh-endpoints-wg0.timer"
# A pair is set again only once its session has lapsed (180 s after its last handshake),
# then at the timer's next run.
HEAL_WITHIN = 180 + 2 * INTERVAL + 30


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    missing = [site for site in SITES if podman("container", "exists", site).returncode != 0]
    if missing:
        pytest.skip("lab is not up (missing %s)" % ", ".join(missing))


# /etc/hosts is a bind mount in a container: rewritten in place, not replaced (as sed -i does).
UNNAME = "grep -v wgmesh.test /etc/hosts > /tmp/hosts; cat /tmp/hosts > /etc/hosts"


def name_addresses(addresses, sites=SITES):
    """/etc/hosts of ``sites`` gives the names these addresses (site -> address)."""
    lines = "".join("%s %s\\n" % (address, NAMES[site]) for site, address in addresses.items())
    for site in sites:
        proc = podman("exec", site, "sh", "-c", UNNAME + " && printf '%s' >> /etc/hosts" % lines)
        assert proc.returncode == 0, proc.stderr


def move_away(site):
    """The site's WAN address becomes another one, as when its provider gives it a new one (the
    new one as a /32 with the WAN's route, so that the old /24 can go)."""
    run_in(site, "ip addr add {new}/32 dev eth0 && ip addr del {old}/24 dev eth0 && "
                 "ip route replace 10.249.0.0/24 dev eth0 src {new} && ip route replace default via 10.249.0.1",
           old=WAN[site], new=MOVED[site])


def move_back(site):
    run_in(site, "ip route del 10.249.0.0/24 dev eth0; ip addr add {old}/24 dev eth0 && ip addr del {new}/32 dev eth0 "
                 "&& ip route replace default via 10.249.0.1", old=WAN[site], new=MOVED[site])


def run_in(site, script, **values):
    proc = podman("exec", site, "sh", "-c", script.format(**values))
    assert proc.returncode == 0, proc.stderr


def endpoint_of(site, peer_tunnel_address):
    """The live endpoint ``site`` has for the peer whose tunnel address is given."""
    allowed = podman("exec", site, "wg", "show", "wg0", "allowed-ips").stdout
    key = next(line.split()[0] for line in allowed.splitlines() if peer_tunnel_address + "/32" in line)
    endpoints = dict(line.split() for line in podman("exec", site, "wg", "show", "wg0", "endpoints").stdout.splitlines())
    return endpoints[key]


def answers(site, address, timeout=1):
    return podman("exec", site, "ping", "-c", "1", "-W", str(timeout), address).returncode == 0


def wait_until_answers(site, address, within):
    started = time.monotonic()
    while time.monotonic() - started < within:
        if answers(site, address):
            return time.monotonic() - started
    return None


def journal(site, since=0):
    """The refresher's messages on ``site`` from the epoch second ``since`` on. journalctl takes
    whole seconds: a test that asserts a message is absent rounds its start up, so that a
    message of the test before, in the same second, is not taken for its own."""
    return podman("exec", site, "journalctl", "-q", "-o", "cat", "--since", "@%d" % since,
                  "-u", "wireguard-mesh-endpoints-wg0.service").stdout


@pytest.fixture(scope="module")
def named_mesh(tmp_path_factory):
    name_addresses(WAN)
    extra = tmp_path_factory.mktemp("endpoints") / "names.yml"
    extra.write_text(
        "wireguard_mesh:\n  vars:\n    wireguard_mesh_endpoint_refresh_interval: %d\n  hosts:\n"
        "    %s:\n      wireguard_mesh_endpoint: %s\n    %s:\n      wireguard_mesh_endpoint: %s\n"
        % (INTERVAL, FRANKFURT, NAMES[FRANKFURT], NEWYORK, NAMES[NEWYORK]))
    first = site_playbook("-i", str(extra))
    second = site_playbook("-i", str(extra))
    yield first, second
    # Back one at a time: each finds its peers again by roaming (its keepalives come from its
    # old address), then the names go and the lab's own inventory removes the timers.
    for site in (FRANKFURT, NEWYORK):
        if podman("exec", site, "ip", "-4", "addr", "show", "eth0").stdout.count(MOVED[site] + "/"):
            move_back(site)
            for other in SITES:
                if other != site:
                    wait_until_answers(other, TUNNEL[site], 60)
    for site in SITES:
        podman("exec", site, "sh", "-c", UNNAME)
    last = site_playbook()
    assert not re.search(r"failed=[1-9]|unreachable=[1-9]", last)
    for site in SITES:
        assert podman("exec", site, "systemctl", "cat", TIMER).returncode != 0, site


def test_sites_with_named_peers_get_the_timer_and_a_rerun_changes_nothing(named_mesh):
    first, second = named_mesh
    assert re.search(r"wgmesh-dublin\s*:.*changed=[1-9]", first)
    assert not re.search(r"changed=[1-9]", second), second[-3000:]
    for site in SITES:
        state = podman("exec", site, "systemctl", "is-active", TIMER).stdout.strip()
        assert state == "active", site
    config = podman("exec", DUBLIN, "cat", "/etc/wireguard/wg0.conf").stdout
    # wg-quick never sees the names (one that does not resolve would stop the whole interface).
    assert "# wgmesh-endpoint = frankfurt.wgmesh.test:51820" in config and "Endpoint = frankfurt" not in config
    # The live endpoints are the names' addresses: nothing for the timer to do.
    assert endpoint_of(DUBLIN, TUNNEL[FRANKFURT]) == "10.249.0.12:51820"


def test_a_name_lagging_behind_never_moves_a_live_pair(named_mesh, tmp_path):
    """dublin's resolver gives an address where nobody is for frankfurt: their session is alive,
    so three runs of the timer leave the endpoint, and 100 pings a second lose nothing."""
    since = math.ceil(time.time())
    log_path = tmp_path / "ping.log"
    with open(log_path, "w") as log:
        ping = subprocess.Popen(["podman", "exec", DUBLIN, "ping", "-i", "0.01", "-w", "60", TUNNEL[FRANKFURT]],
                                env=ENV, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        name_addresses({FRANKFURT: "10.249.0.99", NEWYORK: WAN[NEWYORK]}, sites=[DUBLIN])
        time.sleep(3 * INTERVAL + 1)
    finally:
        podman("exec", DUBLIN, "pkill", "-INT", "-f", "ping -i 0.01")
        ping.wait(timeout=15)
        name_addresses(WAN, sites=[DUBLIN])
    losses = ping_losses(log_path.read_text())
    assert losses["answered"] > 1000 and losses["lost"] == [], losses["lost"][:20]
    assert endpoint_of(DUBLIN, TUNNEL[FRANKFURT]) == "10.249.0.12:51820"
    assert "moved" not in journal(DUBLIN, since)


def test_a_name_that_does_not_resolve_stops_no_interface(named_mesh):
    """wg-quick fails the whole interface on an Endpoint it cannot resolve. Here frankfurt's
    name is unknown to dublin when dublin restarts its interface: it comes up, newyork's name is
    set right after (PostUp queues the refresher) and answers, the journal names frankfurt's
    name, and once the name resolves again the next timer run sets frankfurt too."""
    since = int(time.time())
    name_addresses({NEWYORK: WAN[NEWYORK]}, sites=[DUBLIN])
    try:
        proc = podman("exec", DUBLIN, "systemctl", "restart", "wg-quick@wg0")
        assert proc.returncode == 0, proc.stderr
        assert wait_until_answers(DUBLIN, TUNNEL[NEWYORK], 20) is not None
        assert endpoint_of(DUBLIN, TUNNEL[NEWYORK]) == "10.249.0.13:51820"
        assert "cannot resolve frankfurt.wgmesh.test" in journal(DUBLIN, since)
    finally:
        name_addresses(WAN, sites=[DUBLIN])
    assert wait_until_answers(DUBLIN, TUNNEL[FRANKFURT], 4 * INTERVAL) is not None


def test_two_sites_that_move_at_once_find_each_other_again(named_mesh):
    """frankfurt and newyork get new addresses at the same moment: each still sends to the
    other's old one. dublin's address did not change, so their keepalives reach it and it
    learns their new addresses at once (roaming); between them, only the timers help."""
    since = math.ceil(time.time())
    name_addresses(MOVED)
    moved_at = time.monotonic()
    move_away(FRANKFURT)
    move_away(NEWYORK)
    for site in (FRANKFURT, NEWYORK):
        assert wait_until_answers(DUBLIN, TUNNEL[site], 60) is not None, site
    healed = wait_until_answers(FRANKFURT, TUNNEL[NEWYORK], HEAL_WITHIN)
    assert healed is not None, "frankfurt and newyork did not find each other within %d s" % HEAL_WITHIN
    print("frankfurt <-> newyork answered again %.0f s after the move" % (time.monotonic() - moved_at))
    assert answers(NEWYORK, TUNNEL[FRANKFURT])
    assert endpoint_of(FRANKFURT, TUNNEL[NEWYORK]) == MOVED[NEWYORK] + ":51820"
    assert endpoint_of(NEWYORK, TUNNEL[FRANKFURT]) == MOVED[FRANKFURT] + ":51820"
    # Whichever timer ran first set the endpoint; its handshake taught the other end by roaming.
    assert ("newyork.wgmesh.test moved: endpoint 10.249.0.13:51820 -> 10.249.0.113:51820" in journal(FRANKFURT, since)
            or "frankfurt.wgmesh.test moved: endpoint 10.249.0.12:51820 -> 10.249.0.112:51820" in journal(NEWYORK, since))
    # dublin learned both from their packets: its timer had nothing to set.
    assert "moved" not in journal(DUBLIN, since)
