# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh model filters: good meshes give exactly the expected peers, bad ones exactly the expected problems."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import subprocess
import sys

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.filter.mesh import FilterModule
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model
from ansible_collections.wgmesh.wireguard.tests.unit.checkout import needs_checkout

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections'))
F = FilterModule().filters()
mesh_sites = F['mesh_sites']
mesh_peers = F['mesh_peers']
mesh_pairs = F['mesh_pairs']
mesh_mtu = F['mesh_mtu']
mesh_validate = F['mesh_validate']
psk_plan = F['psk_plan']
psk_writes = F['psk_writes']
psk_peers = F['psk_peers']

KEY_A = 'x' * 42 + 'A='
KEY_B = 'y' * 42 + 'E='
KEY_C = 'z' * 42 + 'I='


def site(name, address, endpoint='', lans=(), port=51820, address6='', public_key='', underlay_mtu=1500, probes=(),
         relay=''):
    return {'name': name, 'address': address, 'address6': address6, 'endpoint': endpoint, 'port': port,
            'lan_cidrs': list(lans), 'public_key': public_key, 'underlay_mtu': underlay_mtu, 'lan_probes': list(probes),
            'relay': relay}


def guide():
    """The guide's three sites."""
    return [
        site('dublin', '10.99.0.1', '203.0.113.10', ['10.10.0.0/24']),
        site('frankfurt', '10.99.0.2', '198.51.100.20', ['10.20.0.0/24']),
        site('newyork', '10.99.0.3', '192.0.2.30', ['10.30.0.0/24']),
    ]


def peer(name, endpoint, allowed, keepalive=25, public_key=None):
    return {'name': name, 'public_key': public_key, 'endpoint': endpoint, 'allowed_ips': allowed,
            'persistent_keepalive': keepalive}


# --------------------------------------------------------------------------------------
# Good meshes
# --------------------------------------------------------------------------------------

def test_guide_mesh_is_valid_and_peers_are_the_guides():
    sites = guide()
    assert mesh_validate(sites, '10.99.0.0/24') == []
    keys = {'dublin': KEY_A, 'frankfurt': KEY_B, 'newyork': KEY_C}
    assert mesh_peers(sites, 'dublin', keys, 25) == [
        peer('frankfurt', '198.51.100.20:51820', ['10.99.0.2/32', '10.20.0.0/24'], 25, KEY_B),
        peer('newyork', '192.0.2.30:51820', ['10.99.0.3/32', '10.30.0.0/24'], 25, KEY_C),
    ]
    assert mesh_peers(sites, 'frankfurt', keys) == [
        peer('dublin', '203.0.113.10:51820', ['10.99.0.1/32', '10.10.0.0/24'], 25, KEY_A),
        peer('newyork', '192.0.2.30:51820', ['10.99.0.3/32', '10.30.0.0/24'], 25, KEY_C),
    ]
    assert mesh_peers(sites, 'newyork', keys) == [
        peer('dublin', '203.0.113.10:51820', ['10.99.0.1/32', '10.10.0.0/24'], 25, KEY_A),
        peer('frankfurt', '198.51.100.20:51820', ['10.99.0.2/32', '10.20.0.0/24'], 25, KEY_B),
    ]
    assert mesh_pairs(sites) == [['dublin', 'frankfurt'], ['dublin', 'newyork'], ['frankfurt', 'newyork']]
    assert mesh_mtu(sites) == 1440


def test_dual_stack_mesh():
    sites = [
        site('a', '10.99.0.1', '2001:db8::10', ['10.10.0.0/24', 'FD10:0::/64'], address6='fd99::1'),
        site('b', '10.99.0.2', '198.51.100.20', ['10.20.0.0/24'], port=51821, address6='FD99::2'),
        site('c', '10.99.0.3', 'vpn.example.com', [], address6='fd99::3'),
    ]
    assert mesh_validate(sites, '10.99.0.0/24', 'fd99::/64') == []
    assert mesh_peers(sites, 'c') == [
        peer('a', '[2001:db8::10]:51820', ['10.99.0.1/32', 'fd99::1/128', '10.10.0.0/24', 'fd10::/64']),
        peer('b', '198.51.100.20:51821', ['10.99.0.2/32', 'fd99::2/128', '10.20.0.0/24']),
    ]
    assert mesh_peers(sites, 'a')[1] == peer('c', 'vpn.example.com:51820', ['10.99.0.3/32', 'fd99::3/128'])
    assert mesh_mtu(sites) == 1420  # an IPv6 endpoint: 1500 - 80


def test_nat_site_keepalive_rule():
    sites = [
        site('hub', '10.99.0.1', '203.0.113.10', ['10.10.0.0/24']),
        site('office', '10.99.0.2', '', ['10.20.0.0/24']),
        site('shop', '10.99.0.3', '192.0.2.30', ['10.30.0.0/24']),
    ]
    assert mesh_validate(sites, '10.99.0.0/24') == []
    # keepalive 25: every peer gets it (the guide); the NAT site has no endpoint.
    assert mesh_peers(sites, 'hub', {}, 25) == [
        peer('office', None, ['10.99.0.2/32', '10.20.0.0/24'], 25),
        peer('shop', '192.0.2.30:51820', ['10.99.0.3/32', '10.30.0.0/24'], 25),
    ]
    # keepalive 0: only the NAT site sends keepalives (25), to all its peers.
    assert [p['persistent_keepalive'] for p in mesh_peers(sites, 'office', {}, 0)] == [25, 25]
    assert [p['persistent_keepalive'] for p in mesh_peers(sites, 'hub', {}, 0)] == [0, 0]
    assert [p['persistent_keepalive'] for p in mesh_peers(sites, 'shop', {}, 0)] == [0, 0]
    assert mesh_peers(sites, 'office', {}, 0)[0] == peer('hub', '203.0.113.10:51820',
                                                         ['10.99.0.1/32', '10.10.0.0/24'], 25)
    # keepalive 10 applies to every peer of every site
    assert {p['persistent_keepalive'] for s in ('hub', 'office', 'shop') for p in mesh_peers(sites, s, {}, 10)} == {10}


def test_public_keys_argument_wins_over_site_key():
    sites = guide()
    sites[1]['public_key'] = KEY_B
    assert [p['public_key'] for p in mesh_peers(sites, 'dublin')] == [KEY_B, None]
    assert [p['public_key'] for p in mesh_peers(sites, 'dublin', {'frankfurt': KEY_C, 'newyork': KEY_A})] == [KEY_C, KEY_A]


def test_psk_dir_adds_preshared_key_paths():
    peers = mesh_peers(guide(), 'dublin', {}, 25, '/etc/wireguard/psk/')
    assert [p['preshared_key_path'] for p in peers] == ['/etc/wireguard/psk/frankfurt.psk',
                                                        '/etc/wireguard/psk/newyork.psk']
    assert 'preshared_key_path' not in mesh_peers(guide(), 'dublin')[0]


def test_peers_follow_changes_of_the_sites_list():
    """Nothing is cached between calls: a list changed in place gives the new peers."""
    sites = guide()
    assert mesh_peers(sites, 'dublin')[0]['allowed_ips'] == ['10.99.0.2/32', '10.20.0.0/24']
    sites[1]['lan_cidrs'].append('10.21.0.0/24')
    assert mesh_peers(sites, 'dublin')[0]['allowed_ips'] == ['10.99.0.2/32', '10.20.0.0/24', '10.21.0.0/24']
    sites[1]['address'] = '10.99.0.9'
    assert mesh_peers(sites, 'dublin')[0]['allowed_ips'][0] == '10.99.0.9/32'
    # returned lists are copies: mutating them does not leak into later calls
    mesh_peers(sites, 'dublin')[0]['allowed_ips'].append('1.2.3.0/24')
    assert '1.2.3.0/24' not in mesh_peers(sites, 'dublin')[0]['allowed_ips']


def test_mesh_sites_reads_hostvars_with_defaults():
    hostvars = {
        'dublin': {'wireguard_mesh_address': ' 10.99.0.1 ', 'wireguard_mesh_endpoint': '203.0.113.10',
                   'wireguard_mesh_lan_cidrs': ['10.10.0.0/24'], 'ansible_host': '203.0.113.10'},
        'frankfurt': {'wireguard_mesh_address': '10.99.0.2', 'wireguard_mesh_port': '51821',
                      'wireguard_mesh_public_key': KEY_B, 'wireguard_mesh_underlay_mtu': 1492,
                      'wireguard_mesh_endpoint': None},
    }
    defaults = {'port': 51820, 'lan_cidrs': [], 'endpoint': '', 'address6': '', 'underlay_mtu': 1500, 'public_key': '',
                'relay': ''}
    assert mesh_sites(['dublin', 'frankfurt'], hostvars, defaults) == [
        site('dublin', '10.99.0.1', '203.0.113.10', ['10.10.0.0/24']),
        site('frankfurt', '10.99.0.2', '', [], port=51821, public_key=KEY_B, underlay_mtu=1492),
    ]
    assert mesh_sites([], hostvars, defaults) == []
    with pytest.raises(AnsibleFilterError, match="^mesh_sites: site 'paris' is not in hostvars"):
        mesh_sites(['paris'], hostvars, defaults)


def test_mesh_pairs_count_and_order():
    names = ['e', 'b', 'd', 'a', 'c']
    pairs = mesh_pairs(names)
    assert len(pairs) == 10
    assert pairs[0] == ['a', 'b'] and pairs[-1] == ['d', 'e']
    assert all(a < b for a, b in pairs)
    assert mesh_pairs([]) == [] and mesh_pairs(['solo']) == []
    with pytest.raises(AnsibleFilterError, match="^mesh_pairs: site names must be unique.*'a'"):
        mesh_pairs(['a', 'b', 'a'])


@pytest.mark.parametrize('mtus, endpoints, given, expected', [
    ([1500, 1500], ['203.0.113.1', '203.0.113.2'], 0, 1440),
    ([1500, 1492], ['203.0.113.1', '203.0.113.2'], 0, 1432),
    ([1500, 1500], ['2001:db8::1', '203.0.113.2'], 0, 1420),
    ([9000, 9000], ['203.0.113.1', ''], 0, 8940),
    ([1500, 1500], ['203.0.113.1', '203.0.113.2'], 1380, 1380),
])
def test_mesh_mtu(mtus, endpoints, given, expected):
    sites = [site('s%d' % i, '10.99.0.%d' % (i + 1), e, underlay_mtu=m) for i, (m, e) in enumerate(zip(mtus, endpoints))]
    assert mesh_mtu(sites, given) == expected


def test_filter_errors_name_the_filter():
    with pytest.raises(AnsibleFilterError, match="^mesh_peers: site 'paris' is not in the mesh"):
        mesh_peers(guide(), 'paris')
    bad = guide()
    bad[0]['lan_cidrs'] = ['10.10.0.1/24']
    with pytest.raises(AnsibleFilterError, match="^mesh_peers: site 'dublin': wireguard_mesh_lan_cidrs entry "
                                                 "'10.10.0.1/24' has host bits set: write it as 10.10.0.0/24"):
        mesh_peers(bad, 'frankfurt')
    with pytest.raises(AnsibleFilterError, match='^mesh_mtu: '):
        mesh_mtu(guide(), 'big')
    with pytest.raises(AnsibleFilterError, match='^psk_plan: every pair must be'):
        psk_plan([['a']], {})


@needs_checkout
def test_filters_need_no_netaddr():
    """Addresses are parsed with the stdlib (module_utils/addresses.py), as on the nodes."""
    code = ('import sys; sys.path.insert(0, %r)\n'
            'sys.modules["netaddr"] = None  # importing it now fails\n'
            'from ansible_collections.wgmesh.wireguard.plugins.filter import mesh\n'
            'f = mesh.FilterModule().filters()\n'
            'sites = [{"name": "a", "address": "10.99.0.1", "address6": "fd99::1", "endpoint": "2001:db8::1",\n'
            '          "lan_cidrs": ["10.1.0.0/24"], "port": 51820}, {"name": "b", "address": "10.99.0.2",\n'
            '          "address6": "fd99::2", "endpoint": "", "lan_cidrs": [], "port": 51820}]\n'
            'assert f["mesh_validate"](sites, "10.99.0.0/24", "fd99::/64") == []\n'
            'assert f["mesh_peers"](sites, "b")[0]["endpoint"] == "[2001:db8::1]:51820"\n' % COLLECTIONS)
    subprocess.check_call([sys.executable, '-c', code], cwd=os.path.dirname(__file__))


# --------------------------------------------------------------------------------------
# Bad meshes: each gives exactly the expected problem(s)
# --------------------------------------------------------------------------------------

def _mod(**changes):
    """The guide's mesh with per-site field changes: _mod(dublin={'address': ...})."""
    sites = guide()
    by_name = dict((s['name'], s) for s in sites)
    for name, fields in changes.items():
        by_name[name].update(fields)
    return sites


WHY_LAN = ("a prefix is routed to one peer only, so one site would steal the other's traffic; give every site its "
           "own, non-overlapping LANs.")

BAD = [
    ('no sites', [], {}, ["inventory group 'wireguard_mesh' has no hosts: add the sites to the group "
                          "'wireguard_mesh' (or set wireguard_mesh_group to the group that holds them)."]),
    ('no sites, other group', [], {'group': 'vpn'},
     ["inventory group 'vpn' has no hosts: add the sites to the group 'vpn' (or set wireguard_mesh_group to the "
      "group that holds them)."]),
    ('address outside', _mod(dublin={'address': '10.98.0.1'}), {},
     ["site 'dublin': wireguard_mesh_address 10.98.0.1 is outside wireguard_mesh_network 10.99.0.0/24: pick an "
      "address inside 10.99.0.0/24."]),
    ('address missing', _mod(frankfurt={'address': ''}), {},
     ["site 'frankfurt': wireguard_mesh_address is not set: give the site its tunnel IPv4 address inside "
      "10.99.0.0/24 (e.g. 10.99.0.1)."]),
    ('address malformed', _mod(frankfurt={'address': '10.99.0.300'}), {},
     ["site 'frankfurt': wireguard_mesh_address '10.99.0.300' is not an IPv4 address: give a plain address such "
      "as 10.99.0.1."]),
    ('address with prefix', _mod(frankfurt={'address': '10.99.0.2/24'}), {},
     ["site 'frankfurt': wireguard_mesh_address 10.99.0.2/24 has a prefix length: give the plain address "
      "10.99.0.2 (the prefix comes from wireguard_mesh_network)."]),
    ('network address', _mod(newyork={'address': '10.99.0.0'}), {},
     ["site 'newyork': wireguard_mesh_address 10.99.0.0 is the network address of wireguard_mesh_network "
      "10.99.0.0/24: pick a host address between 10.99.0.1 and 10.99.0.254."]),
    ('broadcast address', _mod(newyork={'address': '10.99.0.255'}), {},
     ["site 'newyork': wireguard_mesh_address 10.99.0.255 is the broadcast address of wireguard_mesh_network "
      "10.99.0.0/24: pick a host address between 10.99.0.1 and 10.99.0.254."]),
    ('duplicate address', _mod(newyork={'address': '10.99.0.1'}), {},
     ["sites 'dublin' and 'newyork': wireguard_mesh_address 10.99.0.1 is used by both: give every site its own "
      "tunnel address."]),
    ('network with host bits', guide(), {'network': '10.99.0.1/24'},
     ['wireguard_mesh_network 10.99.0.1/24 has host bits set: write it as 10.99.0.0/24.']),
    ('network malformed', guide(), {'network': '10.99.0/24'},
     ["wireguard_mesh_network '10.99.0/24' is not a CIDR: 10.99.0 is not an IP address; write it as "
      "ADDRESS/PREFIX, e.g. 10.99.0.0/24."]),
    ('lan host bits', _mod(dublin={'lan_cidrs': ['10.10.0.1/24']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry 10.10.0.1/24 has host bits set: write it as 10.10.0.0/24."]),
    ('lan malformed', _mod(dublin={'lan_cidrs': ['10.10.0.0/33']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry '10.10.0.0/33' is not a CIDR: the prefix length of an IPv4 "
      "network is at most 32."]),
    ('lan without prefix', _mod(dublin={'lan_cidrs': ['10.10.0.5']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry '10.10.0.5' has no prefix length: write 10.10.0.5/32 for a "
      "single host."]),
    ('lan not a list', _mod(dublin={'lan_cidrs': '10.10.0.0/24'}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs must be a list of CIDRs, got '10.10.0.0/24': write it as a list, "
      "e.g. ['10.10.0.0/24']."]),
    ('default route', _mod(frankfurt={'lan_cidrs': ['0.0.0.0/0']}), {},
     ["site 'frankfurt': wireguard_mesh_lan_cidrs entry 0.0.0.0/0 is a default route: as AllowedIPs it would pull "
      "all traffic of every other site into this tunnel; list the site's real LANs instead."]),
    ('default route v6', _mod(frankfurt={'lan_cidrs': ['10.20.0.0/24', '::/0']}), {},
     ["site 'frankfurt': wireguard_mesh_lan_cidrs entry ::/0 is a default route: as AllowedIPs it would pull "
      "all traffic of every other site into this tunnel; list the site's real LANs instead."]),
    ('lan equal', _mod(newyork={'lan_cidrs': ['10.10.0.0/24']}), {},
     ["site 'newyork': wireguard_mesh_lan_cidrs entry 10.10.0.0/24 is also a LAN of site 'dublin': " + WHY_LAN]),
    ('lan inside', _mod(newyork={'lan_cidrs': ['10.10.0.128/25']}), {},
     ["site 'newyork': wireguard_mesh_lan_cidrs entry 10.10.0.128/25 is inside 10.10.0.0/24, a LAN of site "
      "'dublin': " + WHY_LAN]),
    ('lan containing', _mod(newyork={'lan_cidrs': ['10.0.0.0/11']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry 10.10.0.0/24 is inside 10.0.0.0/11, a LAN of site "
      "'newyork': " + WHY_LAN,
      "site 'frankfurt': wireguard_mesh_lan_cidrs entry 10.20.0.0/24 is inside 10.0.0.0/11, a LAN of site "
      "'newyork': " + WHY_LAN]),
    ('lan inside tunnel network', _mod(dublin={'lan_cidrs': ['10.99.0.128/25']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry 10.99.0.128/25 is inside wireguard_mesh_network "
      "10.99.0.0/24: tunnel addresses are routed per site; pick a LAN outside the tunnel network."]),
    ('lan containing tunnel network', _mod(dublin={'lan_cidrs': ['10.96.0.0/12']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry 10.96.0.0/12 contains wireguard_mesh_network 10.99.0.0/24: "
      "tunnel addresses are routed per site; pick a LAN outside the tunnel network."]),
    ('lan equal to tunnel network', _mod(dublin={'lan_cidrs': ['10.99.0.0/24']}), {},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry 10.99.0.0/24 is equal to wireguard_mesh_network "
      "10.99.0.0/24: tunnel addresses are routed per site; pick a LAN outside the tunnel network."]),
    ('port out of range', _mod(dublin={'port': 70000}), {},
     ["site 'dublin': wireguard_mesh_port 70000 is out of range: use a UDP port between 1 and 65535 (default "
      "51820)."]),
    ('port not an integer', _mod(dublin={'port': 'fifty'}), {},
     ["site 'dublin': wireguard_mesh_port 'fifty' is not an integer: use a UDP port between 1 and 65535 (default "
      "51820)."]),
    ('same endpoint and port', _mod(newyork={'endpoint': '203.0.113.10'}), {},
     ["sites 'dublin' and 'newyork': wireguard_mesh_endpoint 203.0.113.10 port 51820 is the same for both: each "
      "site needs its own endpoint or its own wireguard_mesh_port."]),
    ('endpoint with port', _mod(newyork={'endpoint': '192.0.2.30:51820'}), {},
     ["site 'newyork': wireguard_mesh_endpoint '192.0.2.30:51820' includes a port: set the address only and put "
      "the port in wireguard_mesh_port: give the public IP address or DNS name only (empty = behind NAT)."]),
    ('endpoint malformed', _mod(newyork={'endpoint': '192.0.2.300'}), {},
     ["site 'newyork': wireguard_mesh_endpoint '192.0.2.300' is not a valid IPv4 address: give the public IP "
      "address or DNS name only (empty = behind NAT)."]),
    ('three NAT sites', _mod(dublin={'endpoint': ''}, frankfurt={'endpoint': ''}, newyork={'endpoint': ''}), {},
     ["sites 'dublin', 'frankfurt' and 'newyork' have no wireguard_mesh_endpoint and no site has one: no two of them "
      "can start a handshake, directly or through a relay; give at least one site a public endpoint (it relays "
      "between the others)."]),
    ('relay not a site', _mod(dublin={'endpoint': '', 'relay': 'paris'}, newyork={'endpoint': ''}), {},
     ["site 'dublin': wireguard_mesh_relay paris is not a site of the mesh: name a site with a public endpoint "
      "(frankfurt), or leave it unset to use 'frankfurt'."]),
    ('relay typo on a site with an endpoint', _mod(dublin={'relay': 'frankfrut'}), {},
     ["site 'dublin': wireguard_mesh_relay frankfrut is not a site of the mesh: name a site with a public endpoint "
      "(dublin, frankfurt, newyork), or leave it unset to use 'dublin'."]),
    ('relay behind NAT', _mod(dublin={'endpoint': '', 'relay': 'newyork'}, newyork={'endpoint': ''}), {},
     ["site 'dublin': wireguard_mesh_relay newyork has no wireguard_mesh_endpoint either, so neither site can reach "
      "it: name a site with a public endpoint (frankfurt), or leave it unset to use 'frankfurt'."]),
    ('relay is the site', _mod(dublin={'endpoint': '', 'relay': 'dublin'}), {},
     ["site 'dublin': wireguard_mesh_relay dublin is the site itself: name a site with a public endpoint "
      "(frankfurt, newyork), or leave it unset to use 'frankfurt'."]),
    ('relay not text', _mod(dublin={'endpoint': '', 'relay': ['frankfurt']}, newyork={'endpoint': ''}), {},
     ["site 'dublin': wireguard_mesh_relay ['frankfurt'] is not a site name: give the inventory name of a site with "
      "a wireguard_mesh_endpoint, or leave it unset."]),
    ('interface too long', guide(), {'interface': 'wireguard-mesh-0'},
     ["wireguard_mesh_interface 'wireguard-mesh-0' is 16 characters long: wg-quick refuses names over 15 "
      "characters; use a short name such as wg0."]),
    ('interface bad chars', guide(), {'interface': 'wg 0'},
     ["wireguard_mesh_interface 'wg 0' contains characters wg-quick refuses: use only letters, digits and _=+.- "
      "(e.g. wg0)."]),
    ('mtu too small', guide(), {'mtu': 1200},
     ['wireguard_mesh_mtu 1200 is out of range: use a tunnel MTU between 1280 and 9000, or 0 to compute it from '
      'the underlay MTU.']),
    ('computed mtu too small', _mod(frankfurt={'underlay_mtu': 1300}), {},
     ["site 'frankfurt': wireguard_mesh_underlay_mtu 1300 gives a tunnel MTU of 1240 (underlay - 60), outside "
      "1280..9000: set wireguard_mesh_mtu to a tunnel MTU in that range."]),
    ('duplicate public keys', _mod(dublin={'public_key': KEY_A}, newyork={'public_key': KEY_A}), {},
     ["sites 'dublin' and 'newyork': wireguard_mesh_public_key is the same for both: every site needs its own key "
      "pair."]),
    ('malformed public key', _mod(dublin={'public_key': 'not-a-key'}), {},
     ["site 'dublin': wireguard_mesh_public_key is not a WireGuard public key: give the 44-character base64 key "
      "printed by 'wg pubkey', or leave it unset to let the role generate the key pair."]),
    ('site name unusable', _mod(dublin={'name': 'dub lin'}), {},
     ["site 'dub lin': the inventory hostname cannot be used as a file name (it names the site's PSK files): "
      "rename the host using only letters, digits, '_', '.' and '-'."]),
    ('keepalive', guide(), {'keepalive': -1},
     ["wireguard_mesh_keepalive -1 is not an integer between 0 and 65535: use 25 (seconds, as the guide does) or "
      "0 (only sites behind NAT send keepalives)."]),
    ('v6 address without network6', _mod(dublin={'address6': 'fd99::1'}), {},
     ["site 'dublin': wireguard_mesh_address6 fd99::1 is set but wireguard_mesh_network6 is empty: set "
      "wireguard_mesh_network6 (e.g. fd99::/64) or remove the address."]),
    ('network6 without v6 address', _mod(dublin={'address6': 'fd99::1'}, frankfurt={'address6': 'fd99::2'}),
     {'network6': 'fd99::/64'},
     ["site 'newyork': wireguard_mesh_address6 is not set but wireguard_mesh_network6 is fd99::/64: give every "
      "site an IPv6 tunnel address inside it (e.g. fd99::1)."]),
    ('v6 address outside', _mod(dublin={'address6': 'fd98::1'}, frankfurt={'address6': 'fd99::2'},
                                newyork={'address6': 'fd99::3'}), {'network6': 'fd99::/64'},
     ["site 'dublin': wireguard_mesh_address6 fd98::1 is outside wireguard_mesh_network6 fd99::/64: pick an "
      "address inside fd99::/64."]),
    ('v6 duplicate', _mod(dublin={'address6': 'fd99::1'}, frankfurt={'address6': 'FD99:0::1'},
                          newyork={'address6': 'fd99::3'}), {'network6': 'fd99::/64'},
     ["sites 'dublin' and 'frankfurt': wireguard_mesh_address6 fd99::1 is used by both: give every site its own "
      "tunnel address."]),
    ('v6 lan inside network6', _mod(dublin={'address6': 'fd99::1', 'lan_cidrs': ['fd99::/96']},
                                    frankfurt={'address6': 'fd99::2'}, newyork={'address6': 'fd99::3'}),
     {'network6': 'fd99::/64'},
     ["site 'dublin': wireguard_mesh_lan_cidrs entry fd99::/96 is inside wireguard_mesh_network6 fd99::/64: "
      "tunnel addresses are routed per site; pick a LAN outside the tunnel network."]),
    ('network6 is IPv4', _mod(dublin={'address6': 'fd99::1'}, frankfurt={'address6': 'fd99::2'},
                              newyork={'address6': 'fd99::3'}), {'network6': '10.0.0.0/8'},
     ['wireguard_mesh_network6 10.0.0.0/8 is not an IPv6 network: use an IPv6 CIDR such as fd99::/64.']),
    ('probe outside the LANs', _mod(dublin={'lan_probes': ['10.10.0.10', '10.20.0.10']}), {},
     ["site 'dublin': wireguard_mesh_lan_probes entry 10.20.0.10 is not inside any of its wireguard_mesh_lan_cidrs "
      "(10.10.0.0/24): give a host on one of the site's LANs."]),
    ('probe without LANs', _mod(dublin={'lan_cidrs': [], 'lan_probes': ['10.10.0.10']}), {},
     ["site 'dublin': wireguard_mesh_lan_probes entry 10.10.0.10 is not inside any of its wireguard_mesh_lan_cidrs "
      "(none): give a host on one of the site's LANs."]),
    ('probe not an address', _mod(dublin={'lan_probes': ['lanhost.example']}), {},
     ["site 'dublin': wireguard_mesh_lan_probes entry lanhost.example is not an IP address: give the address of a "
      "host on one of the site's LANs that answers ping."]),
    ('probes not a list', _mod(dublin={'lan_probes': '10.10.0.10'}), {},
     ["site 'dublin': wireguard_mesh_lan_probes must be a list of addresses, got '10.10.0.10': write it as a list, "
      "e.g. ['10.10.0.10']."]),
]


@pytest.mark.parametrize('sites, kwargs, expected', [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_inventory_reports_exactly(sites, kwargs, expected):
    args = dict(network='10.99.0.0/24')
    args.update(kwargs)
    network = args.pop('network')
    assert mesh_validate(copy.deepcopy(sites), network, **args) == expected


def test_every_problem_is_reported_at_once():
    sites = _mod(dublin={'address': '10.98.0.1', 'lan_cidrs': ['0.0.0.0/0']}, frankfurt={'port': 0},
                 newyork={'lan_cidrs': ['10.20.0.0/16']})
    problems = mesh_validate(sites, '10.99.0.0/24', interface='x' * 16, mtu=100)
    assert len(problems) == 6, problems
    assert all(isinstance(p, str) and p.endswith('.') for p in problems)


def test_validate_survives_garbage():
    problems = mesh_validate([None, {'name': None}, {'name': 'ok', 'address': 5, 'lan_cidrs': [1, None]}],
                             '10.99.0.0/24')
    assert problems and all(isinstance(p, str) for p in problems)


# --------------------------------------------------------------------------------------
# PSK reconciliation
# --------------------------------------------------------------------------------------

PAIRS = [['a', 'b'], ['a', 'c'], ['b', 'c']]
PSK_A = 'A' * 43 + '='
PSK_B = 'B' * 42 + 'Q='


def test_psk_fresh_mesh_gets_one_psk_per_pair_on_both_ends():
    reports = {'a': {'b': None, 'c': None}, 'b': {'a': None, 'c': None}, 'c': {'a': None, 'b': None}}
    assert psk_plan(PAIRS, reports) == {'read': {}}
    writes = psk_writes(PAIRS, reports, {})
    assert sorted(writes) == ['a', 'b', 'c']
    values = dict(((site, w['name']), w['psk']) for site, ws in writes.items() for w in ws)
    assert len(values) == 6
    for x, y in PAIRS:
        assert values[(x, y)] == values[(y, x)]
        assert model.valid_key(values[(x, y)])
    assert len(set(values.values())) == 3


def test_psk_one_end_missing_and_ends_differ():
    reports = {
        'a': {'b': 'fp1', 'c': 'fp2'},
        'b': {'a': None, 'c': 'fp3'},
        'c': {'a': 'fp9', 'b': 'fp3'},
    }
    # a-b: only a has it -> read from a; a-c: differ -> a wins; b-c agree -> nothing
    assert psk_plan(PAIRS, reports) == {'read': {'a': ['b', 'c']}}
    contents = {'a': {'b': PSK_A, 'c': PSK_B}}
    expected = {'b': [{'name': 'a', 'psk': PSK_A}], 'c': [{'name': 'a', 'psk': PSK_B}]}
    assert psk_writes(PAIRS, reports, contents) == expected
    # only the second end has it -> read from b, write to a
    reports = {'a': {'b': None}, 'b': {'a': 'fp1'}}
    assert psk_plan([['a', 'b']], reports) == {'read': {'b': ['a']}}
    assert psk_writes([['a', 'b']], reports, {'b': {'a': PSK_B}}) == {'a': [{'name': 'b', 'psk': PSK_B}]}


def test_psk_module_report_format_and_unreported_sites():
    reports = {'a': {'b': {'exists': True, 'fingerprint': 'fp1'}}, 'b': {'a': {'exists': False, 'fingerprint': None}}}
    assert psk_plan([['a', 'b']], reports) == {'read': {'a': ['b']}}
    # c did not report (unreachable): its pairs are left alone
    reports = {'a': {'b': 'fp', 'c': None}, 'b': {'a': 'fp', 'c': None}}
    assert psk_plan(PAIRS, reports) == {'read': {}}
    assert psk_writes(PAIRS, reports, {}) == {}


def test_psk_writes_refuses_missing_read_without_leaking():
    reports = {'a': {'b': 'fp1'}, 'b': {'a': None}}
    with pytest.raises(AnsibleFilterError) as info:
        psk_writes([['a', 'b']], reports, {'a': {'b': 'short'}})
    assert "no valid PSK was read from site 'a' for its peer 'b'" in str(info.value)
    assert 'short' not in str(info.value)


def test_psk_peers():
    assert psk_peers(['a', 'b', 'c'], 'b') == [{'name': 'a'}, {'name': 'c'}]
    assert psk_peers(['a']) == [{'name': 'a'}]


def test_mesh_settings_first_site_and_disagreements():
    mesh_settings = F['mesh_settings']
    defaults = {'wireguard_mesh_network': '10.99.0.0/24', 'wireguard_mesh_network6': '',
                'wireguard_mesh_interface': 'wg0', 'wireguard_mesh_keepalive': 25, 'wireguard_mesh_mtu': 0}
    hostvars = {'a': {'wireguard_mesh_network': '10.99.0.0/24', 'wireguard_mesh_keepalive': 0},
                'b': {'wireguard_mesh_network': '10.99.0.0/24', 'wireguard_mesh_keepalive': '0'},
                'c': {'wireguard_mesh_network': '10.98.0.0/24', 'wireguard_mesh_keepalive': 0}}
    got = mesh_settings(['a', 'b', 'c'], hostvars, defaults)
    assert got == {'network': '10.99.0.0/24', 'network6': '', 'interface': 'wg0', 'keepalive': 0, 'mtu': 0,
                   'problems': ["wireguard_mesh_network differs between the sites (10.99.0.0/24 on 'a' and 'b'; "
                                "10.98.0.0/24 on 'c'): it is mesh-wide; set it once for the whole group, not per "
                                "host."]}
    assert mesh_settings(['a', 'b'], hostvars, defaults)['problems'] == []
    assert mesh_settings([], hostvars, defaults) == {'network': '10.99.0.0/24', 'network6': '', 'interface': 'wg0',
                                                     'keepalive': 25, 'mtu': 0, 'problems': []}
