# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: sites
author:
  - wgmesh maintainers (@wgmesh)
version_added: 0.1.0
short_description: The guide's sites.json / sites.yml as a mesh inventory
description:
  - Reads a list of sites in the guide's format (a JSON or YAML list, or a mapping with a C(sites) list) and
    adds every site as a host of the group O(group) with the C(wireguard_mesh_*) variables the role reads.
  - "Fields of a site: C(name) (the inventory hostname), C(endpoint) (public IP or DNS name, optionally with
    C(:port) or as C([ipv6]:port); empty or absent = behind NAT), C(tunnel_ip) (tunnel IPv4 address, a
    C(/prefix) is dropped), C(lan_cidr) (a CIDR or a list of CIDRs), C(public_key) (optional), C(port) (optional),
    optionally C(tunnel_ip6) and C(underlay_mtu), and C(relay) (for a site behind NAT: the site that carries its
    pairs with the other sites behind NAT)."
  - "C(private_key), which the guide's generator reads, is accepted and checked, then dropped at once: a site
    keeps the key it holds (or makes one on the site), and no private key enters the inventory's variables. The
    public key is derived from it when C(public_key) is absent, and must match it when present. A warning says
    to remove the private keys from the file."
  - "Mesh-wide fields in the mapping form (optional): C(network), C(network6), C(interface), C(keepalive), C(mtu),
    C(port), C(relay); they become the group's C(wireguard_mesh_*) variables."
  - C(ansible_host) is not set; set it yourself (host_vars, or a C(compose)-style extra inventory) if Ansible
    should manage the sites; C(playbooks/render.yml) does not need it.
  - "Accepted sources: a data file named C(sites.json), C(sites.yml), C(sites.yaml) or C(*.sites.json),
    C(*.sites.yml), C(*.sites.yaml) (enable the plugin: C(enable_plugins = wgmesh.wireguard.sites, auto, yaml, ini)
    in the C([inventory]) section of ansible.cfg, or C(ANSIBLE_INVENTORY_ENABLED)); or a YAML config file with
    C(plugin: wgmesh.wireguard.sites) and O(path) (works through the default C(auto) plugin)."
options:
  plugin:
    description: Name of the plugin, in a YAML config file.
    type: str
    choices: [wgmesh.wireguard.sites]
  path:
    description: The sites file, relative to the config file's directory. Only in a YAML config file.
    type: str
  group:
    description: Group of the sites (the role's C(wireguard_mesh_group)).
    type: str
    default: wireguard_mesh
'''

EXAMPLES = r'''
# sites.json, the guide's format:
# [
#   {"name": "dublin", "endpoint": "203.0.113.10", "tunnel_ip": "10.99.0.1", "lan_cidr": "10.10.0.0/24"},
#   {"name": "frankfurt", "endpoint": "198.51.100.20:51820", "tunnel_ip": "10.99.0.2",
#    "lan_cidr": ["10.20.0.0/24", "10.21.0.0/24"]}
# ]
#
# ansible-playbook wgmesh.wireguard.render -i sites.json   (plugin enabled in ansible.cfg)

# mesh.yml, a config file (no ansible.cfg change needed):
plugin: wgmesh.wireguard.sites
path: sites.json
group: wireguard_mesh
'''

import json
import os
import re

import yaml

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import split_endpoint
from ansible_collections.wgmesh.wireguard.plugins.module_utils.keys import public_key_from_private

PRIVATE_KEYS_WARNING = ('%s holds private keys (private_key): they were checked against the public keys and are '
                        'not used. Each site keeps the key it holds, or makes one on the site. Remove the '
                        'private keys from the file and from wherever it is copied or versioned.')

_DATA_NAME_RE = re.compile(r'(^|\.)sites\.(json|ya?ml)\Z')
_CONFIG_EXT = ('.yml', '.yaml')
_SITE_FIELDS = ('name', 'endpoint', 'tunnel_ip', 'tunnel_ip6', 'lan_cidr', 'public_key', 'private_key', 'port',
                'underlay_mtu', 'relay')
_MESH_FIELDS = {
    'network': 'wireguard_mesh_network',
    'network6': 'wireguard_mesh_network6',
    'interface': 'wireguard_mesh_interface',
    'keepalive': 'wireguard_mesh_keepalive',
    'mtu': 'wireguard_mesh_mtu',
    'port': 'wireguard_mesh_port',
    'relay': 'wireguard_mesh_relay',
}


def is_sites_data_file(path):
    """Whether this plugin reads ``path`` as the guide's data (sites.json, *.sites.yml...)."""
    return bool(_DATA_NAME_RE.search(os.path.basename(path)))


def site_vars(site, where):
    """The wireguard_mesh_* variables of one site of the guide's format. Raises ValueError."""
    if not isinstance(site, dict):
        raise ValueError('%s is not a mapping of site fields' % where)
    unknown = sorted(set(site) - set(_SITE_FIELDS))
    if unknown:
        raise ValueError('%s has unknown field(s) %s; known fields: %s'
                         % (where, ', '.join(unknown), ', '.join(_SITE_FIELDS)))
    name = site.get('name')
    if not isinstance(name, str) or not name.strip():
        raise ValueError('%s has no name' % where)
    vars_ = {}
    try:
        host, port = split_endpoint(site.get('endpoint'), port_required=False)
    except ValueError as exc:
        raise ValueError("site '%s': %s (the endpoint field is host, host:port or [IPv6]:port)" % (name, exc))
    vars_['wireguard_mesh_endpoint'] = host
    given_port = site.get('port')
    if given_port not in (None, ''):
        if port is not None and str(port) != str(given_port).strip():
            raise ValueError("site '%s': endpoint %s says port %s but port is %s: give one port"
                             % (name, site.get('endpoint'), port, given_port))
        port = given_port
    if port is not None:
        vars_['wireguard_mesh_port'] = port
    tunnel_ip = site.get('tunnel_ip')
    if tunnel_ip is None:
        raise ValueError("site '%s' has no tunnel_ip" % name)
    vars_['wireguard_mesh_address'] = str(tunnel_ip).split('/', 1)[0].strip()
    if site.get('tunnel_ip6'):
        vars_['wireguard_mesh_address6'] = str(site['tunnel_ip6']).split('/', 1)[0].strip()
    lans = site.get('lan_cidr', [])
    if lans is None or lans == '':
        lans = []
    elif isinstance(lans, str):
        lans = [part.strip() for part in lans.split(',') if part.strip()]
    elif not isinstance(lans, list):
        raise ValueError("site '%s': lan_cidr must be a CIDR string or a list of CIDRs" % name)
    vars_['wireguard_mesh_lan_cidrs'] = lans
    if site.get('public_key'):
        vars_['wireguard_mesh_public_key'] = str(site['public_key']).strip()
    if site.get('private_key') not in (None, ''):
        derived = _public_of_private(site['private_key'], name)
        if 'wireguard_mesh_public_key' not in vars_:
            vars_['wireguard_mesh_public_key'] = derived
        elif vars_['wireguard_mesh_public_key'] != derived:
            raise ValueError("site '%s': public_key is not the public key of private_key: fix one of them (the "
                             "public key is what 'wg pubkey' prints for the private key)" % name)
    if site.get('underlay_mtu') not in (None, ''):
        vars_['wireguard_mesh_underlay_mtu'] = site['underlay_mtu']
    if site.get('relay') not in (None, ''):
        vars_['wireguard_mesh_relay'] = site['relay']
    return name.strip(), vars_


def _public_of_private(private_key, name):
    """The public key of a private key given in the file; the messages never hold the key."""
    return public_key_from_private(private_key, what="site '%s': private_key" % name)


def has_private_keys(data):
    sites = data.get('sites') if isinstance(data, dict) else data
    return isinstance(sites, list) and any(isinstance(site, dict) and site.get('private_key') for site in sites)


def parse_sites(data, source='sites file'):
    """(sites [(name, vars)], mesh-wide vars) of the guide's data. Raises ValueError."""
    mesh = {}
    if isinstance(data, dict):
        if 'sites' not in data:
            raise ValueError('%s: expected a list of sites or a mapping with a "sites" list' % source)
        unknown = sorted(set(data) - set(_MESH_FIELDS) - {'sites'})
        if unknown:
            raise ValueError('%s: unknown top-level field(s) %s; known: sites, %s'
                             % (source, ', '.join(unknown), ', '.join(sorted(_MESH_FIELDS))))
        for field, var in _MESH_FIELDS.items():
            if data.get(field) not in (None, ''):
                mesh[var] = data[field]
        data = data['sites']
    if not isinstance(data, list):
        raise ValueError('%s: expected a list of sites' % source)
    result = []
    seen = set()
    for index, site in enumerate(data):
        name, vars_ = site_vars(site, '%s: site #%d' % (source, index + 1))
        if name in seen:
            raise ValueError("%s: site '%s' appears twice" % (source, name))
        seen.add(name)
        result.append((name, vars_))
    return result, mesh


class InventoryModule(BaseInventoryPlugin):
    """The guide's sites.json as the mesh group."""

    NAME = 'wgmesh.wireguard.sites'

    def _config_data(self, path):
        try:
            with open(path, 'rb') as handle:
                data = yaml.safe_load(handle)
        except Exception:
            return None
        return data if isinstance(data, dict) and data.get('plugin') in (self.NAME, 'sites') else None

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        if is_sites_data_file(path):
            return True
        return path.endswith(_CONFIG_EXT) and self._config_data(path) is not None

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        group = 'wireguard_mesh'
        data_path = path
        config = self._config_data(path) if path.endswith(_CONFIG_EXT) else None
        if config is not None:
            self._read_config_data(path)
            group = self.get_option('group') or group
            data_path = self.get_option('path')
            if not data_path:
                raise AnsibleParserError('%s: the option "path" (the sites file) is required' % path)
            data_path = os.path.join(os.path.dirname(path), os.path.expanduser(data_path))
        try:
            if data_path.endswith('.json'):
                with open(data_path, 'rb') as handle:
                    data = json.loads(to_text(handle.read(), errors='surrogate_or_strict'))
            else:
                data = self.loader.load_from_file(data_path, cache='none')
        except (IOError, OSError, ValueError) as exc:
            raise AnsibleParserError('cannot read the sites file %s: %s' % (data_path, to_native(exc)))
        try:
            sites, mesh = parse_sites(data, data_path)
        except ValueError as exc:
            raise AnsibleParserError(to_native(exc))
        if has_private_keys(data):
            self.display.warning(PRIVATE_KEYS_WARNING % data_path)
        del data
        self.inventory.add_group(group)
        for var, value in mesh.items():
            self.inventory.set_variable(group, var, value)
        for name, vars_ in sites:
            self.inventory.add_host(name, group=group)
            for var, value in vars_.items():
                self.inventory.set_variable(name, var, value)
