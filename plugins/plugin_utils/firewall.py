# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall part of a node plan: which backend, and what the role adds to it.

nftables and iptables get a file of the role's own that wg-quick loads at every start
(PreUp); firewalld gets objects of the role's own (a zone, policies, an ipset: files of their
own, never the admin's zones); ufw gets rules tagged with the role's comment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import shlex

from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import split_endpoint
from ansible_collections.wgmesh.wireguard.plugins.module_utils.firewall_tag import role_tag
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.model import quote_names

PYTHON_CHECK = "python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' %s"
XML_CHECK = "python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' %s"
# Per backend: its files (template, name in the config dir, validate command; the first is the
# rules file), and the command wg-quick runs at every start (PreUp) and stop (PostDown).
# nftables.service loads /etc/nftables.conf, whose "flush ruleset" takes the role's rules too:
# the drop-in loads them again after each start or reload (absolute: outside the config dir).
NFT_DROPIN = '/etc/systemd/system/nftables.service.d/wgmesh-{interface}.conf'
BACKEND_FILES = {
    'nftables': ([('wgmesh-firewall.nft.j2', 'wgmesh-firewall.nft', 'nft -c -f %s', '0700'),
                  ('wgmesh-firewall-nft.py.j2', 'wgmesh-firewall-nft.py', PYTHON_CHECK, '0700'),
                  ('nftables-service-wgmesh.conf.j2', NFT_DROPIN, None, '0644')],
                 'python3 {1} up', 'python3 {1} down'),
    'iptables': ([('wgmesh-firewall.sh.j2', 'wgmesh-firewall.sh', 'sh -n %s', '0700')], 'sh {0}', None),
}


# firewalld: the tunnel's zone, and policies of priority below 0, which firewalld applies before
# any zone's rules and target (an admin's zone with target DROP included). A zone and a policy
# cannot share a name. Lowest first: the tunnel's traffic to the host is accepted before
# wgmesh-host drops packets for the tunnel address that come from elsewhere.
FIREWALLD_FILES = (
    ('firewalld-zone.xml.j2', '/etc/firewalld/zones/wgmesh.xml'),
    ('firewalld-policy-tunnel.xml.j2', '/etc/firewalld/policies/wgmesh-tunnel.xml'),
    ('firewalld-policy-host.xml.j2', '/etc/firewalld/policies/wgmesh-host.xml'),
    ('firewalld-policy-port.xml.j2', '/etc/firewalld/policies/wgmesh-port.xml'),
    ('firewalld-policy-forward.xml.j2', '/etc/firewalld/policies/wgmesh-forward.xml'),
    ('firewalld-ipset.xml.j2', '/etc/firewalld/ipsets/wgmesh-peers.xml'),
)
# The policy of the role's first firewalld design (port and rules in the admin's zone): its name
# is now the zone's, which firewalld refuses to load beside it.
FIREWALLD_RETIRED = ('/etc/firewalld/policies/wgmesh.xml',)


def role_files(interface):
    """Every file of a firewall backend the role writes: those a site that leaves the backend must
    lose (a relative name is inside the config dir)."""
    return ([name.format(interface=interface) for files, _up, _down in BACKEND_FILES.values()
             for _template, name, _check, _mode in files]
            + [path for _template, path in FIREWALLD_FILES] + list(FIREWALLD_RETIRED))


class FirewallError(ValueError):
    """The chosen backend cannot be used on this site; the message says what to do."""


def choose_backend(choice, probe, managers):
    """auto: an active firewall manager (in the distribution's order), else nftables (iptables when
    iptables chains drop by policy), iptables, none."""
    if choice != 'auto':
        return choice
    active = set()
    if probe.get('firewalld') == 'active':
        active.add('firewalld')
    if probe.get('ufw'):
        active.add('ufw')
    for manager in managers:
        if manager in active:
            return manager
    tools = probe.get('tools') or {}
    if tools.get('nft'):
        # iptables chains at policy drop (Docker, an iptables firewall): only iptables can open them.
        return 'iptables' if probe.get('iptables_drop') and tools.get('iptables') else 'nftables'
    if tools.get('iptables'):
        return 'iptables'
    return 'none'


def peer_ips(peers):
    """(IPv4, IPv6) endpoint addresses of the peers, sorted: DNS names cannot be pinned."""
    v4, v6 = set(), set()
    for peer in peers:
        if not peer.get('endpoint'):
            continue
        host = split_endpoint(peer['endpoint'])[0]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            continue
        (v4 if address.version == 4 else v6).add(address)
    return [str(a) for a in sorted(v4)], [str(a) for a in sorted(v6)]


def unpinned_peers(peers):
    """The peers whose source address no endpoint names, each with why: one behind NAT (no
    endpoint), one named by DNS (its address changes without the rule knowing)."""
    unpinned = []
    for peer in sorted(peers, key=lambda peer: peer['name']):
        if not peer.get('endpoint'):
            unpinned.append("'%s' (no endpoint: behind NAT)" % peer['name'])
        elif _ip_version(split_endpoint(peer['endpoint'])[0]) is None:
            unpinned.append("'%s' (a DNS name: its address changes without the rule knowing)" % peer['name'])
    return unpinned


def _ip_version(host):
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None  # a DNS name, or no endpoint


def other_family_peers(endpoint, peers):
    """The peers whose endpoint is an IP address of the other family than this site's own endpoint
    ``endpoint``: they reach this site from an address of its family that no endpoint names."""
    own = _ip_version(endpoint or '')
    if own is None:
        return []
    return sorted(peer['name'] for peer in peers if peer.get('endpoint')
                  and _ip_version(split_endpoint(peer['endpoint'])[0]) not in (None, own))


def ufw_rules(node, restrict, ips4):
    port = str(node['port'])
    if restrict:
        rules = [{'port': port, 'from_ip': address} for address in ips4]
    else:
        rules = [{'port': port, 'from_ip': 'any'}]
    return rules + [{'route': True, 'interface_in': node['interface']},
                    {'route': True, 'interface_out': node['interface']}]


def firewall_plan(site, probe, options, os_vars, node):
    backend = choose_backend(options['wireguard_mesh_firewall'], probe, os_vars['__wireguard_mesh_firewall_managers'])
    if (backend == 'firewalld' and probe.get('firewalld') != 'active') or (backend == 'ufw' and not probe.get('ufw')):
        raise FirewallError(
            "site '%s': wireguard_mesh_firewall is '%s' but %s is not active there. Start it, or set "
            "wireguard_mesh_firewall to auto, nftables, iptables or none." % (site, options['wireguard_mesh_firewall'], backend))
    if backend == 'nftables' and probe.get('iptables_drop'):
        raise FirewallError(
            "site '%s': iptables chains with policy drop (%s: Docker's, or an iptables firewall's) would still drop "
            "the WireGuard port and the forwarding through %s, and nftables rules cannot go into them without "
            "breaking iptables. Set wireguard_mesh_firewall to iptables (auto picks it when iptables is installed), "
            "or accept udp port %s and forwarding in and out of %s in those chains yourself and set "
            "wireguard_mesh_firewall to none." % (site, ', '.join(probe['iptables_drop']), node['interface'],
                                                  node['port'], node['interface']))
    restrict = bool(options['wireguard_mesh_firewall_restrict_sources'])
    mixed = other_family_peers(options['wireguard_mesh_endpoint'], node['peers']) if restrict else []
    if mixed:
        own = _ip_version(options['wireguard_mesh_endpoint'])
        raise FirewallError(
            "site '%s': wireguard_mesh_firewall_restrict_sources accepts the WireGuard port only from the peers' "
            "endpoint addresses, but this site's endpoint is IPv%d, that of %s IPv%d: they reach this site from IPv%d "
            "addresses that no endpoint names, and the rule would drop them. Give these sites endpoints of one "
            "family, or set wireguard_mesh_firewall_restrict_sources to false."
            % (site, own, quote_names(mixed), 6 if own == 4 else 4, own))
    unpinned = unpinned_peers(node['peers']) if restrict else []
    if unpinned:
        raise FirewallError(
            "site '%s': wireguard_mesh_firewall_restrict_sources accepts the WireGuard port only from the peers' "
            "endpoint IP addresses, and no rule can name where these peers come from: %s. The rule would drop "
            "their packets. Give these sites IP addresses as endpoints, or set "
            "wireguard_mesh_firewall_restrict_sources to false." % (site, ', '.join(unpinned)))
    ips4, ips6 = peer_ips(node['peers'])
    if restrict and ips6 and backend in ('firewalld', 'ufw', 'iptables'):
        raise FirewallError(
            "site '%s': wireguard_mesh_firewall_restrict_sources with the %s backend restricts IPv4 sources only, "
            "and peers have IPv6 endpoints (%s): %s. Use the nftables backend (wireguard_mesh_firewall: nftables), "
            "or set wireguard_mesh_firewall_restrict_sources to false."
            % (site, backend, ', '.join(ips6), 'ip6tables gets no rule, nothing restricts them' if backend == 'iptables'
               else 'the restriction would drop them'))
    config_dir = node['paths']['config_dir']
    plan = {
        'backend': backend,
        'restrict_sources': restrict,
        'masquerade': bool(options['wireguard_mesh_masquerade']),
        'peer_ips4': ips4,
        'peer_ips6': ips6,
        'file': None,
        'load_argv': None,
        'pre_up': [],
        'post_down': [],
        'tag': role_tag(node['interface']),
        'files': [],
        # The zone whose traffic may reach the WireGuard port; empty: any zone.
        'zone': options['wireguard_mesh_firewalld_zone'],
        'ufw_rules': ufw_rules(node, restrict, ips4) if backend == 'ufw' else [],
        # Rules of ufw tagged by the role on a site that no longer uses ufw: deleted.
        'ufw_leftovers': backend != 'ufw' and bool(probe.get('ufw_tagged')),
    }
    if backend in BACKEND_FILES:
        files, up, down = BACKEND_FILES[backend]
        paths = [os.path.join(config_dir, name.format(interface=node['interface'])) for _t, name, _c, _m in files]
        plan['file'] = paths[0]
        plan['load_argv'] = up.format(*paths).split()
        plan['pre_up'] = [up.format(*[shlex.quote(path) for path in paths])]
        plan['post_down'] = [down.format(*[shlex.quote(path) for path in paths])] if down else []
        plan['files'] = [(template, path, mode, check) for (template, _name, check, mode), path in zip(files, paths)]
    elif backend == 'firewalld':
        plan['files'] = [(template, path, '0644', XML_CHECK) for template, path in FIREWALLD_FILES]
    present = probe.get('files') or {}
    wanted = [entry[1] for entry in plan['files']]
    plan['leftovers'] = [path for path in (os.path.join(config_dir, name) for name in role_files(node['interface']))
                         if path not in wanted and present.get(path, 'absent') != 'absent']
    # firewalld keeps what it loaded until a reload: the role's files that go must be reloaded away.
    plan['firewalld_files_gone'] = (probe.get('firewalld') == 'active'
                                    and any(path.startswith('/etc/firewalld/') for path in plan['leftovers']))
    # An `nft -f` by hand (a "flush ruleset") took the role's rules away: they are loaded again.
    plan['rules_gone'] = backend == 'nftables' and probe.get('nft_rules') == 'missing'
    return plan
