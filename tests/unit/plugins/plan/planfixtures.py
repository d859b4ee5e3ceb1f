# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's three sites as the plan sees them, and probes of converged and fresh sites."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import yaml

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.render import role_renderer

ROLE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'wireguard_mesh'))
DEFAULTS = yaml.safe_load(open(os.path.join(ROLE, 'defaults', 'main.yml')))
SPEC = yaml.safe_load(open(os.path.join(ROLE, 'meta', 'argument_specs.yml')))['argument_specs']['main']['options']
RENDERER = role_renderer(ROLE)
SITES = {
    'dublin': {'wireguard_mesh_address': '10.99.0.1', 'wireguard_mesh_endpoint': '10.249.0.11',
               'wireguard_mesh_lan_cidrs': ['10.10.0.0/24']},
    'frankfurt': {'wireguard_mesh_address': '10.99.0.2', 'wireguard_mesh_endpoint': '10.249.0.12',
                  'wireguard_mesh_lan_cidrs': ['10.20.0.0/24']},
    'newyork': {'wireguard_mesh_address': '10.99.0.3', 'wireguard_mesh_endpoint': '10.249.0.13',
                'wireguard_mesh_lan_cidrs': ['10.30.0.0/24']},
}
PRIVATE = dict((name, keys.generate_private_key()) for name in SITES)
PUBLIC = dict((name, keys.public_key_from_private(key)) for name, key in PRIVATE.items())
PSK = dict(('+'.join(sorted([a, b])), 'sha256:%016x' % n) for n, (a, b) in
           enumerate([('dublin', 'frankfurt'), ('dublin', 'newyork'), ('frankfurt', 'newyork')]))
OS = {'id': 'debian', 'id_like': '', 'version_id': '12', 'family': 'Debian', 'distribution': 'Debian', 'major': '12'}


def hostvars(**changes):
    """The lab's hostvars; ``changes``: site -> extra variables."""
    out = dict((name, dict(values, wireguard_mesh_underlay_mtu=1400)) for name, values in SITES.items())
    for name, extra in changes.items():
        out[name].update(extra)
    return out


def mesh(**changes):
    values = dict((var, DEFAULTS.get(var)) for var in plan.mesh_var_names())
    values['wireguard_mesh_group'] = 'wireguard_mesh'
    return plan.mesh(list(SITES), hostvars(**changes), values, DEFAULTS, SPEC)


def options(**changes):
    values = dict((name, DEFAULTS[name]) for name in DEFAULTS)
    values.update(changes)
    spec = dict((name, dict(entry, required=False)) for name, entry in SPEC.items())
    result, errors = plan.node_options(spec, values)
    assert errors == []
    return result


def fresh_probe(site, **changes):
    """A site the role never touched: stock Debian 12 with nftables, no WireGuard tools."""
    probe = {
        'now': 1700000000, 'os': dict(OS), 'kernel': False,
        'tools': {'wg': False, 'wg_quick': False, 'wireguard_go': False, 'nft': True, 'iptables': False,
                  'ufw': False, 'firewall_cmd': False},
        'service': {'enabled': 'not-found', 'active': 'inactive'}, 'firewalld': 'inactive', 'ufw': False,
        'selinux': False, 'files': {}, 'units': [], 'services': {},
        'sysctls': {'net.ipv4.ip_forward': '0', 'net.ipv4.conf.all.rp_filter': '0',
                    'net.ipv4.conf.default.rp_filter': '0', 'net.ipv6.conf.all.forwarding': '0'},
        'key': {'exists': False, 'public_key': None, 'ok': False, 'path': '/etc/wireguard/wg0.key'},
        'psks': {}, 'psk_extra': [],
        'interface': {'exists': False, 'public_key': None, 'listen_port': None, 'mtu': None, 'addresses': [],
                      'peers': []},
        'config_peers': {},
    }
    probe.update(changes)
    return probe


def psk_reports(site):
    return dict((other, {'exists': True, 'valid': True, 'fingerprint': PSK['+'.join(sorted([site, other]))],
                         'mode': '600', 'owner': 'root', 'group': 'root', 'symlink': False})
                for other in SITES if other != site)


def converged_probe(site, mesh_plan, node_options=None, **changes):
    """A site as the role leaves it: every file in place, services up, live interface as planned."""
    probe = fresh_probe(site)
    probe.update(tools=dict(probe['tools'], wg=True, wg_quick=True, wireguard_go=True),
                 service={'enabled': 'enabled', 'active': 'active'},
                 sysctls=dict((key, '1') for key in probe['sysctls']),
                 key={'exists': True, 'public_key': PUBLIC[site], 'ok': True, 'path': '/etc/wireguard/wg0.key'},
                 psks=psk_reports(site),
                 config_peers=dict((name, PUBLIC[name]) for name in SITES if name != site))
    node = node_of(site, mesh_plan, probe, node_options)
    probe['files'] = dict(node['files'])
    probe['interface'] = {'exists': True, 'public_key': PUBLIC[site], 'listen_port': node['port'],
                          'mtu': node['mtu'], 'addresses': list(node['addresses']),
                          'peers': sorted(PUBLIC[n] for n in SITES if n != site)}
    probe.update(copy.deepcopy(changes))
    return probe


def all_keys(reached=None):
    return {'public_keys': dict(PUBLIC), 'reached': sorted(reached or SITES)}


def node_of(site, mesh_plan, probe, node_options=None, keys_plan=None, psk_writes=(), os_vars=None):
    from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.node import node_plan
    return node_plan(site, mesh_plan, keys_plan or all_keys(), probe, node_options or options(),
                     os_vars or plan.os_vars(ROLE, probe.get('os') or {}), RENDERER, psk_writes)
