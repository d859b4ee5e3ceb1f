# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh model: a pure function of the inventory.

Every site peers with every other site; a peer's AllowedIPs are its tunnel address(es)
plus its LANs; one preshared key per pair of sites. Everything here works on plain
data (dicts, lists, strings, ints) and raises ``MeshError`` (a ValueError) on input it
cannot use; the filter plugins in ``plugins/filter/`` wrap it for Ansible.

netaddr is imported the first time an address is parsed, never at import time.

Performance: ``peers`` is called once per site, so a 1000-site mesh asks for about
1,000,000 peer entries. Everything that needs parsing is computed once per distinct
``sites`` content and cached (``_prepared``); per call only the output dicts are built.
``validate`` is O(N log N): LAN overlaps are found by sorting integer intervals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import itertools
import re
import secrets

SITE_KEYS = ('name', 'address', 'address6', 'endpoint', 'port', 'lan_cidrs', 'public_key', 'underlay_mtu')

# Per-site defaults used by ``sites`` when neither hostvars nor the caller's defaults have a value.
BUILTIN_DEFAULTS = {
    'port': 51820,
    'lan_cidrs': [],
    'endpoint': '',
    'address6': '',
    'underlay_mtu': 1500,
    'public_key': '',
}

# Inventory variable of every site field (for messages and for ``sites``).
SITE_VARS = {
    'address': 'wireguard_mesh_address',
    'address6': 'wireguard_mesh_address6',
    'endpoint': 'wireguard_mesh_endpoint',
    'port': 'wireguard_mesh_port',
    'lan_cidrs': 'wireguard_mesh_lan_cidrs',
    'public_key': 'wireguard_mesh_public_key',
    'underlay_mtu': 'wireguard_mesh_underlay_mtu',
}

NAT_KEEPALIVE = 25
MTU_MIN = 1280
MTU_MAX = 9000
OVERHEAD_V4 = 60
OVERHEAD_V6 = 80

_NAME_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
_IFACE_RE = re.compile(r'^[a-zA-Z0-9_=+.-]+$')
_KEY_RE = re.compile(r'^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$')
_CIDR_SHAPE_RE = re.compile(r'^[0-9A-Fa-f:.]+/(0|[1-9][0-9]{0,2})$')
_DOTTED_RE = re.compile(r'^[0-9.]+$')
_HOST_LABEL_RE = re.compile(r'^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$')
_HOST_PORT_RE = re.compile(r'^(\[[^\]]*\]|[^:\[\]]+):[0-9]+$')


class MeshError(ValueError):
    """Input the mesh model cannot use; the message says which site, what and what to do."""


_netaddr = None


def _na():
    """netaddr, imported on first use (so loading the plugins never needs it)."""
    global _netaddr
    if _netaddr is None:
        try:
            import netaddr
        except ImportError:  # pragma: no cover - netaddr is in requirements.txt
            raise MeshError('the Python package "netaddr" is required on the controller: pip install netaddr')
        _netaddr = netaddr
    return _netaddr


# ---------------------------------------------------------------------------------------
# Parsing helpers (plain strings in, plain values out)
# ---------------------------------------------------------------------------------------

def quote_names(names):
    """"'a'", "'a' and 'b'", "'a', 'b' and 'c'"."""
    quoted = ["'%s'" % n for n in names]
    if len(quoted) <= 1:
        return ''.join(quoted)
    return '%s and %s' % (', '.join(quoted[:-1]), quoted[-1])


def _is_str(value):
    return isinstance(value, str)


def parse_ip(value):
    """Return (version, int, canonical text) of a plain IP address, or None if it is not one."""
    if not _is_str(value) or not value or value != value.strip() or '/' in value:
        return None
    na = _na()
    try:
        ip = na.IPAddress(value)
    except (na.AddrFormatError, ValueError, TypeError):
        return None
    return ip.version, int(ip), str(ip)


def parse_cidr(value):
    """Return (version, first, last, prefixlen, canonical, host_bits_set) or raise MeshError(reason).

    ``reason`` is a short phrase: "is not a CIDR ...", "has no prefix length ...".
    """
    if not _is_str(value):
        raise MeshError('is not a string but a %s' % type(value).__name__)
    if '/' not in value:
        if parse_ip(value) is not None:
            raise MeshError('has no prefix length: write %s/%d for a single host' % (
                parse_ip(value)[2], 32 if parse_ip(value)[0] == 4 else 128))
        raise MeshError('is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24')
    if not _CIDR_SHAPE_RE.match(value):
        raise MeshError('is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24')
    addr, plen = value.split('/', 1)
    ip = parse_ip(addr)
    if ip is None:
        raise MeshError('is not a CIDR: %s is not an IP address' % addr)
    plen = int(plen)
    version, value_int, _canon = ip
    bits = 32 if version == 4 else 128
    if plen > bits:
        raise MeshError('is not a CIDR: the prefix length of an IPv%d network is at most %d' % (version, bits))
    host_mask = (1 << (bits - plen)) - 1
    first = value_int & ~host_mask
    last = first | host_mask
    na = _na()
    canonical = '%s/%d' % (na.IPAddress(first, version), plen)
    return version, first, last, plen, canonical, bool(value_int & host_mask)


_CANON_CACHE = {}


def canonical_cidr(value):
    """Canonical text of a CIDR (cached per distinct input string)."""
    try:
        return _CANON_CACHE[value]
    except (KeyError, TypeError):
        pass
    version, _first, _last, _plen, canonical, host_bits = parse_cidr(value)
    if host_bits:
        raise MeshError('has host bits set: write it as %s' % canonical)
    if len(_CANON_CACHE) < 200000:
        _CANON_CACHE[value] = canonical
    return canonical


def _as_int(value):
    """int of an integer or a decimal string, else None (bools are not integers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if _is_str(value) and re.match(r'^\s*[0-9]+\s*$', value):
        return int(value)
    return None


def valid_key(value):
    """True if ``value`` is a base64 WireGuard key (44 characters, 32 bytes)."""
    return _is_str(value) and bool(_KEY_RE.match(value))


def endpoint_host(endpoint):
    """(kind, canonical) of an endpoint host: kind 'ipv4', 'ipv6' or 'dns'; raise MeshError(reason)."""
    if not _is_str(endpoint):
        raise MeshError('is not a string but a %s' % type(endpoint).__name__)
    if endpoint != endpoint.strip():
        raise MeshError('has surrounding white space: remove it')
    if endpoint.startswith('['):
        if _HOST_PORT_RE.match(endpoint):
            raise MeshError('includes a port: set the address only and put the port in wireguard_mesh_port')
        raise MeshError('has brackets: write the IPv6 address without them')
    ip = parse_ip(endpoint)
    if ip is not None:
        return ('ipv4' if ip[0] == 4 else 'ipv6'), ip[2]
    if ':' in endpoint:
        if _HOST_PORT_RE.match(endpoint):
            raise MeshError('includes a port: set the address only and put the port in wireguard_mesh_port')
        raise MeshError('is not an IP address or a DNS name')
    if _DOTTED_RE.match(endpoint):
        raise MeshError('is not a valid IPv4 address')
    host = endpoint[:-1] if endpoint.endswith('.') else endpoint
    if not host or len(host) > 253 or not all(_HOST_LABEL_RE.match(label) for label in host.split('.')):
        raise MeshError('is not an IP address or a DNS name')
    return 'dns', host.lower()


def format_endpoint(host, port):
    """'host:port', or '[v6]:port' for an IPv6 address."""
    if ':' in host:
        return '[%s]:%s' % (host, port)
    return '%s:%s' % (host, port)


# ---------------------------------------------------------------------------------------
# mesh_sites
# ---------------------------------------------------------------------------------------

def _plain(value):
    """Plain Python types (str/int/list/dict) of templated Ansible values."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return dict((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def sites(names, hostvars, defaults=None):
    """Site dicts of the hosts ``names`` read from ``hostvars`` (wireguard_mesh_* variables)."""
    if names is None:
        names = []
    if _is_str(names) or not hasattr(names, '__iter__'):
        raise MeshError('names must be a list of inventory hostnames, got a %s' % type(names).__name__)
    merged = dict(BUILTIN_DEFAULTS)
    if defaults:
        for key, value in dict(defaults).items():
            if key in BUILTIN_DEFAULTS:
                merged[key] = value
    result = []
    for name in names:
        try:
            hv = hostvars[name]
        except KeyError:
            raise MeshError("site '%s' is not in hostvars: is it a host of the inventory?" % name)
        site = {'name': _plain(name)}
        for key, var in SITE_VARS.items():
            if var in hv:
                value = hv[var]
            else:
                value = merged.get(key, '')
            value = _plain(value)
            if value is None and key in ('address', 'address6', 'endpoint', 'public_key'):
                value = ''
            if value is None and key == 'lan_cidrs':
                value = []
            if key == 'port' or key == 'underlay_mtu':
                as_int = _as_int(value)
                if as_int is not None:
                    value = as_int
            if _is_str(value) and key in ('address', 'address6', 'endpoint', 'public_key'):
                value = value.strip()
            site[key] = value
        result.append(site)
    return result


# ---------------------------------------------------------------------------------------
# mesh_pairs, mesh_mtu
# ---------------------------------------------------------------------------------------

def _site_names(sites_or_names):
    names = []
    for item in sites_or_names or []:
        if isinstance(item, dict):
            item = item.get('name')
        if not _is_str(item) or not item:
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


def _endpoint_is_ipv6(endpoint):
    return _is_str(endpoint) and ':' in endpoint and parse_ip(endpoint.strip('[]')) is not None \
        and parse_ip(endpoint.strip('[]'))[0] == 6


def mtu(sites_list, mtu_value=0):
    """Tunnel MTU: ``mtu_value`` if > 0, else smallest underlay MTU - 60 (- 80 if an endpoint is IPv6)."""
    given = _as_int(mtu_value if mtu_value is not None else 0)
    if given is None:
        raise MeshError('wireguard_mesh_mtu %r is not an integer' % (mtu_value,))
    if given > 0:
        return given
    underlays = []
    v6 = False
    for site in sites_list or []:
        value = _as_int(site.get('underlay_mtu', BUILTIN_DEFAULTS['underlay_mtu']))
        if value is None:
            raise MeshError("site '%s': wireguard_mesh_underlay_mtu %r is not an integer" % (
                site.get('name'), site.get('underlay_mtu')))
        underlays.append(value)
        if _endpoint_is_ipv6(site.get('endpoint')):
            v6 = True
    smallest = min(underlays) if underlays else BUILTIN_DEFAULTS['underlay_mtu']
    return smallest - (OVERHEAD_V6 if v6 else OVERHEAD_V4)


# ---------------------------------------------------------------------------------------
# mesh_peers
# ---------------------------------------------------------------------------------------

_PREPARED = []  # small LRU of (deep copy of sites, prepared data)
_PREPARED_MAX = 4


def _prepare(sites_list):
    """Per-site data computed once: name -> (public_key, endpoint text or None, allowed_ips tuple)."""
    names = _site_names(sites_list)
    entries = {}
    for site, name in zip(sites_list, names):
        address = site.get('address')
        ip = parse_ip(address)
        if ip is None or ip[0] != 4:
            raise MeshError("site '%s': wireguard_mesh_address %r is not an IPv4 address (run mesh_validate)"
                            % (name, address))
        allowed = ['%s/32' % ip[2]]
        address6 = site.get('address6') or ''
        if address6:
            ip6 = parse_ip(address6)
            if ip6 is None or ip6[0] != 6:
                raise MeshError("site '%s': wireguard_mesh_address6 %r is not an IPv6 address (run mesh_validate)"
                                % (name, address6))
            allowed.append('%s/128' % ip6[2])
        lans = site.get('lan_cidrs') or []
        if _is_str(lans) or not isinstance(lans, (list, tuple)):
            raise MeshError("site '%s': wireguard_mesh_lan_cidrs must be a list (run mesh_validate)" % name)
        for lan in lans:
            try:
                allowed.append(canonical_cidr(lan))
            except MeshError as exc:
                raise MeshError("site '%s': wireguard_mesh_lan_cidrs entry %r %s (run mesh_validate)"
                                % (name, lan, exc))
        endpoint = site.get('endpoint') or ''
        endpoint_text = None
        if endpoint:
            port = _as_int(site.get('port', BUILTIN_DEFAULTS['port']))
            if port is None:
                raise MeshError("site '%s': wireguard_mesh_port %r is not an integer (run mesh_validate)"
                                % (name, site.get('port')))
            try:
                _kind, host = endpoint_host(endpoint)
            except MeshError as exc:
                raise MeshError("site '%s': wireguard_mesh_endpoint %r %s (run mesh_validate)" % (name, endpoint, exc))
            endpoint_text = format_endpoint(host, port)
        entries[name] = (site.get('public_key') or None, endpoint_text, tuple(allowed))
    order = sorted(entries)
    return entries, order


def _prepared(sites_list):
    if not isinstance(sites_list, list):
        sites_list = list(sites_list or [])
    for index, (snapshot, prepared) in enumerate(_PREPARED):
        if snapshot == sites_list:
            if index:
                _PREPARED.insert(0, _PREPARED.pop(index))
            return prepared
    prepared = _prepare(sites_list)
    _PREPARED.insert(0, (copy.deepcopy(_plain(sites_list)), prepared))
    del _PREPARED[_PREPARED_MAX:]
    return prepared


def peers(sites_list, site_name, public_keys=None, keepalive=25, psk_dir=None):
    """The peers of ``site_name``: one dict per other site, sorted by name.

    ``persistent_keepalive``: keepalive > 0 -> every peer gets it; keepalive == 0 -> a site
    without its own endpoint sends 25 s keepalives to every peer, a site with one sends none (0).
    """
    entries, order = _prepared(sites_list)
    if site_name not in entries:
        raise MeshError("site '%s' is not in the mesh (sites: %s)" % (site_name, quote_names(order[:10])))
    ka = _as_int(keepalive if keepalive is not None else 0)
    if ka is None or ka < 0 or ka > 65535:
        raise MeshError('wireguard_mesh_keepalive %r is not an integer between 0 and 65535' % (keepalive,))
    if ka == 0:
        ka = NAT_KEEPALIVE if entries[site_name][1] is None else 0
    keys = public_keys or {}
    psk_prefix = psk_dir.rstrip('/') + '/' if psk_dir else None
    result = []
    append = result.append
    for name in order:
        if name == site_name:
            continue
        site_key, endpoint_text, allowed = entries[name]
        peer = {
            'name': name,
            'public_key': keys.get(name) or site_key,
            'endpoint': endpoint_text,
            'allowed_ips': list(allowed),
            'persistent_keepalive': ka,
        }
        if psk_prefix:
            peer['preshared_key_path'] = psk_prefix + name + '.psk'
        append(peer)
    return result


def all_peers(sites_list, public_keys=None, keepalive=25):
    """{site: peers(site)} for every site."""
    _entries, order = _prepared(sites_list)
    return dict((name, peers(sites_list, name, public_keys, keepalive)) for name in order)


# ---------------------------------------------------------------------------------------
# PSK reconciliation
# ---------------------------------------------------------------------------------------

def _pair_list(pair_list):
    result = []
    for pair in pair_list or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(_is_str(p) for p in pair):
            raise MeshError('every pair must be a list of two site names, got %r' % (pair,))
        result.append((str(pair[0]), str(pair[1])))
    return result


def _report(reports, site, peer):
    """(known, fingerprint): known is False if ``site`` did not report at all."""
    if site not in reports or reports[site] is None:
        return False, None
    entry = reports[site].get(peer)
    if isinstance(entry, dict):  # the wg_psk module's report: {exists, fingerprint}
        entry = entry.get('fingerprint')
    return True, (entry or None)


def psk_plan(pair_list, reports):
    """{"read": {site: [peer, ...]}}: the PSKs to read before writing (sites with reads only).

    A pair with exactly one PSK is read from the end that has it; a pair whose ends hold
    different PSKs is read from its first site (a), whose PSK wins. Pairs with a site that
    did not report at all (for example an unreachable host) are left alone.
    """
    reports = reports or {}
    read = {}
    for a, b in _pair_list(pair_list):
        known_a, fa = _report(reports, a, b)
        known_b, fb = _report(reports, b, a)
        if not (known_a and known_b):
            continue
        if fa and (not fb or fa != fb):
            read.setdefault(a, []).append(b)
        elif fb and not fa:
            read.setdefault(b, []).append(a)
    return {'read': read}


def psk_peers(names, exclude=None):
    """[{"name": n}, ...] for the wg_psk module's peers option, without ``exclude``."""
    if isinstance(names, str):
        raise MeshError('expected a list of site names, got the string %r' % (names,))
    return [{'name': name} for name in names if name != exclude]


def new_psk():
    """32 random bytes, base64 (like wg genpsk)."""
    return base64.b64encode(secrets.token_bytes(32)).decode('ascii')


def psk_writes(pair_list, reports, contents):
    """{site: [{"name": peer, "psk": value}, ...]}: the PSK files each site must write.

    Neither end has a PSK: one fresh PSK written to both ends. One end has it, or the ends
    differ: the PSK read (see psk_plan) is written to the other end. Agreeing pairs and
    pairs with a site that did not report are left alone.
    """
    reports = reports or {}
    contents = contents or {}
    writes = {}

    def _read(site, peer):
        value = (contents.get(site) or {}).get(peer)
        if not valid_key(value):
            raise MeshError("no valid PSK was read from site '%s' for its peer '%s': read the PSKs psk_plan "
                            "lists (contents[%s][%s]) before calling psk_writes" % (site, peer, site, peer))
        return value

    for a, b in _pair_list(pair_list):
        known_a, fa = _report(reports, a, b)
        known_b, fb = _report(reports, b, a)
        if not (known_a and known_b):
            continue
        if not fa and not fb:
            value = new_psk()
            writes.setdefault(a, []).append({'name': b, 'psk': value})
            writes.setdefault(b, []).append({'name': a, 'psk': value})
        elif fa and (not fb or fa != fb):
            writes.setdefault(b, []).append({'name': a, 'psk': _read(a, b)})
        elif fb and not fa:
            writes.setdefault(a, []).append({'name': b, 'psk': _read(b, a)})
    return writes


# ---------------------------------------------------------------------------------------
# mesh_validate
# ---------------------------------------------------------------------------------------

_LAN_OVERLAP_WHY = ('a prefix is routed to one peer only, so one site would steal the other\'s traffic; '
                    'give every site its own, non-overlapping LANs')


def _check_network(var, value, version, example, problems):
    """Parse a tunnel network; return (first, last, prefixlen, canonical) or None (problem added)."""
    try:
        got_version, first, last, plen, canonical, host_bits = parse_cidr(value)
    except MeshError as exc:
        problems.append('%s %r %s.' % (var, value, str(exc).replace('e.g. 10.10.0.0/24', 'e.g. ' + example)))
        return None
    if got_version != version:
        problems.append('%s %s is not an IPv%d network: use an IPv%d CIDR such as %s.'
                        % (var, value, version, version, example))
        return None
    if host_bits:
        problems.append('%s %s has host bits set: write it as %s.' % (var, value, canonical))
        return None
    if plen == 0:
        problems.append('%s %s is a default route: use a private range such as %s.' % (var, value, example))
        return None
    return first, last, plen, canonical


def _check_address(name, var, value, version, network, network_var, problems):
    """Check one tunnel address; return its int or None (problem added)."""
    example = '10.99.0.1' if version == 4 else 'fd99::1'
    if value in (None, ''):
        if network:
            problems.append("site '%s': %s is not set: give the site its tunnel IPv%d address inside %s "
                            "(e.g. %s)." % (name, var, version, network[3], _na().IPAddress(network[0] + 1, version)))
        else:
            problems.append("site '%s': %s is not set: give the site its tunnel IPv%d address (e.g. %s)."
                            % (name, var, version, example))
        return None
    ip = parse_ip(value)
    if ip is None:
        if _is_str(value) and '/' in value and parse_ip(value.split('/', 1)[0]) is not None:
            problems.append("site '%s': %s %s has a prefix length: give the plain address %s (the prefix "
                            "comes from %s)." % (name, var, value, value.split('/', 1)[0], network_var))
        else:
            problems.append("site '%s': %s %r is not an IPv%d address: give a plain address such as %s."
                            % (name, var, value, version, example))
        return None
    if ip[0] != version:
        problems.append("site '%s': %s %s is not an IPv%d address: give a plain address such as %s."
                        % (name, var, value, version, example))
        return None
    if network is None:
        return ip[1]
    first, last, plen, canonical = network
    if not first <= ip[1] <= last:
        problems.append("site '%s': %s %s is outside %s %s: pick an address inside %s."
                        % (name, var, value, network_var, canonical, canonical))
        return None
    bits = 32 if version == 4 else 128
    if version == 4 and plen <= 30 and ip[1] in (first, last):
        what = 'network' if ip[1] == first else 'broadcast'
        na = _na()
        problems.append("site '%s': %s %s is the %s address of %s %s: pick a host address between %s and %s."
                        % (name, var, value, what, network_var, canonical,
                           na.IPAddress(first + 1, 4), na.IPAddress(last - 1, 4)))
        return None
    if version == 6 and plen <= bits - 2 and ip[1] == first:
        example6 = _na().IPAddress(first + 1, 6)
        problems.append("site '%s': %s %s is the subnet-router anycast (network) address of %s %s: pick "
                        "another address inside it, e.g. %s." % (name, var, value, network_var, canonical, example6))
        return None
    return ip[1]


def validate(sites_list, network, network6='', interface='wg0', mtu_value=0, group='wireguard_mesh',
             keepalive=None):
    """Every problem of a mesh as a list of readable strings (empty list = fine)."""
    problems = []
    group = group or 'wireguard_mesh'

    # Mesh-wide settings --------------------------------------------------------------
    if not _is_str(interface) or not interface:
        problems.append('wireguard_mesh_interface is empty: wg-quick needs an interface name such as wg0.')
    elif len(interface) > 15:
        problems.append('wireguard_mesh_interface %r is %d characters long: wg-quick refuses names over '
                        '15 characters; use a short name such as wg0.' % (interface, len(interface)))
    elif not _IFACE_RE.match(interface):
        problems.append('wireguard_mesh_interface %r contains characters wg-quick refuses: use only letters, '
                        'digits and _=+.- (e.g. wg0).' % (interface,))

    net4 = None
    if network in (None, ''):
        problems.append('wireguard_mesh_network is not set: set the tunnel network, e.g. 10.99.0.0/24.')
    else:
        net4 = _check_network('wireguard_mesh_network', network, 4, '10.99.0.0/24', problems)
    net6 = None
    if network6 not in (None, ''):
        net6 = _check_network('wireguard_mesh_network6', network6, 6, 'fd99::/64', problems)

    given_mtu = _as_int(0 if mtu_value is None else mtu_value)
    if given_mtu is None:
        problems.append('wireguard_mesh_mtu %r is not an integer: use a tunnel MTU between %d and %d, or 0 to '
                        'compute it from the underlay MTU.' % (mtu_value, MTU_MIN, MTU_MAX))
    elif given_mtu != 0 and not MTU_MIN <= given_mtu <= MTU_MAX:
        problems.append('wireguard_mesh_mtu %d is out of range: use a tunnel MTU between %d and %d, or 0 to '
                        'compute it from the underlay MTU.' % (given_mtu, MTU_MIN, MTU_MAX))

    if keepalive is not None:
        ka = _as_int(keepalive)
        if ka is None or not 0 <= ka <= 65535:
            problems.append('wireguard_mesh_keepalive %r is not an integer between 0 and 65535: use 25 (seconds, '
                            'as the guide does) or 0 (only sites behind NAT send keepalives).' % (keepalive,))

    if not isinstance(sites_list, (list, tuple)) or not sites_list:
        problems.append("inventory group '%s' has no hosts: add the sites to the group '%s' (or set "
                        "wireguard_mesh_group to the group that holds them)." % (group, group))
        return problems

    # Per site --------------------------------------------------------------------------
    seen_names = {}
    addr4 = {}
    addr6 = {}
    endpoints = {}
    keys = {}
    nat = []
    intervals = []  # (version, first, last, order, owner, text)
    underlay = []
    any_v6_endpoint = False
    if net4:
        intervals.append((4, net4[0], net4[1], -2, None, net4[3]))
    if net6:
        intervals.append((6, net6[0], net6[1], -1, None, net6[3]))

    for order, site in enumerate(sites_list):
        if not isinstance(site, dict):
            problems.append('site #%d is not a dict of site settings: build the sites with mesh_sites.' % order)
            continue
        name = site.get('name')
        if not _is_str(name) or not _NAME_RE.match(name) or name in ('.', '..'):
            problems.append("site %r: the inventory hostname cannot be used as a file name (it names the site's "
                            "PSK files): rename the host using only letters, digits, '_', '.' and '-'." % (name,))
            name = str(name)
        if name in seen_names:
            problems.append("site '%s' appears twice: every site needs a unique name." % name)
            continue
        seen_names[name] = order

        # tunnel addresses
        value = _check_address(name, 'wireguard_mesh_address', site.get('address'), 4, net4,
                               'wireguard_mesh_network', problems)
        if value is not None:
            addr4.setdefault(value, []).append(name)
        address6 = site.get('address6')
        if address6 not in (None, ''):
            if net6 is None and network6 in (None, ''):
                problems.append("site '%s': wireguard_mesh_address6 %s is set but wireguard_mesh_network6 is "
                                "empty: set wireguard_mesh_network6 (e.g. fd99::/64) or remove the address."
                                % (name, address6))
            else:
                value = _check_address(name, 'wireguard_mesh_address6', address6, 6, net6,
                                       'wireguard_mesh_network6', problems)
                if value is not None:
                    addr6.setdefault(value, []).append(name)
        elif net6 is not None:
            problems.append("site '%s': wireguard_mesh_address6 is not set but wireguard_mesh_network6 is %s: "
                            "give every site an IPv6 tunnel address inside it (e.g. %s)."
                            % (name, net6[3], _na().IPAddress(net6[0] + 1, 6)))

        # port
        port_raw = site.get('port', BUILTIN_DEFAULTS['port'])
        port = _as_int(port_raw)
        if port is None:
            problems.append("site '%s': wireguard_mesh_port %r is not an integer: use a UDP port between 1 and "
                            "65535 (default 51820)." % (name, port_raw))
        elif not 1 <= port <= 65535:
            problems.append("site '%s': wireguard_mesh_port %d is out of range: use a UDP port between 1 and "
                            "65535 (default 51820)." % (name, port))
            port = None

        # endpoint
        endpoint = site.get('endpoint')
        if endpoint in (None, ''):
            nat.append(name)
        else:
            try:
                kind, host = endpoint_host(endpoint)
            except MeshError as exc:
                problems.append("site '%s': wireguard_mesh_endpoint %r %s: give the public IP address or DNS "
                                "name only (empty = behind NAT)." % (name, endpoint, exc))
            else:
                if kind == 'ipv6':
                    any_v6_endpoint = True
                if port is not None:
                    endpoints.setdefault((host, port), []).append(name)

        # LANs
        lans = site.get('lan_cidrs', [])
        if lans is None:
            lans = []
        if not isinstance(lans, (list, tuple)):
            problems.append("site '%s': wireguard_mesh_lan_cidrs must be a list of CIDRs, got %r: write it as a "
                            "list, e.g. ['10.10.0.0/24']." % (name, lans))
            lans = []
        for lan in lans:
            try:
                version, first, last, plen, canonical, host_bits = parse_cidr(lan)
            except MeshError as exc:
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %r %s." % (name, lan, exc))
                continue
            if host_bits:
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s has host bits set: write it as %s."
                                % (name, lan, canonical))
                continue
            if plen == 0:
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s is a default route: as AllowedIPs "
                                "it would pull all traffic of every other site into this tunnel; list the "
                                "site's real LANs instead." % (name, lan))
                continue
            intervals.append((version, first, last, order, name, canonical))

        # public key (optional)
        key = site.get('public_key')
        if key not in (None, ''):
            if not valid_key(key):
                problems.append("site '%s': wireguard_mesh_public_key is not a WireGuard public key: give the "
                                "44-character base64 key printed by 'wg pubkey', or leave it unset to let the "
                                "role generate the key pair." % name)
            else:
                keys.setdefault(key, []).append(name)

        # underlay MTU
        um_raw = site.get('underlay_mtu', BUILTIN_DEFAULTS['underlay_mtu'])
        um = _as_int(um_raw)
        if um is None or not 576 <= um <= 65535:
            problems.append("site '%s': wireguard_mesh_underlay_mtu %r is not an integer between 576 and 65535: "
                            "give the MTU of the site's uplink (default 1500)." % (name, um_raw))
        else:
            underlay.append((um, order, name))

    # Across sites ----------------------------------------------------------------------
    for mapping, var in ((addr4, 'wireguard_mesh_address'), (addr6, 'wireguard_mesh_address6')):
        for value, names in mapping.items():
            if len(names) > 1:
                text = str(_na().IPAddress(value, 4 if mapping is addr4 else 6))
                problems.append('sites %s: %s %s is used by all of them: give every site its own tunnel address.'
                                % (quote_names(names), var, text) if len(names) > 2 else
                                'sites %s: %s %s is used by both: give every site its own tunnel address.'
                                % (quote_names(names), var, text))
    for (host, port), names in endpoints.items():
        if len(names) > 1:
            problems.append('sites %s: wireguard_mesh_endpoint %s port %d is the same for %s: each site needs its '
                            'own endpoint or its own wireguard_mesh_port.'
                            % (quote_names(names), host, port, 'both' if len(names) == 2 else 'all of them'))
    for key, names in keys.items():
        if len(names) > 1:
            problems.append('sites %s: wireguard_mesh_public_key is the same for %s: every site needs its own key '
                            'pair.' % (quote_names(names), 'both' if len(names) == 2 else 'all of them'))
    if len(nat) == 2:
        problems.append("sites %s both have no wireguard_mesh_endpoint: neither can start the handshake with the "
                        "other; give at least one of them a public endpoint." % quote_names(nat))
    elif len(nat) > 2:
        problems.append("sites %s have no wireguard_mesh_endpoint: no two of them can start a handshake with each "
                        "other; give all but one of them a public endpoint." % quote_names(nat))

    # LAN overlaps: CIDRs are nested or disjoint, so one sort and a stack of open intervals
    # find every LAN inside (or equal to) another site's LAN or the tunnel network.
    intervals.sort(key=lambda item: (item[0], item[1], -item[2], item[3]))
    stack = []
    for item in intervals:
        version, first, last, _order, owner, text = item
        while stack and (stack[-1][0] != version or stack[-1][2] < first):
            stack.pop()
        seen_owners = set()
        for outer in reversed(stack):
            outer_owner = outer[4]
            if outer_owner == owner or outer_owner in seen_owners:
                continue
            seen_owners.add(outer_owner)
            equal = outer[1] == first and outer[2] == last
            if owner is None:
                # the tunnel network inside (or equal to) a site's LAN
                netvar = 'wireguard_mesh_network' if version == 4 else 'wireguard_mesh_network6'
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s %s %s %s: tunnel addresses are "
                                "routed per site; pick a LAN outside the tunnel network."
                                % (outer_owner, outer[5], 'is equal to' if equal else 'contains', netvar, text))
            elif outer_owner is None:
                netvar = 'wireguard_mesh_network' if version == 4 else 'wireguard_mesh_network6'
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s %s %s %s: tunnel addresses are "
                                "routed per site; pick a LAN outside the tunnel network."
                                % (owner, text, 'is equal to' if equal else 'is inside', netvar, outer[5]))
            elif equal:
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s is also a LAN of site '%s': %s."
                                % (owner, text, outer_owner, _LAN_OVERLAP_WHY))
            else:
                problems.append("site '%s': wireguard_mesh_lan_cidrs entry %s is inside %s, a LAN of site '%s': %s."
                                % (owner, text, outer[5], outer_owner, _LAN_OVERLAP_WHY))
        stack.append(item)

    # MTU
    if given_mtu == 0 and underlay:
        smallest, _order, smallest_site = min(underlay)
        computed = smallest - (OVERHEAD_V6 if any_v6_endpoint else OVERHEAD_V4)
        if not MTU_MIN <= computed <= MTU_MAX:
            problems.append("site '%s': wireguard_mesh_underlay_mtu %d gives a tunnel MTU of %d (underlay - %d), "
                            "outside %d..%d: set wireguard_mesh_mtu to a tunnel MTU in that range."
                            % (smallest_site, smallest, computed,
                               OVERHEAD_V6 if any_v6_endpoint else OVERHEAD_V4, MTU_MIN, MTU_MAX))
    return problems


# ---------------------------------------------------------------------------------------
# mesh_settings
# ---------------------------------------------------------------------------------------

MESH_SETTINGS = (
    ('network', 'wireguard_mesh_network'),
    ('network6', 'wireguard_mesh_network6'),
    ('interface', 'wireguard_mesh_interface'),
    ('keepalive', 'wireguard_mesh_keepalive'),
    ('mtu', 'wireguard_mesh_mtu'),
)


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
            value = _plain(hv[var]) if var in hv else _plain(defaults.get(var))
            if key in ('keepalive', 'mtu') and _as_int(value) is not None:
                value = _as_int(value)  # 25 and "25" are the same setting
            for entry in groups:
                if entry[0] == value:
                    entry[1].append(name)
                    break
            else:
                groups.append((value, [name]))
        result[key] = groups[0][0] if groups else _plain(defaults.get(var))
        if len(groups) > 1:
            result['problems'].append(
                '%s differs between the sites (%s): it is mesh-wide; set it once for the whole group, not per host.'
                % (var, '; '.join('%s on %s' % ('empty' if v in ('', None) else v, quote_names(n))
                                  for v, n in groups)))
    return result
