# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the mesh model (hypothesis), checked against brute force and the stdlib ipaddress module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import itertools
import re

from hypothesis import given, settings, strategies as st

from ansible_collections.wgmesh.wireguard.plugins.filter.mesh import FilterModule
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model

F = FilterModule().filters()

NAME = st.from_regex(r'\A[a-z][a-z0-9_.-]{0,7}\Z')


@st.composite
def meshes(draw, min_sites=1, max_sites=12):
    """A valid mesh: unique names, addresses and /16 LANs; at most one site behind NAT; optional dual stack."""
    count = draw(st.integers(min_sites, max_sites))
    names = draw(st.lists(NAME, min_size=count, max_size=count, unique=True))
    hosts = draw(st.lists(st.integers(1, 254), min_size=count, max_size=count, unique=True))
    lan_blocks = draw(st.lists(st.integers(0, 250).filter(lambda k: k != 99), min_size=count * 3,
                               max_size=count * 3, unique=True))
    dual = draw(st.booleans())
    nat = draw(st.one_of(st.none(), st.integers(0, count - 1)))
    sites = []
    for i, name in enumerate(names):
        lan_count = draw(st.integers(0, 3))
        lans = ['10.%d.0.0/16' % k for k in lan_blocks[i * 3:i * 3 + lan_count]]
        if dual and draw(st.booleans()):
            lans.append('fd10:%x::/64' % i)
        sites.append({
            'name': name,
            'address': '10.99.0.%d' % hosts[i],
            'address6': 'fd99::%x' % hosts[i] if dual else '',
            'endpoint': '' if nat == i else draw(st.sampled_from(['198.51.100.%d' % (i + 1), '2001:db8::%x' % (i + 1),
                                                                  'site%d.example.net' % i])),
            'port': draw(st.integers(1, 65535)),
            'lan_cidrs': lans,
            'public_key': '',
            'underlay_mtu': draw(st.integers(1400, 9000)),
        })
    return {'sites': sites, 'network6': 'fd99::/64' if dual else '', 'keepalive': draw(st.sampled_from([0, 25, 7]))}


@settings(max_examples=150, deadline=None)
@given(meshes())
def test_random_valid_mesh_is_symmetric_and_non_overlapping(mesh):
    sites = mesh['sites']
    assert F['mesh_validate'](sites, '10.99.0.0/24', mesh['network6']) == []
    names = [s['name'] for s in sites]
    peers = dict((n, F['mesh_peers'](sites, n, {}, mesh['keepalive'])) for n in names)
    # the whole mesh at once (parsed once) is the same as site by site
    assert model.peers_by_site(sites, {}, mesh['keepalive']) == peers
    by_site = dict((s['name'], s) for s in sites)
    for a in names:
        listed = dict((p['name'], p) for p in peers[a])
        # every other site exactly once, never itself
        assert sorted(listed) == sorted(n for n in names if n != a)
        assert len(peers[a]) == len(names) - 1
        for b, entry in listed.items():
            back = dict((p['name'], p) for p in peers[b])[a]
            # symmetric: A lists B with B's AllowedIPs iff B lists A with A's
            expected_b = ['%s/32' % by_site[b]['address']] + (
                ['%s/128' % by_site[b]['address6']] if by_site[b]['address6'] else []) + [
                str(ipaddress.ip_network(x)) for x in by_site[b]['lan_cidrs']]
            assert entry['allowed_ips'] == expected_b
            assert back['allowed_ips'][0] == '%s/32' % by_site[a]['address']
            # endpoint text of B
            if by_site[b]['endpoint']:
                host = by_site[b]['endpoint']
                assert entry['endpoint'] == ('[%s]:%d' % (host, by_site[b]['port']) if ':' in host
                                             else '%s:%d' % (host, by_site[b]['port']))
            else:
                assert entry['endpoint'] is None
            # keepalive rule
            if mesh['keepalive'] > 0:
                assert entry['persistent_keepalive'] == mesh['keepalive']
            else:
                assert entry['persistent_keepalive'] == (0 if by_site[a]['endpoint'] else 25)
        # no two peers of a site have overlapping AllowedIPs
        nets = [(p['name'], ipaddress.ip_network(x)) for p in peers[a] for x in p['allowed_ips']]
        for (n1, x1), (n2, x2) in itertools.combinations(nets, 2):
            if n1 != n2 and x1.version == x2.version:
                assert not x1.overlaps(x2), (a, n1, x1, n2, x2)


@settings(max_examples=100, deadline=None)
@given(st.lists(NAME, max_size=30, unique=True))
def test_pairs_are_all_unordered_pairs_once(names):
    pairs = F['mesh_pairs'](names)
    n = len(names)
    assert len(pairs) == n * (n - 1) // 2
    assert len(set(tuple(p) for p in pairs)) == len(pairs)
    assert all(a < b for a, b in pairs)
    assert set(frozenset(p) for p in pairs) == set(frozenset(p) for p in itertools.combinations(names, 2))
    assert pairs == sorted(pairs)
    assert F['mesh_pairs'](list(reversed(names))) == pairs


FINGERPRINTS = st.sampled_from([None, None, 'fp1', 'fp2'])


@settings(max_examples=150, deadline=None)
@given(st.lists(NAME, min_size=2, max_size=8, unique=True), st.data())
def test_psk_reconciliation_gives_both_ends_the_same_value(names, data):
    pairs = F['mesh_pairs'](names)
    reports = dict((n, {}) for n in names)
    stored = {}  # (site, peer) -> psk held there now
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            fp = data.draw(FINGERPRINTS)
            reports[x][y] = fp
            if fp:
                stored[(x, y)] = ('A' * 42 + 'A=') if fp == 'fp1' else ('B' * 42 + 'A=')
    plan = F['psk_plan'](pairs, reports)
    contents = {}
    for site, peers in plan['read'].items():
        for peer in peers:
            assert (site, peer) in stored, 'asked to read a PSK the site does not have'
            contents.setdefault(site, {})[peer] = stored[(site, peer)]
    writes = F['psk_writes'](pairs, reports, contents)
    for site, items in writes.items():
        for item in items:
            stored[(site, item['name'])] = item['psk']
    for a, b in pairs:
        assert stored[(a, b)] == stored[(b, a)], (a, b)
        assert re.match(r'^[A-Za-z0-9+/]{43}=$', stored[(a, b)])
    # a second round finds nothing to do
    fp = dict((k, 'fp-' + v) for k, v in stored.items())
    reports2 = dict((n, dict((p, fp[(n, p)]) for p in names if p != n)) for n in names)
    assert F['psk_plan'](pairs, reports2) == {'read': {}}
    assert F['psk_writes'](pairs, reports2, {}) == {}


LAN = st.builds(lambda a, plen: str(ipaddress.ip_network('10.%d.%d.0/%d' % (a >> 8, a & 255, plen), strict=False)),
                st.integers(0, 0xffff), st.integers(8, 24))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(LAN, max_size=3), min_size=2, max_size=6))
def test_validate_finds_lan_overlaps_like_a_brute_force_check(lan_lists):
    sites = [{'name': 's%d' % i, 'address': '192.168.99.%d' % (i + 1), 'endpoint': '203.0.113.%d' % (i + 1),
              'port': 51820, 'lan_cidrs': lans, 'address6': '', 'public_key': '', 'underlay_mtu': 1500}
             for i, lans in enumerate(lan_lists)]
    problems = F['mesh_validate'](sites, '192.168.99.0/24')
    overlap_msgs = [p for p in problems if 'a LAN of site' in p]
    reported = set()
    for msg in overlap_msgs:
        m = re.match(r"^site '(s\d+)': wireguard_mesh_lan_cidrs entry (\S+) (?:is also a LAN of site '(s\d+)'|"
                     r"is inside (\S+), a LAN of site '(s\d+)')", msg)
        assert m, msg
        x, lan_x, other = m.group(1), m.group(2), m.group(3) or m.group(5)
        outer = m.group(4) or lan_x
        assert ipaddress.ip_network(lan_x).subnet_of(ipaddress.ip_network(outer))
        assert outer in sites[int(other[1:])]['lan_cidrs']
        reported.add(frozenset((x, other)))
    brute = set()
    for i, j in itertools.combinations(range(len(sites)), 2):
        if any(ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))
               for a in sites[i]['lan_cidrs'] for b in sites[j]['lan_cidrs']):
            brute.add(frozenset(('s%d' % i, 's%d' % j)))
    # exactly the overlapping pairs of sites are reported
    assert reported == brute
    assert len(problems) == len(overlap_msgs)
