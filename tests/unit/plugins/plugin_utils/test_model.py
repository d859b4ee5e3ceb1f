# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/model.py: prepare / peers / peers_by_site, and the small parsers the model shares."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import gc

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model

KEY = keys.public_key_from_private(keys.generate_private_key())


def make_sites(count, nat=(2,)):
    """A valid dual-stack mesh with IPv4, IPv6 and DNS endpoints and sites behind NAT."""
    sites = []
    for i in range(count):
        endpoint = ('' if i in nat else
                    ['198.18.0.%d' % (i + 1), '2001:DB8::%x' % (i + 1), 'Site%d.Example.net.' % i][i % 3])
        sites.append({
            'name': 'site%03d' % ((i * 7) % count),  # not in name order
            'address': '10.99.%d.%d' % (i // 200, i % 200 + 1),
            'address6': 'fd99::%x' % (i + 1) if i % 2 else '',
            'endpoint': endpoint,
            'port': 51820 + i % 3,
            'lan_cidrs': ['172.16.%d.0/24' % i] + (['FD10:%x::/64' % i] if i % 4 == 0 else []),
            'public_key': KEY if i % 5 == 0 else '',
            'underlay_mtu': 1500,
        })
    return sites


@pytest.mark.parametrize('count', [1, 2, 3, 17])
@pytest.mark.parametrize('keepalive', [0, 25, '7'])
@pytest.mark.parametrize('psk_dir', [None, '/etc/wireguard/psk/'])
def test_peers_by_site_is_peers_of_every_site(count, keepalive, psk_dir):
    sites = make_sites(count)
    public_keys = {'site001': keys.public_key_from_private(keys.generate_private_key())}
    expected = dict((s['name'], model.peers(sites, s['name'], public_keys, keepalive, psk_dir)) for s in sites)
    assert model.peers_by_site(sites, public_keys, keepalive, psk_dir) == expected
    prepared = model.prepare(sites)
    assert model.peers_by_site(prepared, public_keys, keepalive, psk_dir) == expected
    for name, peers in expected.items():
        assert model.peers(prepared, name, public_keys, keepalive, psk_dir) == peers


def test_peers_by_site_of_some_sites_and_its_errors():
    sites = make_sites(5)
    got = model.peers_by_site(sites, names=['site000', 'site003'])
    assert sorted(got) == ['site000', 'site003']
    assert got['site003'] == model.peers(sites, 'site003')
    assert model.peers_by_site([]) == {}
    with pytest.raises(model.MeshError, match="^site 'paris' is not in the mesh"):
        model.peers_by_site(sites, names=['paris'])
    with pytest.raises(model.MeshError, match='^wireguard_mesh_keepalive -1 is not an integer'):
        model.peers_by_site(sites, keepalive=-1)


def test_prepared_output_is_fresh_and_a_snapshot():
    sites = make_sites(3)
    prepared = model.prepare(sites)
    first = model.peers(prepared, 'site000')
    first[0]['allowed_ips'].append('1.2.3.0/24')
    assert '1.2.3.0/24' not in model.peers(prepared, 'site000')[0]['allowed_ips']
    before = copy.deepcopy(model.peers(prepared, 'site000'))
    sites[1]['lan_cidrs'].append('10.77.0.0/16')  # a list changed later: prepare again to see it
    assert model.peers(prepared, 'site000') == before
    assert model.peers(sites, 'site000') != before


def test_peers_output_and_canonical_text():
    sites = make_sites(6)
    by_name = dict((p['name'], p) for p in model.peers(sites, 'site002', {}, 0, '/psk'))
    # site002 is behind NAT: keepalive 0 means it sends 25 s keepalives to every peer
    assert set(p['persistent_keepalive'] for p in by_name.values()) == {25}
    assert by_name['site000'] == {
        'name': 'site000', 'public_key': KEY, 'endpoint': '198.18.0.1:51820',
        'allowed_ips': ['10.99.0.1/32', '172.16.0.0/24', 'fd10::/64'], 'persistent_keepalive': 25,
        'preshared_key_path': '/psk/site000.psk'}
    assert by_name['site001']['endpoint'] == '[2001:db8::2]:51821'
    assert by_name['site001']['allowed_ips'] == ['10.99.0.2/32', 'fd99::2/128', '172.16.1.0/24']
    assert by_name['site005']['endpoint'] == 'site5.example.net:51822'
    assert [p['persistent_keepalive'] for p in model.peers(sites, 'site000', {}, 0)] == [0] * 5


@pytest.mark.parametrize('field, value, message', [
    ('address', '10.99.0.300', "site 'site000': wireguard_mesh_address '10.99.0.300' is not an IPv4 address "
                               "(run mesh_validate)"),
    ('address6', '10.99.0.1', "site 'site000': wireguard_mesh_address6 '10.99.0.1' is not an IPv6 address"),
    ('lan_cidrs', '10.0.0.0/8', "site 'site000': wireguard_mesh_lan_cidrs must be a list (run mesh_validate)"),
    ('lan_cidrs', ['10.0.0.0/8\n'], "site 'site000': wireguard_mesh_lan_cidrs entry '10.0.0.0/8\\n' is not a "
                                    "CIDR: write it as ADDRESS/PREFIX"),
    ('port', 'x', "site 'site000': wireguard_mesh_port 'x' is not an integer (run mesh_validate)"),
    ('endpoint', '198.18.0.1:51820', "site 'site000': wireguard_mesh_endpoint '198.18.0.1:51820' includes a port"),
    ('endpoint', 'evil\n.example.com', "site 'site000': wireguard_mesh_endpoint 'evil\\n.example.com' is not an "
                                       "IP address or a DNS name (run mesh_validate)"),
])
def test_prepare_refuses_what_it_cannot_use(field, value, message):
    sites = make_sites(3)
    sites[0][field] = value
    for call in (model.prepare, model.peers_by_site, lambda s: model.peers(s, 'site001')):
        with pytest.raises(model.MeshError) as info:
            call(sites)
        assert str(info.value).startswith(message)


def test_prepare_refuses_duplicate_names():
    sites = make_sites(3)
    sites[2]['name'] = sites[0]['name']
    with pytest.raises(model.MeshError, match="^site names must be unique.*'site000'"):
        model.prepare(sites)


@pytest.mark.parametrize('enabled', [True, False])
def test_peers_by_site_leaves_the_garbage_collector_as_it_was(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        model.peers_by_site(make_sites(4))
        assert gc.isenabled() is enabled
        with pytest.raises(model.MeshError):
            model.peers_by_site(make_sites(4), names=['nope'])
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_valid_key_is_exactly_what_wg_prints():
    assert model.valid_key(KEY)
    assert model.valid_key('A' * 43 + '=')
    for bad in (KEY + '\n', KEY + ' ', ' ' + KEY, KEY[:-1], KEY + 'A', 'x' * 43 + '=', 'A' * 42 + 'B=',
                KEY.encode('ascii'), None, 5, '', KEY[:20] + '\x00' + KEY[21:], u'\u00e9' * 44):
        assert not model.valid_key(bad), repr(bad)


@pytest.mark.parametrize('value, expected', [
    (5, 5), ('51820', 51820), (' 25 ', 25), ('25\n', 25), (True, None), ('2.5', None), ('-1', None),
    (u'\u0665', None), (None, None), (2.0, None),
])
def test_as_int(value, expected):
    assert model.as_int(value) == expected
