# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every problem of a mesh (mesh_validate) as readable sentences: what is wrong, where, and what to do.

One small check per concern: the mesh-wide settings, each site's fields (which also collect
what the checks across sites need), duplicates across sites, LAN overlaps and the MTU.
O(N log N): LAN overlaps are found by sorting integer intervals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import bits, ip_text, parse_cidr, parse_ip
from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import endpoint_host
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.model import (
    BUILTIN_DEFAULTS, MTU_MAX, MTU_MIN, OVERHEAD_V4, OVERHEAD_V6, as_int, is_str, quote_names, valid_key,
)
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.routes import endpoints_in_routes, lan_overlaps

_NAME_RE = re.compile(r'[A-Za-z0-9_.-]+')
_IFACE_RE = re.compile(r'[a-zA-Z0-9_=+.-]+')
_PLAIN_RE = re.compile(r'[!-~]+')  # printable ASCII, no space
IFACE_MAX = 15
# A site names its peers' PSK files, <name>.psk, written through .<name>.psk.XXXXXXXX.tmp: 255 bytes at most.
NAME_MAX = 255 - len('.' + '.psk' + '.XXXXXXXX.tmp')


def _shown(value):
    """A value in a message: as it is when plain text, quoted and escaped otherwise (no raw control character)."""
    return value if is_str(value) and _PLAIN_RE.fullmatch(value) else repr(value)


class _Mesh(object):
    """The problems found so far and what the per-site checks collect for the checks across sites."""

    def __init__(self, problems, net4, net6, network6_set):
        self.problems = problems
        self.net4 = net4
        self.net6 = net6
        self.network6_set = network6_set
        self.names = set()
        self.addresses = {4: {}, 6: {}}  # address int -> [site names]
        self.endpoints = {}  # (host, port) -> [site names]
        self.keys = {}  # public key -> [site names]
        self.nat = []  # sites without an endpoint
        self.public = set()  # sites with one
        self.relays = {}  # site -> the wireguard_mesh_relay it names
        self.intervals = []  # (version, first, last, order, owner site or None, text)
        self.underlay = []  # (underlay MTU, order, site)
        self.any_v6_endpoint = False
        # the tunnel networks sort before any site's equal LAN (order -2, -1)
        for version, net, order in ((4, net4, -2), (6, net6, -1)):
            if net:
                self.intervals.append((version, net[0], net[1], order, None, net[3]))

    def add(self, problem):
        self.problems.append(problem)


# ---- Mesh-wide settings

def _interface_problems(interface):
    if not is_str(interface) or not interface:
        return ['wireguard_mesh_interface is empty: wg-quick needs an interface name such as wg0.']
    if len(interface) > IFACE_MAX:
        return ['wireguard_mesh_interface %r is %d characters long: wg-quick refuses names over '
                '15 characters; use a short name such as wg0.' % (interface, len(interface))]
    if not _IFACE_RE.fullmatch(interface):
        return ['wireguard_mesh_interface %r contains characters wg-quick refuses: use only letters, '
                'digits and _=+.- (e.g. wg0).' % (interface,)]
    return []


def _check_network(var, value, version, example, problems):
    """Parse a tunnel network; return (first, last, prefixlen, canonical) or None (problem added)."""
    try:
        got_version, first, last, plen, canonical, host_bits = parse_cidr(value)
    except ValueError as exc:
        problems.append('%s %r %s.' % (var, value, str(exc).replace('e.g. 10.10.0.0/24', 'e.g. ' + example)))
        return None
    if got_version != version:
        problems.append('%s %s is not an IPv%d network: use an IPv%d CIDR such as %s.'
                        % (var, value, version, version, example))
    elif host_bits:
        problems.append('%s %s has host bits set: write it as %s.' % (var, value, canonical))
    elif plen == 0:
        problems.append('%s %s is a default route: use a private range such as %s.' % (var, value, example))
    else:
        return first, last, plen, canonical
    return None


def _networks(network, network6, problems):
    """(net4, net6) of the tunnel networks, None where unset or wrong (problem added)."""
    net4 = net6 = None
    if network in (None, ''):
        problems.append('wireguard_mesh_network is not set: set the tunnel network, e.g. 10.99.0.0/24.')
    else:
        net4 = _check_network('wireguard_mesh_network', network, 4, '10.99.0.0/24', problems)
    if network6 not in (None, ''):
        net6 = _check_network('wireguard_mesh_network6', network6, 6, 'fd99::/64', problems)
    return net4, net6


def _mtu_setting(mtu_value, problems):
    """The wireguard_mesh_mtu as an int (0 = computed), None if it is not one (problem added)."""
    given = as_int(0 if mtu_value is None else mtu_value)
    if given is None:
        problems.append('wireguard_mesh_mtu %r is not an integer: use a tunnel MTU between %d and %d, or 0 to '
                        'compute it from the underlay MTU.' % (mtu_value, MTU_MIN, MTU_MAX))
    elif given != 0 and not MTU_MIN <= given <= MTU_MAX:
        problems.append('wireguard_mesh_mtu %d is out of range: use a tunnel MTU between %d and %d, or 0 to '
                        'compute it from the underlay MTU.' % (given, MTU_MIN, MTU_MAX))
    return given


def _keepalive_problems(keepalive):
    value = None if keepalive is None else as_int(keepalive)
    if keepalive is None or (value is not None and 0 <= value <= 65535):
        return []
    return ['wireguard_mesh_keepalive %r is not an integer between 0 and 65535: use 25 (seconds, as the guide '
            'does) or 0 (only sites behind NAT send keepalives).' % (keepalive,)]


# ---- Per site

def _check_name(mesh, site):
    """The site's name (as text), or None if another site already has it (problem added)."""
    name = site.get('name')
    if not is_str(name) or not _NAME_RE.fullmatch(name) or name in ('.', '..'):
        mesh.add("site %r: the inventory hostname cannot be used as a file name (it names the site's PSK "
                 "files): rename the host using only letters, digits, '_', '.' and '-'." % (name,))
        name = str(name)
    elif len(name) > NAME_MAX:
        mesh.add("site '%s...': the inventory hostname is %d characters long: it names the site's PSK files, "
                 "and a file name has at most 255 bytes; rename the host to at most %d characters."
                 % (name[:40], len(name), NAME_MAX))
    if name in mesh.names:
        mesh.add("site '%s' appears twice: every site needs a unique name." % name)
        return None
    mesh.names.add(name)
    return name


def _address_unset(mesh, name, var, version, network):
    if network:
        mesh.add("site '%s': %s is not set: give the site its tunnel IPv%d address inside %s (e.g. %s)."
                 % (name, var, version, network[3], ip_text(version, network[0] + 1)))
    else:
        mesh.add("site '%s': %s is not set: give the site its tunnel IPv%d address (e.g. %s)."
                 % (name, var, version, '10.99.0.1' if version == 4 else 'fd99::1'))


def _address_int(mesh, name, var, value, version, network_var):
    """The address as an int if it is a plain address of IP ``version``, else None (problem added)."""
    ip = parse_ip(value)
    example = '10.99.0.1' if version == 4 else 'fd99::1'
    if ip is None and is_str(value) and '/' in value and parse_ip(value.split('/', 1)[0]) is not None:
        mesh.add("site '%s': %s %s has a prefix length: give the plain address %s (the prefix comes from %s)."
                 % (name, var, _shown(value), value.split('/', 1)[0], network_var))
    elif ip is None:
        mesh.add("site '%s': %s %r is not an IPv%d address: give a plain address such as %s."
                 % (name, var, value, version, example))
    elif ip[0] != version:
        mesh.add("site '%s': %s %s is not an IPv%d address: give a plain address such as %s."
                 % (name, var, value, version, example))
    else:
        return ip[1]
    return None


def _in_network(mesh, where, version, address, network, network_var):
    """True if ``address`` is a usable host address of ``network``, else False (problem added).

    ``where`` starts the message: "site 'a': wireguard_mesh_address 10.99.0.0".
    """
    first, last, plen, canonical = network
    if not first <= address <= last:
        mesh.add('%s is outside %s %s: pick an address inside %s.' % (where, network_var, canonical, canonical))
    elif version == 4 and plen <= 30 and address in (first, last):
        mesh.add('%s is the %s address of %s %s: pick a host address between %s and %s.'
                 % (where, 'network' if address == first else 'broadcast', network_var, canonical,
                    ip_text(4, first + 1), ip_text(4, last - 1)))
    elif version == 6 and plen <= bits(6) - 2 and address == first:
        mesh.add('%s is the subnet-router anycast (network) address of %s %s: pick another address inside it, '
                 'e.g. %s.' % (where, network_var, canonical, ip_text(6, first + 1)))
    else:
        return True
    return False


def _check_address(mesh, name, site, version):
    """One tunnel address (IPv4 or IPv6) of a site, recorded for the duplicate check."""
    key, var, network_var = (('address', 'wireguard_mesh_address', 'wireguard_mesh_network') if version == 4
                             else ('address6', 'wireguard_mesh_address6', 'wireguard_mesh_network6'))
    network = mesh.net4 if version == 4 else mesh.net6
    value = site.get(key)
    if value in (None, ''):
        _address_unset(mesh, name, var, version, network)
        return
    address = _address_int(mesh, name, var, value, version, network_var)
    if address is None:
        return
    where = "site '%s': %s %s" % (name, var, value)
    if network is None or _in_network(mesh, where, version, address, network, network_var):
        mesh.addresses[version].setdefault(address, []).append(name)


def _check_addresses(mesh, name, site):
    _check_address(mesh, name, site, 4)
    address6 = site.get('address6')
    if address6 not in (None, '') and mesh.net6 is None and not mesh.network6_set:
        mesh.add("site '%s': wireguard_mesh_address6 %s is set but wireguard_mesh_network6 is empty: set "
                 "wireguard_mesh_network6 (e.g. fd99::/64) or remove the address." % (name, _shown(address6)))
    elif address6 not in (None, ''):
        _check_address(mesh, name, site, 6)
    elif mesh.net6 is not None:
        mesh.add("site '%s': wireguard_mesh_address6 is not set but wireguard_mesh_network6 is %s: give every "
                 "site an IPv6 tunnel address inside it (e.g. %s)."
                 % (name, mesh.net6[3], ip_text(6, mesh.net6[0] + 1)))


def _check_port(mesh, name, site):
    """The site's port, or None if it is not a usable port (problem added)."""
    raw = site.get('port', BUILTIN_DEFAULTS['port'])
    port = as_int(raw)
    if port is None:
        mesh.add("site '%s': wireguard_mesh_port %r is not an integer: use a UDP port between 1 and 65535 "
                 "(default 51820)." % (name, raw))
    elif not 1 <= port <= 65535:
        mesh.add("site '%s': wireguard_mesh_port %d is out of range: use a UDP port between 1 and 65535 "
                 "(default 51820)." % (name, port))
        port = None
    return port


def _check_endpoint(mesh, name, site, port):
    endpoint = site.get('endpoint')
    if endpoint in (None, ''):
        mesh.nat.append(name)
        return
    mesh.public.add(name)
    try:
        kind, host = endpoint_host(endpoint)
    except ValueError as exc:
        mesh.add("site '%s': wireguard_mesh_endpoint %r %s: give the public IP address or DNS name only (empty = "
                 "behind NAT)." % (name, endpoint, exc))
        return
    mesh.any_v6_endpoint = mesh.any_v6_endpoint or kind == 'ipv6'
    if port is not None:
        mesh.endpoints.setdefault((host, port), []).append(name)


def _check_lan(mesh, name, lan, order):
    entry = "site '%s': wireguard_mesh_lan_cidrs entry" % name
    try:
        version, first, last, plen, canonical, host_bits = parse_cidr(lan)
    except ValueError as exc:
        mesh.add('%s %r %s.' % (entry, lan, exc))
        return
    if host_bits:
        mesh.add('%s %s has host bits set: write it as %s.' % (entry, lan, canonical))
    elif plen == 0:
        mesh.add("%s %s is a default route: as AllowedIPs it would pull all traffic of every other site into this "
                 "tunnel; list the site's real LANs instead." % (entry, lan))
    else:
        mesh.intervals.append((version, first, last, order, name, canonical))


def _check_lans(mesh, name, site, order):
    lans = site.get('lan_cidrs', [])
    if lans is None:
        lans = []
    if not isinstance(lans, (list, tuple)):
        mesh.add("site '%s': wireguard_mesh_lan_cidrs must be a list of CIDRs, got %r: write it as a list, e.g. "
                 "['10.10.0.0/24']." % (name, lans))
        return
    for lan in lans:
        _check_lan(mesh, name, lan, order)


def _lan_intervals(site):
    intervals = []
    for lan in site.get('lan_cidrs') or []:
        try:
            version, first, last = parse_cidr(lan)[:3]
        except ValueError:
            continue
        intervals.append((version, first, last))
    return intervals


def _check_probes(mesh, name, site):
    probes = site.get('lan_probes') or []
    var = "site '%s': wireguard_mesh_lan_probes" % name
    if not isinstance(probes, (list, tuple)):
        mesh.add("%s must be a list of addresses, got %r: write it as a list, e.g. ['10.10.0.10']." % (var, probes))
        return
    lans = _lan_intervals(site) if isinstance(site.get('lan_cidrs'), (list, tuple)) else []
    for probe in probes:
        ip = parse_ip(probe)
        if ip is None:
            mesh.add('%s entry %s is not an IP address: give the address of a host on one of the site\'s LANs '
                     'that answers ping.' % (var, _shown(probe)))
        elif not any(version == ip[0] and first <= ip[1] <= last for version, first, last in lans):
            mesh.add('%s entry %s is not inside any of its wireguard_mesh_lan_cidrs (%s): give a host on one of '
                     'the site\'s LANs.' % (var, probe, ', '.join(str(lan) for lan in site.get('lan_cidrs') or [])
                                            or 'none'))


def _check_key(mesh, name, site):
    key = site.get('public_key')
    if key in (None, ''):
        return
    if not valid_key(key):
        mesh.add("site '%s': wireguard_mesh_public_key is not a WireGuard public key: give the 44-character base64 "
                 "key printed by 'wg pubkey', or leave it unset to let the role generate the key pair." % name)
    else:
        mesh.keys.setdefault(key, []).append(name)


def _check_underlay(mesh, name, site, order):
    raw = site.get('underlay_mtu', BUILTIN_DEFAULTS['underlay_mtu'])
    value = as_int(raw)
    if value is None or not 576 <= value <= 65535:
        mesh.add("site '%s': wireguard_mesh_underlay_mtu %r is not an integer between 576 and 65535: give the MTU "
                 "of the site's uplink (default 1500)." % (name, raw))
    else:
        mesh.underlay.append((value, order, name))


def _check_site(mesh, order, site):
    if not isinstance(site, dict):
        mesh.add('site #%d is not a dict of site settings: build the sites with mesh_sites.' % order)
        return
    name = _check_name(mesh, site)
    if name is None:
        return
    _check_addresses(mesh, name, site)
    port = _check_port(mesh, name, site)
    _check_endpoint(mesh, name, site, port)
    _check_lans(mesh, name, site, order)
    _check_probes(mesh, name, site)
    _check_key(mesh, name, site)
    _check_underlay(mesh, name, site, order)
    _check_relay(mesh, name, site)


def _check_relay(mesh, name, site):
    relay = site.get('relay')
    if relay in (None, ''):
        return
    if not is_str(relay):
        mesh.add("site '%s': wireguard_mesh_relay %s is not a site name: give the inventory name of a site with a "
                 "wireguard_mesh_endpoint, or leave it unset." % (name, _shown(relay)))
    else:
        mesh.relays[name] = relay


# ---- Across sites

def _both_or_all(names):
    return 'both' if len(names) == 2 else 'all of them'


def _duplicates(mesh):
    for version, var in ((4, 'wireguard_mesh_address'), (6, 'wireguard_mesh_address6')):
        for value, names in mesh.addresses[version].items():
            if len(names) > 1:
                mesh.add('sites %s: %s %s is used by %s: give every site its own tunnel address.'
                         % (quote_names(names), var, ip_text(version, value), _both_or_all(names)))
    for (host, port), names in mesh.endpoints.items():
        if len(names) > 1:
            mesh.add('sites %s: wireguard_mesh_endpoint %s port %d is the same for %s: each site needs its own '
                     'endpoint or its own wireguard_mesh_port.' % (quote_names(names), host, port, _both_or_all(names)))
    for names in mesh.keys.values():
        if len(names) > 1:
            mesh.add('sites %s: wireguard_mesh_public_key is the same for %s: every site needs its own key pair.'
                     % (quote_names(names), _both_or_all(names)))


def _relay_problems(mesh):
    """Sites behind NAT reach each other through a relay: a site with an endpoint must exist, a
    relay named in the inventory must be a site, and one with an endpoint where a site uses it."""
    if len(mesh.nat) >= 2 and not mesh.public:
        mesh.add("sites %s have no wireguard_mesh_endpoint and no site has one: no two of them can start a handshake, "
                 "directly or through a relay; give at least one site a public endpoint (it relays between the "
                 "others)." % quote_names(mesh.nat))
        return
    nat = set(mesh.nat)
    for name, relay in mesh.relays.items():
        if relay not in mesh.names:
            why = 'is not a site of the mesh'
        elif name not in nat or relay in mesh.public:
            continue  # a site with an endpoint needs no relay (a group-wide setting names the relay on it too)
        elif relay == name:
            why = 'is the site itself'
        else:
            why = 'has no wireguard_mesh_endpoint either, so neither site can reach it'
        mesh.add("site '%s': wireguard_mesh_relay %s %s: name a site with a public endpoint (%s), or leave it unset "
                 "to use %s." % (name, _shown(relay), why, ', '.join(sorted(mesh.public)) or 'none',
                                 "'%s'" % min(mesh.public) if mesh.public else 'the first such site'))


def _mtu_problem(mesh, given_mtu):
    if given_mtu != 0 or not mesh.underlay:
        return
    smallest, _order, site = min(mesh.underlay)
    overhead = OVERHEAD_V6 if mesh.any_v6_endpoint else OVERHEAD_V4
    computed = smallest - overhead
    if not MTU_MIN <= computed <= MTU_MAX:
        mesh.add("site '%s': wireguard_mesh_underlay_mtu %d gives a tunnel MTU of %d (underlay - %d), outside "
                 "%d..%d: set wireguard_mesh_mtu to a tunnel MTU in that range."
                 % (site, smallest, computed, overhead, MTU_MIN, MTU_MAX))


def validate(sites, network, network6='', interface='wg0', mtu_value=0, group='wireguard_mesh', keepalive=None):
    """Every problem of a mesh as a list of readable strings (empty list = fine)."""
    group = group or 'wireguard_mesh'
    problems = _interface_problems(interface)
    net4, net6 = _networks(network, network6, problems)
    given_mtu = _mtu_setting(mtu_value, problems)
    problems.extend(_keepalive_problems(keepalive))
    if not isinstance(sites, (list, tuple)) or not sites:
        problems.append("inventory group '%s' has no hosts: add the sites to the group '%s' (or set "
                        "wireguard_mesh_group to the group that holds them)." % (group, group))
        return problems
    mesh = _Mesh(problems, net4, net6, network6 not in (None, ''))
    for order, site in enumerate(sites):
        _check_site(mesh, order, site)
    _duplicates(mesh)
    _relay_problems(mesh)
    lan_overlaps(mesh)
    endpoints_in_routes(mesh)
    _mtu_problem(mesh, given_mtu)
    return problems
