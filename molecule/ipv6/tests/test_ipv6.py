"""The mesh over an IPv6 underlay (molecule.yml): newyork has no IPv4 address on its WAN, frankfurt
is published over IPv6, dublin over IPv4; the tunnel and the LANs carry both families."""

import json
import os
import pathlib
import sys

# The lab helpers of the default scenario (same lab script, same podman environment).
sys.path.insert(0, str(pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or pathlib.Path(__file__).parents[3])
                       / "molecule" / "default" / "tests"))
from labtools import podman, run_playbook  # noqa: E402 pylint: disable=wrong-import-position

LAB = os.environ.get("WGMESH_LAB", "wgv6")
K = int(os.environ.get("WGMESH_LAB_INDEX", "6"))
DUBLIN, FRANKFURT, NEWYORK = ("%s-%s" % (LAB, name) for name in ("dublin", "frankfurt", "newyork"))
SITES = {
    name: {"tunnel4": "10.99.0.%d" % i, "tunnel6": "fd77:99::%d" % i,
           "lan4": "10.%d.%d.0/24" % (10 * i, K), "lan6": "fd77:%d:%d::/64" % (10 * i, K),
           "host4": "10.%d.%d.10" % (10 * i, K), "host6": "fd77:%d:%d::10" % (10 * i, K),
           "wan4": "10.249.%d.%d" % (K, 10 + i), "wan6": "fd77:249:%d::%d" % (K, 10 + i)}
    for i, name in enumerate((DUBLIN, FRANKFURT, NEWYORK), start=1)
}
UNDERLAY_MTU = 1400
TUNNEL_MTU = UNDERLAY_MTU - 80  # an IPv6 endpoint in the mesh (model.OVERHEAD_V6)


def on(container, command):
    proc = podman("exec", container, "sh", "-c", command)
    assert proc.returncode == 0, (container, command, proc.stdout, proc.stderr)
    return proc.stdout


def unanswered(container, addresses, options="", deadline=5):
    """The addresses that did not answer one ping from the container (all pinged at once)."""
    script = ('for a in "$@"; do (ping -n -c 1 -w %d -q %s "$a" >/dev/null 2>&1 || echo "$a") & done; wait'
              % (deadline, options))
    proc = podman("exec", container, "sh", "-c", script, "ping", *addresses)
    assert proc.returncode == 0, proc.stderr
    return sorted(proc.stdout.split())


def live_endpoints(container):
    """{peer's public key: live endpoint} of wg0."""
    return dict(line.split("\t") for line in on(container, "wg show wg0 endpoints").splitlines())


def public_key(container):
    return on(container, "wg show wg0 public-key").strip()


def test_newyork_is_ipv6_only_and_the_others_are_dual_stack():
    assert on(NEWYORK, "ip -4 -o addr show dev eth0") == ""
    assert on(NEWYORK, "ip -4 route show default") == ""
    for name, site in SITES.items():
        addresses = on(name, "ip -o addr show dev eth0 scope global | awk '{print $4}'").split()
        assert site["wan6"] + "/64" in addresses, (name, addresses)
        assert (site["wan4"] + "/24" in addresses) == (name != NEWYORK), (name, addresses)


def test_full_ping_matrix_over_both_tunnel_families():
    pings, failed = 0, []
    for name in SITES:
        targets = [SITES[other][key] for other in SITES if other != name for key in ("tunnel4", "tunnel6")]
        pings += len(targets)
        failed += [(name, address) for address in unanswered(name, targets)]
    assert (pings, failed) == (12, [])


def test_lan_hosts_reach_each_other_over_ipv4_and_ipv6():
    pings, failed = 0, []
    for name in SITES:
        targets = [SITES[other][key] for other in SITES if other != name for key in ("host4", "host6")]
        pings += len(targets)
        failed += [(name + "-lan", address) for address in unanswered(name + "-lan", targets)]
    assert (pings, failed) == (12, [])


def test_tunnel_mtu_is_the_underlay_mtu_minus_the_ipv6_overhead():
    for name in SITES:
        assert " mtu %d " % TUNNEL_MTU in on(name, "ip -o link show wg0"), name


def reassemblies(container):
    """IPv6 datagrams the container had to reassemble from fragments so far."""
    return int(on(container, "awk '$1 == \"Ip6ReasmReqds\" {print $2}' /proc/net/snmp6"))


def test_full_size_tunnel_packets_cross_every_pair_in_one_datagram():
    """DF pings of the tunnel MTU in both families on every pair: over the IPv6 underlay each one is a
    1400-byte datagram, exactly the WAN's MTU, so no site reassembles a fragment; one byte more
    does not leave the site."""
    before = dict((name, reassemblies(name)) for name in SITES)
    for family, header in (("tunnel4", 28), ("tunnel6", 48)):
        for name in SITES:
            targets = [SITES[other][family] for other in SITES if other != name]
            assert unanswered(name, targets, "-M do -s %d" % (TUNNEL_MTU - header)) == [], (name, family)
            too_big = "-M do -s %d" % (TUNNEL_MTU - header + 1)
            assert unanswered(name, targets, too_big, deadline=1) == sorted(targets), (name, family)
    assert dict((name, reassemblies(name)) for name in SITES) == before


def test_the_ipv4_overhead_would_fragment_the_ipv6_underlay():
    """The control: with dublin's tunnel at 1400 - 60, its full-size packets to newyork leave as
    1420-byte IPv6 datagrams, which the WAN only carries in fragments."""
    before = reassemblies(NEWYORK)
    on(DUBLIN, "ip link set wg0 mtu %d" % (UNDERLAY_MTU - 60))
    try:
        assert unanswered(DUBLIN, [SITES[NEWYORK]["tunnel6"]], "-M do -s %d" % (UNDERLAY_MTU - 60 - 48)) == []
    finally:
        on(DUBLIN, "ip link set wg0 mtu %d" % TUNNEL_MTU)
    assert reassemblies(NEWYORK) > before


def test_peers_reach_the_ipv6_only_site_at_its_ipv6_endpoint():
    key = public_key(NEWYORK)
    expected = "[%s]:51820" % SITES[NEWYORK]["wan6"]
    for name in (DUBLIN, FRANKFURT):
        assert "Endpoint = %s" % expected in on(name, "cat /etc/wireguard/wg0.conf"), name
        assert live_endpoints(name)[key] == expected, name


def test_the_ipv6_only_site_reaches_the_ipv4_published_site_where_it_comes_from():
    """dublin's configured endpoint is IPv4, which newyork cannot use: its live endpoint is the
    IPv6 address dublin's own packets come from."""
    key = public_key(DUBLIN)
    section = next(part for part in on(NEWYORK, "cat /etc/wireguard/wg0.conf").split("[Peer]")
                   if "PublicKey = %s" % key in part)
    assert "Endpoint = %s:51820" % SITES[DUBLIN]["wan4"] in section, section
    assert live_endpoints(NEWYORK)[key].startswith("[%s]:" % SITES[DUBLIN]["wan6"])


def test_verify_checks_both_families_and_passes(tmp_path):
    report_path = tmp_path / "verify.json"
    proc = run_playbook("verify", "-e", "wireguard_mesh_verify_report=%s" % report_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verify: 6 of 6 directions ok" in proc.stdout
    report = json.loads(report_path.read_text())
    assert report["ok"] and len(report["rows"]) == 6
    for row in report["rows"]:
        peer = SITES[row["peer"]]
        assert row["first_hops"] == {peer["lan4"]: peer["tunnel4"], peer["lan6"]: peer["tunnel6"]}, row
        assert row["lan_hosts"] == {peer["host4"]: True, peer["host6"]: True}, row
