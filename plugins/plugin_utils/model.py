# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh model: sites and mesh-wide settings read from hostvars, pairs, MTU and peers.

Every site peers with every other site; a peer's AllowedIPs are its tunnel address(es)
plus its LANs. Two sites without an endpoint (both behind NAT) cannot start a handshake with
each other: that pair is carried through a relay, a site with an endpoint that both peer with
(``relays``), and each of the two holds the other's AllowedIPs on its relay's peer entry.
Everything works on plain data and raises ``MeshError`` (a ValueError) on input it cannot use;
``validate.py`` says what is wrong with a mesh, the filters in ``plugins/filter/mesh.py`` wrap
both for Ansible.

Peers of a large mesh: ``prepare`` parses every site once, ``peers`` then only builds the
output dicts, so ``peers_by_site`` of 1000 sites (~1,000,000 peer entries) takes well under 1 s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import itertools
import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import canonical_cidr, parse_ip
from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import endpoint_host, format_endpoint

# Per-site defaults used by ``sites`` when neither hostvars nor the caller's defaults have a value.
BUILTIN_DEFAULTS = {
    'port': 51820,
    'lan_cidrs': [],
    'lan_probes': [],
    'endpoint': '',
    'address6': '',
    'underlay_mtu': 1500,
    'public_key': '',
    'relay': '',
}

# Inventory variable of every site field (for messages and for ``sites``).
SITE_VARS = {
    'address': 'wireguard_mesh_address',
    'address6': 'wireguard_mesh_address6',
    'endpoint': 'wireguard_mesh_endpoint',
    'port': 'wireguard_mesh_port',
    'lan_cidrs': 'wireguard_mesh_lan_cidrs',
    'lan_probes': 'wireguard_mesh_lan_probes',
    'public_key': 'wireguard_mesh_public_key',
    'underlay_mtu': 'wireguard_mesh_underlay_mtu',
    'relay': 'wireguard_mesh_relay',
}

MESH_SETTINGS = (
    ('network', 'wireguard_mesh_network'),
    ('network6', 'wireguard_mesh_network6'),
    ('interface', 'wireguard_mesh_interface'),
    ('keepalive', 'wireguard_mesh_keepalive'),
    ('mtu', 'wireguard_mesh_mtu'),
)

_TEXT_FIELDS = ('address', 'address6', 'endpoint', 'public_key', 'relay')

NAT_KEEPALIVE = 25
MTU_MIN = 1280
MTU_MAX = 9000
OVERHEAD_V4 = 60
OVERHEAD_V6 = 80

_DECIMAL_RE = re.compile(r'\s*[0-9]+\s*')


class MeshError(ValueError):
    """Input the mesh model cannot use; the message says which site, what and what to do."""


def quote_names(names):
    """"'a'", "'a' and 'b'", "'a', 'b' and 'c'"."""
    quoted = ["'%s'" % n for n in names]
    if len(quoted) <= 1:
        return ''.join(quoted)
    return '%s and %s' % (', '.join(quoted[:-1]), quoted[-1])


def is_str(value):
    return isinstance(value, str)


def as_int(value):
    """int of an integer or a decimal string, else None (bools are not integers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if is_str(value) and _DECIMAL_RE.fullmatch(value):
        return int(value)
    return None


def valid_key(value):
    """True if ``value`` is a WireGuard key exactly as ``wg`` prints it (44 base64 characters, 32 bytes).

    The round trip refuses what keys.validate_key lets through: surrounding white space and
    non-zero padding bits, which ``wg`` refuses.
    """
    if not is_str(value):
        return False
    try:
        return keys.encode_key(keys.validate_key(value)) == value
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------
# Reading the inventory: mesh_sites, mesh_settings
# ---------------------------------------------------------------------------------------

def plain(value):
    """Plain Python data (dict, list, str, int, float, bool, None) of templated Ansible values."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, 'items'):
        return dict((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def _site_field(key, value):
    """A site field as the model wants it: empty text/list for None, ints parsed, text stripped."""
    value = plain(value)
    if value is None and key in _TEXT_FIELDS:
        return ''
    if value is None and key in ('lan_cidrs', 'lan_probes'):
        return []
    if key in ('port', 'underlay_mtu') and as_int(value) is not None:
        return as_int(value)
    if is_str(value) and key in _TEXT_FIELDS:
        return value.strip()
    return value


def sites(names, hostvars, defaults=None):
    """Site dicts of the hosts ``names`` read from ``hostvars`` (wireguard_mesh_* variables)."""
    if names is None:
        names = []
    if is_str(names) or not hasattr(names, '__iter__'):
        raise MeshError('names must be a list of inventory hostnames, got a %s' % type(names).__name__)
    merged = dict(BUILTIN_DEFAULTS)
    merged.update((k, v) for k, v in dict(defaults or {}).items() if k in BUILTIN_DEFAULTS)
    result = []
    for name in names:
        try:
            hv = hostvars[name]
        except KeyError:
            raise MeshError("site '%s' is not in hostvars: is it a host of the inventory?" % name)
        site = {'name': plain(name)}
        for key, var in SITE_VARS.items():
            site[key] = _site_field(key, hv[var] if var in hv else merged.get(key, ''))
        result.append(site)
    return result


def settings(names, hostvars, defaults=None):
    """Mesh-wide settings as every site sees them, and a problem for each one the sites disagree on.

    ``defaults`` maps the variable names (wireguard_mesh_network, ...) to the values a site
    without the variable gets (the role's defaults). Returns {network, network6, interface,
    keepalive, mtu, problems}; the values are the first site's (or the defaults without sites).
    """
    defaults = dict(defaults or {})
    names = list(names or [])
    result = {'problems': []}
    for key, var in MESH_SETTINGS:
        groups = []  # [(value, [site names])] in order of first appearance
        for name in names:
            hv = hostvars[name]
            value = plain(hv[var]) if var in hv else plain(defaults.get(var))
            if key in ('keepalive', 'mtu') and as_int(value) is not None:
                value = as_int(value)  # 25 and "25" are the same setting
            for entry in groups:
                if entry[0] == value:
                    entry[1].append(name)
                    break
            else:
                groups.append((value, [name]))
        result[key] = groups[0][0] if groups else plain(defaults.get(var))
        if len(groups) > 1:
            result['problems'].append(
                '%s differs between the sites (%s): it is mesh-wide; set it once for the whole group, not per host.'
                % (var, '; '.join('%s on %s' % ('empty' if v in ('', None) else v, quote_names(n))
                                  for v, n in groups)))
    return result


# ---------------------------------------------------------------------------------------
# mesh_pairs, mesh_mtu
# ---------------------------------------------------------------------------------------

def _site_names(sites_or_names):
    names = []
    for item in sites_or_names or []:
        if isinstance(item, dict):
            item = item.get('name')
        if not is_str(item) or not item:
            raise MeshError('every site needs a non-empty name, got %r' % (item,))
        names.append(str(item))
    seen = set()
    dups = sorted(set(n for n in names if n in seen or seen.add(n)))
    if dups:
        raise MeshError('site names must be unique, these appear more than once: %s' % quote_names(dups))
    return names


def pairs(sites_or_names):
    """Canonical unordered pairs [a, b] with a < b, sorted: N*(N-1)/2 of them."""
    names = sorted(_site_names(sites_or_names))
    return [[a, b] for a, b in itertools.combinations(names, 2)]


def relays(sites_list):
    """{(a, b): relay} of every pair of sites without an endpoint (a < b).

    Neither can start a handshake with the other, so the pair goes through one relay both ways
    (WireGuard takes a packet only from the peer whose AllowedIPs hold its source): the site
    that ``a`` names in wireguard_mesh_relay, else the one ``b`` names, else the first site with
    an endpoint in name order. MeshError when that is no site with an endpoint.
    """
    nat, public, named = [], set(), {}
    for site in sites_list or []:
        if site.get('endpoint'):
            public.add(site['name'])
        else:
            nat.append(site['name'])
        named[site['name']] = site.get('relay') or ''
    nat.sort()
    first_public = min(public) if public else ''
    result = {}
    for a, b in itertools.combinations(nat, 2):
        relay = named[a] or named[b] or first_public
        if not is_str(relay) or relay not in public:
            raise MeshError("sites '%s' and '%s' have no endpoint and no site with an endpoint can relay between them "
                            "(wireguard_mesh_relay %r; run mesh_validate)" % (a, b, relay))
        result[(a, b)] = relay
    return result


def relayed_by_site(relay_map):
    """{site: {other site: relay}} of ``relays``' result, both directions."""
    by_site = {}
    for (a, b), relay in relay_map.items():
        by_site.setdefault(a, {})[b] = relay
        by_site.setdefault(b, {})[a] = relay
    return by_site


def direct_pairs(sites_list):
    """The pairs (as ``pairs``) that hold a tunnel of their own: every pair but the relayed ones."""
    relayed = relays(sites_list)
    return [pair for pair in pairs(sites_list) if tuple(pair) not in relayed]


def _endpoint_is_ipv6(endpoint):
    ip = parse_ip(endpoint.strip('[]')) if is_str(endpoint) else None
    return ip is not None and ip[0] == 6


def mtu(sites_list, mtu_value=0):
    """Tunnel MTU: ``mtu_value`` if > 0, else smallest underlay MTU - 60 (- 80 if an endpoint is IPv6)."""
    given = as_int(mtu_value if mtu_value is not None else 0)
    if given is None:
        raise MeshError('wireguard_mesh_mtu %r is not an integer' % (mtu_value,))
    if given > 0:
        return given
    underlays = []
    v6 = False
    for site in sites_list or []:
        value = as_int(site.get('underlay_mtu', BUILTIN_DEFAULTS['underlay_mtu']))
        if value is None:
            raise MeshError("site '%s': wireguard_mesh_underlay_mtu %r is not an integer" % (
                site.get('name'), site.get('underlay_mtu')))
        underlays.append(value)
        v6 = v6 or _endpoint_is_ipv6(site.get('endpoint'))
    smallest = min(underlays) if underlays else BUILTIN_DEFAULTS['underlay_mtu']
    return smallest - (OVERHEAD_V6 if v6 else OVERHEAD_V4)


# ---------------------------------------------------------------------------------------
# mesh_peers: prepare once, then build the peers of any site
# ---------------------------------------------------------------------------------------

class Prepared(object):
    """Every site parsed once (what ``prepare`` returns); opaque to callers.

    ``entries``: name -> (public_key or None, endpoint text or None, allowed_ips tuple);
    ``order``: the names, sorted; ``relayed``: site -> {other site: relay} (``relayed_by_site``).
    """

    __slots__ = ('entries', 'order', 'relayed')

    def __init__(self, entries, relayed=None):
        self.entries = entries
        self.order = sorted(entries)
        self.relayed = relayed or {}


def _fail(name, what, value, reason):
    return MeshError("site '%s': %s %r %s (run mesh_validate)" % (name, what, value, reason))


def _allowed_ips(name, site):
    address = site.get('address')
    ip = parse_ip(address)
    if ip is None or ip[0] != 4:
        raise _fail(name, 'wireguard_mesh_address', address, 'is not an IPv4 address')
    allowed = ['%s/32' % ip[2]]
    address6 = site.get('address6') or ''
    if address6:
        ip6 = parse_ip(address6)
        if ip6 is None or ip6[0] != 6:
            raise _fail(name, 'wireguard_mesh_address6', address6, 'is not an IPv6 address')
        allowed.append('%s/128' % ip6[2])
    lans = site.get('lan_cidrs') or []
    if is_str(lans) or not isinstance(lans, (list, tuple)):
        raise MeshError("site '%s': wireguard_mesh_lan_cidrs must be a list (run mesh_validate)" % name)
    for lan in lans:
        try:
            allowed.append(canonical_cidr(lan))
        except ValueError as exc:
            raise _fail(name, 'wireguard_mesh_lan_cidrs entry', lan, exc)
    return tuple(allowed)


def _endpoint_text(name, site):
    endpoint = site.get('endpoint') or ''
    if not endpoint:
        return None
    port = as_int(site.get('port', BUILTIN_DEFAULTS['port']))
    if port is None:
        raise _fail(name, 'wireguard_mesh_port', site.get('port'), 'is not an integer')
    try:
        host = endpoint_host(endpoint)[1]
    except ValueError as exc:
        raise _fail(name, 'wireguard_mesh_endpoint', endpoint, exc)
    return format_endpoint(host, port)


def prepare(sites_list):
    """Parse every site once, for ``peers`` and ``peers_by_site``; MeshError on a site it cannot use."""
    sites_list = list(sites_list or [])
    entries = {}
    for site, name in zip(sites_list, _site_names(sites_list)):
        allowed = _allowed_ips(name, site)
        entries[name] = (site.get('public_key') or None, _endpoint_text(name, site), allowed)
    return Prepared(entries, relayed_by_site(relays(sites_list)))


def _keepalive(keepalive):
    value = as_int(keepalive if keepalive is not None else 0)
    if value is None or not 0 <= value <= 65535:
        raise MeshError('wireguard_mesh_keepalive %r is not an integer between 0 and 65535' % (keepalive,))
    return value


def _check_member(prepared, site_name):
    if site_name not in prepared.entries:
        raise MeshError("site '%s' is not in the mesh (sites: %s)" % (site_name, quote_names(prepared.order[:10])))


def _peers(prepared, site_name, public_keys, keepalive, psk_prefix):
    """The peers of one site; ``keepalive`` already checked, ``psk_prefix`` is the PSK directory and '/'."""
    entries = prepared.entries
    _check_member(prepared, site_name)
    if keepalive == 0:
        keepalive = NAT_KEEPALIVE if entries[site_name][1] is None else 0
    relayed = prepared.relayed.get(site_name) or {}
    carried = {}  # relay -> the AllowedIPs of the sites it carries for this site
    result = []
    append = result.append
    for name in prepared.order:
        if name == site_name:
            continue
        if name in relayed:
            carried.setdefault(relayed[name], []).extend(entries[name][2])
            continue
        site_key, endpoint_text, allowed = entries[name]
        peer = {
            'name': name,
            'public_key': public_keys.get(name) or site_key,
            'endpoint': endpoint_text,
            'allowed_ips': list(allowed),
            'persistent_keepalive': keepalive,
        }
        if psk_prefix:
            peer['preshared_key_path'] = psk_prefix + name + '.psk'
        append(peer)
    if carried:
        for peer in result:
            peer['allowed_ips'].extend(carried.get(peer['name']) or ())
    return result


def _psk_prefix(psk_dir):
    return psk_dir.rstrip('/') + '/' if psk_dir else None


def peers(sites_or_prepared, site_name, public_keys=None, keepalive=25, psk_dir=None):
    """The peers of ``site_name``: one dict per other site it has a tunnel with, sorted by name
    (a relay's entry also holds the AllowedIPs of the sites it carries for ``site_name``).

    ``sites_or_prepared`` is a list of sites or what ``prepare`` returned for them (to build
    the peers of many sites without parsing the mesh again).
    ``persistent_keepalive``: keepalive > 0 -> every peer gets it; keepalive == 0 -> a site
    without its own endpoint sends 25 s keepalives to every peer, a site with one sends none (0).
    """
    prepared = sites_or_prepared if isinstance(sites_or_prepared, Prepared) else prepare(sites_or_prepared)
    _check_member(prepared, site_name)
    return _peers(prepared, site_name, public_keys or {}, _keepalive(keepalive), _psk_prefix(psk_dir))


def peers_by_site(sites_list, public_keys=None, keepalive=25, psk_dir=None, names=None):
    """{site: peers(site)} for the sites ``names`` (default: every site), parsing the mesh once."""
    prepared = sites_list if isinstance(sites_list, Prepared) else prepare(sites_list)
    keys_ = public_keys or {}
    ka = _keepalive(keepalive)
    prefix = _psk_prefix(psk_dir)
    # ~N*N new dicts kept alive would set off the cyclic GC again and again (3x the build time);
    # they hold no cycles, so it pauses while they are built.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return dict((name, _peers(prepared, name, keys_, ka, prefix))
                    for name in (prepared.order if names is None else names))
    finally:
        if gc_was_enabled:
            gc.enable()
