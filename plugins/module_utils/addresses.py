# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP addresses and CIDRs as the controller and the nodes parse them (stdlib ``ipaddress`` only).

Only the plain forms are accepted: no surrounding white space, no zone id (``%eth0``), no
leading zeros in an IPv4 octet (whatever the Python version), ASCII only. Canonical text is
what ``inet_ntop`` (and so ``wg show`` and ``ip route``) prints: IPv6 compressed and lower
case, with the IPv4 part of ``::ffff:a.b.c.d`` and ``::a.b.c.d`` kept dotted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

_IP_CHARS_RE = re.compile(r'[0-9A-Fa-f:.]+')
_OCTET_RE = re.compile(r'0|[1-9][0-9]{0,2}')
_CIDR_SHAPE_RE = re.compile(r'[0-9A-Fa-f:.]+/(0|[1-9][0-9]{0,2})')

CIDR_FORMAT = 'write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'


class AddressError(ValueError):
    """Not a usable address or CIDR; the message is a reason ("is not a CIDR: ...")."""


def bits(version):
    return 32 if version == 4 else 128


def ip_text(version, value):
    """Canonical text of the address ``value`` (an int) of IP ``version``."""
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    high = value >> 32
    # inet_ntop keeps the IPv4 part dotted in IPv4-mapped and IPv4-compatible addresses (not ::1, ::ffff)
    if high == 0xffff or (high == 0 and value > 0xffff):
        return ('::ffff:' if high else '::') + str(ipaddress.IPv4Address(value & 0xffffffff))
    return str(ipaddress.IPv6Address(value))


def _plain_octets(text):
    """False if the dotted IPv4 part of ``text`` has an octet with a leading zero (Python 3.8 accepts them)."""
    dotted = text.rsplit(':', 1)[-1]
    return all(_OCTET_RE.fullmatch(octet) for octet in dotted.split('.'))


def parse_ip(value):
    """(version, int, canonical text) of a plain IP address, or None if ``value`` is not one."""
    if not isinstance(value, str) or not _IP_CHARS_RE.fullmatch(value):
        return None
    if '.' in value and not _plain_octets(value):
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    return ip.version, int(ip), ip_text(ip.version, int(ip))


def parse_cidr(value):
    """(version, first, last, prefixlen, canonical, host_bits_set) of a CIDR; AddressError(reason) if not one."""
    if not isinstance(value, str):
        raise AddressError('is not a string but a %s' % type(value).__name__)
    if '/' not in value:
        ip = parse_ip(value)
        if ip is not None:
            raise AddressError('has no prefix length: write %s/%d for a single host' % (ip[2], bits(ip[0])))
        raise AddressError('is not a CIDR: ' + CIDR_FORMAT)
    if not _CIDR_SHAPE_RE.fullmatch(value):
        raise AddressError('is not a CIDR: ' + CIDR_FORMAT)
    addr, plen = value.split('/', 1)
    ip = parse_ip(addr)
    if ip is None:
        raise AddressError('is not a CIDR: %s is not an IP address; %s' % (addr, CIDR_FORMAT))
    version, value_int, _canonical = ip
    plen = int(plen)
    if plen > bits(version):
        raise AddressError('is not a CIDR: the prefix length of an IPv%d network is at most %d'
                           % (version, bits(version)))
    host_mask = (1 << (bits(version) - plen)) - 1
    first = value_int & ~host_mask
    canonical = '%s/%d' % (ip_text(version, first), plen)
    return version, first, first | host_mask, plen, canonical, bool(value_int & host_mask)


def canonical_cidr(value):
    """Canonical text of a CIDR without host bits; AddressError(reason) otherwise."""
    canonical, host_bits = parse_cidr(value)[4:]
    if host_bits:
        raise AddressError('has host bits set: write it as %s' % canonical)
    return canonical
