# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The handoff datagrams of a key switch: building, parsing, and what is not one of them.

The exchange itself runs between two real WireGuard namespaces in
tests/unit/plugins/modules/test_module_wg_peer.py (under traffic, nothing lost)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import struct

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import handoff, switch


def ipv4_udp(payload, dport=handoff.PORT, proto=17, ihl=5):
    header = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 20 + 8 + len(payload), 0, 0, 64, proto, 0,
                         ipaddress.ip_address('10.99.0.2').packed, ipaddress.ip_address('10.99.0.1').packed)
    header += b'\0' * (ihl * 4 - 20)
    return header + struct.pack('!HHHH', 40000, dport, 8 + len(payload), 0) + payload


def ipv6_udp(payload, next_header=17):
    header = struct.pack('!IHBB16s16s', 6 << 28, 8 + len(payload), next_header, 64,
                         ipaddress.ip_address('fd99::2').packed, ipaddress.ip_address('fd99::1').packed)
    return header + struct.pack('!HHHH', 40000, handoff.PORT, 8 + len(payload), 0) + payload


def test_message_round_trip():
    payload = handoff.message('switch-123456', 'ready', u'frankfurt-é')
    assert handoff.parse_message(payload, 'switch-123456') == ('ready', u'frankfurt-é')
    assert handoff.parse_message(payload, 'switch-999999') is None


@pytest.mark.parametrize('payload', [
    b'', b'wgmesh-handoff', b'wgmesh-handoff tok ready', b'other tok ready b',
    b'wgmesh-handoff tok \xff b', b'wgmesh-handoff tok ready \xff\xfe',
])
def test_parse_message_refuses_what_is_not_a_handoff_datagram(payload):
    assert handoff.parse_message(payload, 'tok') is None


def test_udp_payload_of_ipv4_and_ipv6_datagrams():
    assert handoff.udp_payload(ipv4_udp(b'hello')) == b'hello'
    assert handoff.udp_payload(ipv4_udp(b'opts', ihl=6)) == b'opts'
    assert handoff.udp_payload(ipv6_udp(b'six')) == b'six'


@pytest.mark.parametrize('packet', [
    b'', ipv4_udp(b'x', dport=53), ipv4_udp(b'x', proto=6), ipv6_udp(b'x', next_header=0),
    ipv4_udp(b'')[:24], b'\x60' + b'\0' * 10, b'\x20' * 40,
])
def test_udp_payload_ignores_other_packets(packet):
    assert not handoff.udp_payload(packet)


@pytest.mark.parametrize('token', ['short', 'with space1', 'semi;colon1', 'x' * 65, u'ünicode-token'])
def test_switch_refuses_bad_tokens(token):
    with pytest.raises(ValueError, match='token must be'):
        switch._token(dict(token=token), 'announce_switch')


def test_switch_names_the_site_it_waits_for():
    desired = [dict(name='a', address='10.99.0.1'), dict(name='c', address=None)]
    assert switch._site_address(desired, 'a') == '10.99.0.1'
    with pytest.raises(ValueError, match='not one of the peers'):
        switch._site_address(desired, 'b')
    with pytest.raises(ValueError, match='no allowed IP'):
        switch._site_address(desired, 'c')
