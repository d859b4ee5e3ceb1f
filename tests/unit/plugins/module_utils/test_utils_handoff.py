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

from ansible_collections.wgmesh.wireguard.plugins.module_utils import handoff, switch, wg


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


@pytest.mark.parametrize('address, payload, size', [
    ('10.99.0.2', b'x' * 4, 32 + 32),       # 20 + 8 + 4 = 32 bytes, already a multiple of 16
    ('10.99.0.2', b'x' * 5, 48 + 32),       # 33 bytes, padded to 48
    ('fd99::2', b'x' * 4, 64 + 32),         # 40 + 8 + 4 = 52, padded to 64
])
def test_wire_size_is_the_padded_packet_with_header_and_tag(address, payload, size):
    assert handoff.wire_size(address, payload) == size


class Transfers(object):
    """A module whose ``wg show dump`` gives the next of ``counts`` (bytes sent per key) each time."""

    def __init__(self, counts):
        self.counts = list(counts)
        self.calls = []

    def get_bin_path(self, name, required=False):
        return '/usr/bin/' + name

    def run_command(self, argv):
        self.calls.append(argv)
        counts = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return 0, 'PRIVATE=\tOWN=\t51820\toff\n' + ''.join(
            '%s\t(none)\t(none)\t(none)\t0\t0\t%d\toff\n' % (key, sent) for key, sent in counts.items()), ''


PEERS = [dict(name='b', public_key='B=', address='10.99.0.2'), dict(name='c', public_key='C=', address='10.99.0.3')]


def test_the_key_waits_until_every_peer_was_sent_its_switch_datagrams(monkeypatch, tmp_path):
    monkeypatch.setattr(wg, 'UAPI_DIR', str(tmp_path))  # no userspace socket: wg show dump
    monkeypatch.setattr(handoff, 'announce', lambda addresses, token: dict((a, 240) for a in addresses))
    # After the first look: b's share is out at the second one, c's (slower) at the fourth.
    module = Transfers([{'B=': 1000, 'C=': 0}, {'B=': 1100, 'C=': 100}, {'B=': 1240, 'C=': 200},
                        {'B=': 1240, 'C=': 230}, {'B=': 1240, 'C=': 340}])
    record = {}
    switch._announce(module, 'wg0', PEERS, 'token-123', record)
    assert len(module.calls) == 5 and all(call[1:] == ['show', 'wg0', 'dump'] for call in module.calls)
    assert record['unsent'] == [] and record['sent_ms'] >= 0 and record['announced_at'] > 0


def test_datagrams_that_never_leave_are_named_after_the_bound(monkeypatch, tmp_path):
    monkeypatch.setattr(wg, 'UAPI_DIR', str(tmp_path))
    monkeypatch.setattr(handoff, 'announce', lambda addresses, token: dict((a, 240) for a in addresses))
    monkeypatch.setattr(switch, 'SENT_WITHIN', 0.05)
    record = {}
    switch._announce(Transfers([{'B=': 0, 'C=': 0}, {'B=': 240, 'C=': 100}]), 'wg0', PEERS, 'token-123', record)
    assert record['unsent'] == ['c'] and record['sent_ms'] >= 50
