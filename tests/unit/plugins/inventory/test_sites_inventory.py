# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wgmesh.wireguard.sites inventory plugin: the guide's sites.json into the mesh group."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.wgmesh.wireguard.plugins.inventory.sites import InventoryModule, parse_sites
from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import split_endpoint
from ansible_collections.wgmesh.wireguard.plugins.module_utils.keys import generate_private_key, public_key_from_private
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.plan import sites_source_hints
from ansible_collections.wgmesh.wireguard.tests.unit.checkout import needs_checkout

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
BIN = os.path.dirname(sys.executable)
EXAMPLE = os.path.join(REPO, 'inventories', 'example.sites.json')


def ansible_env():
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg'),
        'ANSIBLE_INVENTORY_ENABLED': 'wgmesh.wireguard.sites,auto,yaml,ini',
        'ANSIBLE_NOCOLOR': '1',
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
    })
    return env


def trusted(value):
    """ansible-inventory prints text from inventory plugins as {"__ansible_unsafe": text}."""
    if isinstance(value, dict):
        return value['__ansible_unsafe'] if set(value) == {'__ansible_unsafe'} else dict(
            (k, trusted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def inventory_list(source):
    out = subprocess.check_output([os.path.join(BIN, 'ansible-inventory'), '-i', source, '--list'],
                                  cwd=REPO, env=ansible_env())
    return trusted(json.loads(out))


def test_guide_format_list_and_mapping():
    guide = [
        {'name': 'dublin', 'endpoint': '203.0.113.10:51820', 'tunnel_ip': '10.99.0.1/24', 'lan_cidr': '10.10.0.0/24'},
        {'name': 'frankfurt', 'endpoint': '198.51.100.20', 'tunnel_ip': '10.99.0.2',
         'lan_cidr': ['10.20.0.0/24', '10.21.0.0/24'], 'public_key': 'k' * 43 + '=', 'port': 51821},
        {'name': 'home', 'endpoint': '', 'tunnel_ip': '10.99.0.3', 'lan_cidr': '10.30.0.0/24, 10.31.0.0/24'},
        {'name': 'v6', 'endpoint': '[2001:db8::1]:51822', 'tunnel_ip': '10.99.0.4', 'lan_cidr': []},
    ]
    sites, mesh = parse_sites(guide)
    assert mesh == {}
    assert sites == [
        ('dublin', {'wireguard_mesh_endpoint': '203.0.113.10', 'wireguard_mesh_port': 51820,
                    'wireguard_mesh_address': '10.99.0.1', 'wireguard_mesh_lan_cidrs': ['10.10.0.0/24']}),
        ('frankfurt', {'wireguard_mesh_endpoint': '198.51.100.20', 'wireguard_mesh_port': 51821,
                       'wireguard_mesh_address': '10.99.0.2', 'wireguard_mesh_lan_cidrs': ['10.20.0.0/24', '10.21.0.0/24'],
                       'wireguard_mesh_public_key': 'k' * 43 + '='}),
        ('home', {'wireguard_mesh_endpoint': '', 'wireguard_mesh_address': '10.99.0.3',
                  'wireguard_mesh_lan_cidrs': ['10.30.0.0/24', '10.31.0.0/24']}),
        ('v6', {'wireguard_mesh_endpoint': '2001:db8::1', 'wireguard_mesh_port': 51822,
                'wireguard_mesh_address': '10.99.0.4', 'wireguard_mesh_lan_cidrs': []}),
    ]
    sites2, mesh2 = parse_sites({'sites': guide, 'network': '10.99.0.0/24', 'keepalive': 0})
    assert sites2 == sites
    assert mesh2 == {'wireguard_mesh_network': '10.99.0.0/24', 'wireguard_mesh_keepalive': 0}
    relayed, mesh3 = parse_sites({'sites': [dict(guide[2], relay='frankfurt')], 'relay': 'dublin'})
    assert relayed[0][1]['wireguard_mesh_relay'] == 'frankfurt'
    assert mesh3 == {'wireguard_mesh_relay': 'dublin'}


@pytest.mark.parametrize('endpoint, expected', [
    ('203.0.113.10', ('203.0.113.10', None)),
    ('203.0.113.10:51820', ('203.0.113.10', 51820)),
    ('vpn.example.com:4500', ('vpn.example.com', 4500)),
    ('2001:db8::1', ('2001:db8::1', None)),
    ('[2001:db8::1]:51820', ('2001:db8::1', 51820)),
    ('[2001:db8::1]', ('2001:db8::1', None)),
    (' vpn.example.com ', ('vpn.example.com', None)),
    ('', ('', None)),
    (None, ('', None)),
])
def test_split_endpoint(endpoint, expected):
    """The guide's endpoint field: the port is optional (module_utils/endpoint.py, shared with the nodes)."""
    assert split_endpoint(endpoint, port_required=False) == expected


@pytest.mark.parametrize('data, message', [
    ({'hosts': []}, 'expected a list of sites or a mapping with a "sites" list'),
    ('nope', 'expected a list of sites'),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'lan_cidrs': []}], "unknown field(s) lan_cidrs"),
    ([{'tunnel_ip': '10.99.0.1'}], 'has no name'),
    ([{'name': 'a'}], "site 'a' has no tunnel_ip"),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1'}, {'name': 'a', 'tunnel_ip': '10.99.0.2'}], "site 'a' appears twice"),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': '1.2.3.4:1', 'port': 2}], 'give one port'),
    # a port that is not one fails here, naming the site (it used to pass through, or become port 0)
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': '1.2.3.4:0'}],
     "site 'a': endpoint '1.2.3.4:0': the port must be a number from 1 to 65535"),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': 'vpn.example.com:70000'}], "site 'a': endpoint"),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': 'vpn.example.com:http'}], 'the port must be a number'),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': ':51820'}], "site 'a': endpoint ':51820' must be"),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': '[2001:db8::1]51820'}], '"[address]:port"'),
    ([{'name': 'a', 'tunnel_ip': '10.99.0.1', 'endpoint': 51820}], "site 'a': endpoint 51820 must be text such as \"host:port\", not int"),
    ({'sites': [], 'netwrok': 'x'}, 'unknown top-level field(s) netwrok'),
])
def test_bad_sites_files(data, message):
    with pytest.raises(ValueError) as info:
        parse_sites(data)
    assert message in str(info.value)


@pytest.mark.parametrize('name, content, expected', [
    ('sites.json', '[]', True),
    ('office.sites.json', '[]', True),
    ('office.sites.yaml', '[]', True),
    ('mesh.yml', 'plugin: wgmesh.wireguard.sites\npath: x.json\n', True),
    ('mesh.yml', 'plugin: other.thing\n', False),
    ('hosts.json', '[]', False),
    ('sites.txt', '[]', False),
])
def test_verify_file(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert InventoryModule().verify_file(str(path)) is expected


@needs_checkout
def test_example_sites_json_through_ansible_inventory():
    data = inventory_list(EXAMPLE)
    assert sorted(data['wireguard_mesh']['hosts']) == ['dublin', 'frankfurt', 'newyork']
    dublin = data['_meta']['hostvars']['dublin']
    assert dublin['wireguard_mesh_address'] == '10.99.0.1'
    assert dublin['wireguard_mesh_endpoint'] == '203.0.113.10'
    assert dublin['wireguard_mesh_lan_cidrs'] == ['10.10.0.0/24']
    assert data['_meta']['hostvars']['newyork']['wireguard_mesh_endpoint'] == '192.0.2.30'


@needs_checkout
def test_config_file_with_path_and_group(tmp_path):
    (tmp_path / 'data.json').write_text(json.dumps({'sites': [
        {'name': 'a', 'endpoint': '203.0.113.1', 'tunnel_ip': '10.98.0.1', 'lan_cidr': '10.1.0.0/24'},
        {'name': 'b', 'endpoint': '203.0.113.2', 'tunnel_ip': '10.98.0.2', 'lan_cidr': '10.2.0.0/24'}],
        'network': '10.98.0.0/24'}))
    (tmp_path / 'mesh.yml').write_text('plugin: wgmesh.wireguard.sites\npath: data.json\ngroup: vpn\n')
    data = inventory_list(str(tmp_path / 'mesh.yml'))
    assert sorted(data['vpn']['hosts']) == ['a', 'b']
    assert data['_meta']['hostvars']['a']['wireguard_mesh_network'] == '10.98.0.0/24'


@needs_checkout
def test_example_inventory_matches_sites_json():
    """inventories/example (hosts.yml + host_vars) and sites.json describe the same mesh."""
    ini = inventory_list(os.path.join(REPO, 'inventories', 'example', 'hosts.yml'))
    js = inventory_list(EXAMPLE)
    for name in ('dublin', 'frankfurt', 'newyork'):
        a, b = ini['_meta']['hostvars'][name], js['_meta']['hostvars'][name]
        for var in ('wireguard_mesh_address', 'wireguard_mesh_endpoint', 'wireguard_mesh_lan_cidrs',
                    'wireguard_mesh_port'):
            assert a[var] == b[var], (name, var)
        assert a['ansible_host'] == a['wireguard_mesh_endpoint']
    assert ini['_meta']['hostvars']['dublin']['wireguard_mesh_keepalive'] == 25


def guide_site(name, private_key, **extra):
    return dict({'name': name, 'endpoint': '203.0.113.10', 'tunnel_ip': '10.99.0.1', 'lan_cidr': '10.10.0.0/24',
                 'private_key': private_key}, **extra)


def test_the_guides_private_keys_are_checked_and_dropped():
    private = generate_private_key()
    public = public_key_from_private(private)
    sites, dummy = parse_sites({'sites': [guide_site('dublin', private)]})
    assert sites[0][1]['wireguard_mesh_public_key'] == public
    assert private not in json.dumps(sites)
    sites, dummy = parse_sites([guide_site('dublin', private, public_key=public)])
    assert sites[0][1]['wireguard_mesh_public_key'] == public


@pytest.mark.parametrize('private, public, message', [
    ('not-a-key', None, "site 'dublin': private_key has the wrong length"),
    ('A' * 43 + '!', None, "site 'dublin': private_key is not valid base64"),
    (None, 'other', "site 'dublin': public_key is not the public key of private_key"),
])
def test_a_bad_private_key_is_named_without_its_value(private, public, message):
    private = private or generate_private_key()
    extra = {'public_key': public_key_from_private(generate_private_key())} if public else {}
    with pytest.raises(ValueError) as info:
        parse_sites([guide_site('dublin', private, **extra)])
    assert message in str(info.value) and private not in str(info.value)


@needs_checkout
def test_guide_file_with_private_keys_through_ansible_inventory(tmp_path):
    privates = [generate_private_key() for dummy in range(2)]
    path = tmp_path / 'sites.json'
    path.write_text(json.dumps({'sites': [
        {'name': 'a', 'private_key': privates[0], 'public_key': public_key_from_private(privates[0]),
         'tunnel_ip': '10.99.0.1', 'endpoint': '203.0.113.1', 'lan_cidr': '10.1.0.0/24'},
        {'name': 'b', 'private_key': privates[1], 'tunnel_ip': '10.99.0.2', 'endpoint': '203.0.113.2',
         'lan_cidr': '10.2.0.0/24'}]}))
    proc = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(path), '--list'], cwd=REPO,
                          env=ansible_env(), capture_output=True, text=True, check=True)
    data = trusted(json.loads(proc.stdout))
    assert data['_meta']['hostvars']['b']['wireguard_mesh_public_key'] == public_key_from_private(privates[1])
    assert 'holds private keys (private_key)' in proc.stderr
    assert not any(p in proc.stdout + proc.stderr for p in privates)


@pytest.mark.parametrize('sources, hinted', [
    (['/srv/mesh/sites.json'], True),
    (['/srv/mesh/office.sites.yml'], True),
    (['/srv/mesh/hosts.yml', '/srv/mesh/sites.txt'], False),
])
def test_an_empty_mesh_group_from_a_sites_file_says_how_to_read_it(sources, hinted):
    hints = sites_source_hints(sources)
    assert bool(hints) is hinted
    assert all('ANSIBLE_INVENTORY_ENABLED=wgmesh.wireguard.sites' in hint and 'plugin: wgmesh.wireguard.sites' in hint
               for hint in hints)
