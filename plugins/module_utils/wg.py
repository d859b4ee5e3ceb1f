# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live WireGuard state: ``wg show <iface> dump`` parsing, endpoints, AllowedIPs and routes.

Pure functions (parsing, normalisation, route planning) plus thin runners that take
an AnsibleModule for ``run_command``. Commands are always argument lists; no secret
is ever put on a command line (keys go through files).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import ipaddress
import json
import os
import re
import socket
import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import parse_ip
from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import format_endpoint, split_endpoint

NONE = '(none)'


class WgError(Exception):
    """A live-state operation failed; the message says what to do."""


IFACE_RE = re.compile(r'[A-Za-z0-9_=+.-]{1,15}')


def check_interface(name):
    """ValueError unless ``name`` is a whole valid interface name (a trailing newline does not pass).

    The kernel refuses "." and "..", and they would name directories in paths built from the name.
    """
    if not isinstance(name, str) or not IFACE_RE.fullmatch(name) or name in ('.', '..'):
        raise ValueError('interface %r is not a valid interface name (1 to 15 of A-Z a-z 0-9 _ = + . -)' % (name,))


def _int(text, what):
    try:
        return int(text, 0) if text.startswith('0x') else int(text)
    except ValueError:
        raise WgError('unexpected %s %r in "wg show dump" output' % (what, text))


def parse_dump(text, now=None, keep_psks=False):
    """Parse ``wg show <iface> dump``.

    Returns ``(info, psks)``: ``info`` is ``{'interface': {...}, 'peers': [...]}`` without any
    secret; ``psks`` maps peer public key to its PSK (or None) when ``keep_psks``, else is empty.
    The private key in the first line is dropped at once.
    """
    if now is None:
        now = int(time.time())
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise WgError('"wg show dump" printed nothing: is this a WireGuard interface?')
    head = lines[0].split('\t')
    if len(head) != 4:
        raise WgError('unexpected interface line in "wg show dump" output: %d fields, expected 4' % len(head))
    interface = dict(
        public_key=None if head[1] == NONE else head[1],
        listen_port=_int(head[2], 'listen port'),
        fwmark=0 if head[3] == 'off' else _int(head[3], 'fwmark'),
    )
    del head
    peers = []
    psks = {}
    for line in lines[1:]:
        fields = line.split('\t')
        if len(fields) != 8:
            raise WgError('unexpected peer line in "wg show dump" output: %d fields, expected 8' % len(fields))
        public_key, psk, endpoint, allowed, handshake, rx, tx, keepalive = fields
        handshake = _int(handshake, 'latest handshake')
        peers.append(dict(
            public_key=public_key,
            endpoint=None if endpoint == NONE else endpoint,
            allowed_ips=[] if allowed == NONE else [a for a in allowed.split(',') if a],
            latest_handshake=handshake,
            latest_handshake_age=max(0, now - handshake) if handshake else None,
            handshake_never=handshake == 0,
            rx_bytes=_int(rx, 'rx bytes'),
            tx_bytes=_int(tx, 'tx bytes'),
            persistent_keepalive=0 if keepalive == 'off' else _int(keepalive, 'persistent keepalive'),
            preshared_key_set=psk != NONE,
        ))
        if keep_psks:
            psks[public_key] = None if psk == NONE else psk
        del psk
    return dict(interface=interface, peers=peers), psks


def _canonical_host(host):
    """An IP literal in ``wg show``'s (inet_ntop) form; a name as it is."""
    ip = parse_ip(host)
    return ip[2] if ip else host


def resolve_endpoint(endpoint):
    """Set of ``wg show``-style endpoints the configured endpoint may resolve to."""
    host, port = split_endpoint(endpoint)
    ip = parse_ip(host)
    if ip:
        return set([format_endpoint(ip[2], port)])
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError('cannot resolve the host of endpoint %r: %s; fix the name or use an address'
                         % (endpoint, exc))
    return set(format_endpoint(_canonical_host(info[4][0]), port) for info in infos)


def normalize_endpoint_text(endpoint):
    """Canonical endpoint text (IP literals compressed) for display."""
    host, port = split_endpoint(endpoint)
    return format_endpoint(_canonical_host(host), port)


def normalize_cidr(text, what='allowed IP'):
    """``'10.0.0.5'`` -> ``'10.0.0.5/32'``; host bits cleared like the kernel does."""
    try:
        return str(ipaddress.ip_network(str(text).strip(), strict=False))
    except ValueError:
        raise ValueError('%s %r is not an IPv4/IPv6 address or CIDR' % (what, text))


def sort_cidrs(cidrs):
    nets = [ipaddress.ip_network(c) for c in set(cidrs)]
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))]


# ---------------------------------------------------------------------------- routes

def parse_routes(json_text):
    """``ip -j route show dev IFACE`` -> list of ``(network, protocol)``."""
    try:
        data = json.loads(json_text or '[]')
    except ValueError:
        raise WgError('cannot parse the output of "ip -j route show"')
    routes = []
    for route in data:
        dst = route.get('dst')
        if not dst:
            continue
        if dst == 'default':
            dst = '::/0' if ':' in (route.get('gateway') or route.get('prefsrc') or '') else '0.0.0.0/0'
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        routes.append((str(net), route.get('protocol', 'boot')))
    return routes


def plan_routes(routes, desired, removed):
    """wg-quick's route rule, reconciled.

    ``routes``: ``(cidr, protocol)`` on the interface; ``desired``: AllowedIPs of all peers after the
    run; ``removed``: AllowedIPs no peer has after the run. Returns ``(to_add, to_delete, skipped)``:
    a route is added for a desired CIDR unless a route on the interface already covers it
    (``ip route show dev IFACE match CIDR``); a removed CIDR's own route is deleted unless it is
    ``proto kernel``. Default routes (``/0``) are never touched (``skipped``).
    """
    to_delete = []
    for cidr in sort_cidrs(removed):
        if ipaddress.ip_network(cidr).prefixlen == 0:
            continue
        for net, proto in routes:
            if net == cidr and proto != 'kernel':
                to_delete.append(cidr)
                break
    remaining = [ipaddress.ip_network(net) for net, _proto in routes if net not in to_delete]
    to_add = []
    skipped = []
    for cidr in sort_cidrs(desired):
        net = ipaddress.ip_network(cidr)
        if net.prefixlen == 0:
            skipped.append(cidr)
            continue
        if any(r.version == net.version and net.subnet_of(r) for r in remaining):
            continue
        to_add.append(cidr)
        remaining.append(net)
    return to_add, to_delete, skipped


def family_flag(cidr):
    return '-6' if ':' in cidr else '-4'


def route_commands(ip_bin, interface, to_add, to_delete):
    """Argument lists for the route changes."""
    commands = []
    for cidr in to_delete:
        commands.append([ip_bin, family_flag(cidr), 'route', 'del', cidr, 'dev', interface])
    for cidr in to_add:
        commands.append([ip_bin, family_flag(cidr), 'route', 'add', cidr, 'dev', interface])
    return commands


# ---------------------------------------------------------------------------- runners

def wg_bin(module):
    return module.get_bin_path('wg', required=True)


def ip_bin(module):
    return module.get_bin_path('ip', required=True)


def interface_exists(interface):
    """Whether a network interface of that name exists in this network namespace."""
    return os.path.exists(os.path.join('/sys/class/net', interface))


def read_dump(module, interface, keep_psks=False):
    """``(info, psks)`` of a live interface, or ``(None, {})`` when it does not exist."""
    rc, out, err = module.run_command([wg_bin(module), 'show', interface, 'dump'])
    if rc != 0:
        if not interface_exists(interface):
            return None, {}
        raise WgError('"wg show %s dump" failed (rc=%d): %s; check that %s is a WireGuard interface and run as '
                      'root (become: true)' % (interface, rc, (err or out or '').strip(), interface))
    try:
        return parse_dump(out, keep_psks=keep_psks)
    finally:
        del out


UAPI_DIR = '/var/run/wireguard'


def parse_uapi_transfer(text):
    """Bytes sent to each peer, by public key, from a userspace interface's ``get=1`` answer. Only
    the peers' public keys and counters are kept (the answer also holds the private key)."""
    sent = {}
    key = None
    for line in text.splitlines():
        name, _sep, value = line.partition('=')
        if name == 'public_key':
            try:
                key = base64.b64encode(binascii.unhexlify(value)).decode('ascii')
            except (TypeError, ValueError):
                raise WgError('unexpected public key in the answer of the %s socket' % UAPI_DIR)
            sent[key] = 0
        elif name == 'tx_bytes' and key is not None:
            sent[key] = _int(value, 'bytes sent')
        elif name == 'errno' and value != '0':
            raise WgError('the %s socket answered errno=%s' % (UAPI_DIR, value))
    return sent


def _uapi_get(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b'get=1\n\n')
        answer = b''
        while not answer.endswith(b'\n\n'):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer.decode('ascii', 'replace')
    finally:
        sock.close()


def read_transfer(module, interface):
    """Bytes sent to each peer of a live interface, by public key. A userspace interface (its socket
    in /var/run/wireguard) is asked directly, in a millisecond: no process to start on a busy CPU."""
    path = os.path.join(UAPI_DIR, interface + '.sock')
    if os.path.exists(path):
        try:
            answer = _uapi_get(path)
        except (IOError, OSError) as exc:
            raise WgError('cannot read the transfer counters of %s from %s: %s' % (interface, path, exc))
        try:
            return parse_uapi_transfer(answer)
        finally:
            del answer
    info, _psks = read_dump(module, interface)
    if info is None:
        raise WgError('interface %s does not exist: bring it up first' % interface)
    return dict((peer['public_key'], peer['tx_bytes']) for peer in info['peers'])


def read_routes(module, interface):
    """Routes on ``interface`` in the main table (both families)."""
    routes = []
    for family in ('-4', '-6'):
        rc, out, err = module.run_command([ip_bin(module), '-j', family, 'route', 'show', 'dev', interface])
        if rc != 0:
            if family == '-6':
                continue  # IPv6 disabled on the node
            raise WgError('"ip -j %s route show dev %s" failed: %s' % (family, interface, (err or out).strip()))
        routes.extend(parse_routes(out))
    return routes


def run_checked(module, argv, what):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise WgError('%s failed (rc=%d): %s; command was: %s'
                      % (what, rc, (err or out or '').strip(), ' '.join(argv)))
    return out
