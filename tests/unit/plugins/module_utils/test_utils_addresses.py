# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/addresses.py: IP addresses and CIDRs, parsed the same way on the controller and the nodes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import (
    AddressError, canonical_cidr, ip_text, parse_cidr, parse_ip,
)


@pytest.mark.parametrize('text,expected', [
    ('10.99.0.1', (4, 0x0a630001, '10.99.0.1')),
    ('0.0.0.0', (4, 0, '0.0.0.0')),
    ('FD99:0::1', (6, 0xfd99 << 112 | 1, 'fd99::1')),
    ('0000::1', (6, 1, '::1')),
    ('::ffff:10.0.0.1', (6, 0xffff0a000001, '::ffff:10.0.0.1')),
    ('::ffff:a00:1', (6, 0xffff0a000001, '::ffff:10.0.0.1')),
    ('::10.0.0.1', (6, 0x0a000001, '::10.0.0.1')),
    ('::ffff', (6, 0xffff, '::ffff')),
    ('1:0:0:2:0:0:0:3', (6, None, '1:0:0:2::3')),
    ('1:0:2:3:4:5:6:7', (6, None, '1:0:2:3:4:5:6:7')),
])
def test_parse_ip(text, expected):
    version, value, canonical = parse_ip(text)
    assert (version, canonical) == (expected[0], expected[2])
    if expected[1] is not None:
        assert value == expected[1]
    assert value == int(ipaddress.ip_address(text))


@pytest.mark.parametrize('text', [
    '', ' 10.99.0.1', '10.99.0.1 ', '10.99.0.1\n', '10.99.0.1\x00', '10.99.0.300', '10.99.0', '010.99.0.1',
    '10.99.0.01', '::ffff:010.0.0.1', 'fe80::1%eth0', '10.99.0.1/32', '0x0a.1.1.1', '4294967295', '1::2::3',
    u'\u0661\u0660.99.0.1', u'10.99.0.\uff11', '10.99.0.1;', '$(id)', '`id`', "'10.99.0.1'", '1' * 5000,
    None, 5, 167968769, b'10.99.0.1', ['10.99.0.1'],
])
def test_parse_ip_refuses(text):
    assert parse_ip(text) is None


@pytest.mark.parametrize('text,expected', [
    ('10.10.0.0/24', (4, 0x0a0a0000, 0x0a0a00ff, 24, '10.10.0.0/24', False)),
    ('10.10.0.1/24', (4, 0x0a0a0000, 0x0a0a00ff, 24, '10.10.0.0/24', True)),
    ('0.0.0.0/0', (4, 0, 2 ** 32 - 1, 0, '0.0.0.0/0', False)),
    ('FD10:0::/64', (6, 0xfd10 << 112, (0xfd10 << 112) | (2 ** 64 - 1), 64, 'fd10::/64', False)),
    ('::ffff:10.0.0.0/120', (6, 0xffff0a000000, 0xffff0a0000ff, 120, '::ffff:10.0.0.0/120', False)),
])
def test_parse_cidr(text, expected):
    assert parse_cidr(text) == expected


@pytest.mark.parametrize('text,reason', [
    (5, 'is not a string but a int'),
    ('10.10.0.5', 'has no prefix length: write 10.10.0.5/32 for a single host'),
    ('fd10::5', 'has no prefix length: write fd10::5/128 for a single host'),
    ('nope', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('10.10.0.0/24\n', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    (' 10.10.0.0/24', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('10.10.0.0/024', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('10.10.0.0/255.255.255.0', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('fe80::%eth0/64', 'is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('10.10.0/24', 'is not a CIDR: 10.10.0 is not an IP address; write it as ADDRESS/PREFIX, e.g. 10.10.0.0/24'),
    ('010.10.0.0/24', 'is not a CIDR: 010.10.0.0 is not an IP address; write it as ADDRESS/PREFIX, e.g. '
                      '10.10.0.0/24'),
    ('10.10.0.0/33', 'is not a CIDR: the prefix length of an IPv4 network is at most 32'),
    ('fd10::/129', 'is not a CIDR: the prefix length of an IPv6 network is at most 128'),
])
def test_parse_cidr_reasons(text, reason):
    with pytest.raises(AddressError) as info:
        parse_cidr(text)
    assert str(info.value) == reason
    assert isinstance(info.value, ValueError)


def test_canonical_cidr():
    assert canonical_cidr('FD10:0::/64') == 'fd10::/64'
    assert canonical_cidr('10.10.0.0/24') == '10.10.0.0/24'
    with pytest.raises(AddressError, match='^has host bits set: write it as 10.10.0.0/24$'):
        canonical_cidr('10.10.0.1/24')


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 2 ** 128 - 1) | st.sampled_from([0, 1, 0xffff, 0x10000, 0xffff00000000, 0x1ffff00000000])
       | st.integers(0, 2 ** 48))
def test_ipv6_text_is_what_inet_ntop_prints(value):
    """The canonical text of an IPv6 address is glibc's inet_ntop (wg show, ip route, and netaddr before)."""
    packed = value.to_bytes(16, 'big')
    assert ip_text(6, value) == socket.inet_ntop(socket.AF_INET6, packed)
    assert parse_ip(ip_text(6, value)) == (6, value, ip_text(6, value))
    assert parse_ip(str(ipaddress.IPv6Address(value)))[2] == ip_text(6, value)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(0, 32))
def test_ipv4_cidr_agrees_with_ipaddress(value, plen):
    text = '%s/%d' % (ipaddress.IPv4Address(value), plen)
    network = ipaddress.ip_network(text, strict=False)
    version, first, last, got_plen, canonical, host_bits = parse_cidr(text)
    assert (version, first, last, got_plen, canonical) == (
        4, int(network.network_address), int(network.broadcast_address), plen, str(network))
    assert host_bits == (first != value)
