# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``wg show dump`` parsing, endpoints, CIDRs and wg-quick's route rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import socket

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import endpoint
from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils import wg

PRIV = keys.generate_private_key()
PUB = keys.public_key_from_private(PRIV)
PEER1 = keys.public_key_from_private(keys.generate_private_key())
PEER2 = keys.public_key_from_private(keys.generate_private_key())
PEER3 = keys.public_key_from_private(keys.generate_private_key())
PSK = keys.generate_psk()
NOW = 1700000100

DUMP = '\n'.join([
    '\t'.join([PRIV, PUB, '51820', 'off']),
    # handshake never, no endpoint, (none) allowed IPs, keepalive off, no PSK
    '\t'.join([PEER1, '(none)', '(none)', '(none)', '0', '0', '0', 'off']),
    # IPv6 endpoint, PSK, two allowed IPs, handshake 100 s ago
    '\t'.join([PEER2, PSK, '[::1]:51820', '10.99.0.2/32,fd00:99::2/128', '1700000000', '1234', '5678', '25']),
    # IPv4 endpoint, handshake in the future (clock skew) -> age 0
    '\t'.join([PEER3, '(none)', '192.0.2.7:4500', '10.3.0.0/16', '1700000200', '1', '2', 'off']),
]) + '\n'


def parsed():
    return wg.parse_dump(DUMP, now=NOW, keep_psks=True)


def test_parse_dump_interface_without_private_key():
    info, _psks = parsed()
    assert info['interface'] == dict(public_key=PUB, listen_port=51820, fwmark=0)
    assert PRIV not in json.dumps(info)


def test_parse_dump_peer_never_handshaked_and_none_fields():
    peer = parsed()[0]['peers'][0]
    assert peer == dict(public_key=PEER1, endpoint=None, allowed_ips=[], latest_handshake=0,
                        latest_handshake_age=None, handshake_never=True, rx_bytes=0, tx_bytes=0,
                        persistent_keepalive=0, preshared_key_set=False)


def test_parse_dump_ipv6_endpoint_psk_and_age():
    peer = parsed()[0]['peers'][1]
    assert peer['endpoint'] == '[::1]:51820'
    assert peer['allowed_ips'] == ['10.99.0.2/32', 'fd00:99::2/128']
    assert peer['latest_handshake'] == 1700000000
    assert peer['latest_handshake_age'] == 100
    assert peer['handshake_never'] is False
    assert (peer['rx_bytes'], peer['tx_bytes'], peer['persistent_keepalive']) == (1234, 5678, 25)
    assert peer['preshared_key_set'] is True


def test_parse_dump_future_handshake_age_is_zero_not_never():
    peer = parsed()[0]['peers'][2]
    assert peer['latest_handshake_age'] == 0 and peer['handshake_never'] is False


def test_parse_dump_never_returns_secrets_unless_psks_asked():
    info, psks = wg.parse_dump(DUMP, now=NOW)
    text = json.dumps(info)
    assert PRIV not in text and PSK not in text
    assert psks == {}
    assert parsed()[1] == {PEER1: None, PEER2: PSK, PEER3: None}


def test_parse_dump_fwmark_and_no_key():
    info, dummy = wg.parse_dump('(none)\t(none)\t0\t0x1234\n')
    assert info['interface'] == dict(public_key=None, listen_port=0, fwmark=0x1234)
    assert info['peers'] == []


@pytest.mark.parametrize('text,fragment', [
    ('', 'printed nothing'),
    ('a\tb\tc\n', 'expected 4'),
    ('\t'.join([PRIV, PUB, '1', 'off']) + '\nx\ty\n', 'expected 8'),
    ('\t'.join([PRIV, PUB, 'port', 'off']) + '\n', 'listen port'),
], ids=['empty', 'three-fields', 'short-peer-line', 'port-not-a-number'])
def test_parse_dump_errors(text, fragment):
    with pytest.raises(wg.WgError) as excinfo:
        wg.parse_dump(text)
    assert fragment in str(excinfo.value)
    assert PRIV not in str(excinfo.value)


def test_endpoints_are_split_by_the_shared_parser():
    """wg.py has no endpoint parser of its own (tests of it: test_utils_endpoint.py)."""
    assert wg.split_endpoint is endpoint.split_endpoint
    assert wg.format_endpoint is endpoint.format_endpoint


def test_resolve_and_normalize_endpoint_literals():
    assert wg.resolve_endpoint('[fd00:0::1]:51820') == set(['[fd00::1]:51820'])
    assert wg.resolve_endpoint('192.0.2.1:51820') == set(['192.0.2.1:51820'])
    assert wg.normalize_endpoint_text('[FD00:0::1]:51820') == '[fd00::1]:51820'
    assert wg.resolve_endpoint('localhost:51820') & set(['127.0.0.1:51820', '[::1]:51820'])
    with pytest.raises(ValueError, match='the port must be a number'):
        wg.resolve_endpoint('192.0.2.1:70000')


def test_ipv4_mapped_endpoint_literal_is_written_as_wg_show_prints_it():
    """inet_ntop (wg show, the controller's mesh_peers) keeps the IPv4 part dotted; Python's str() does not.

    With str(), an endpoint [::ffff:192.0.2.1]:51820 never matched the live one: a change every run.
    """
    live = '[%s]:51820' % socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, '::ffff:192.0.2.1'))
    assert live == '[::ffff:192.0.2.1]:51820'
    assert wg.resolve_endpoint('[::ffff:c000:201]:51820') == set([live])
    assert wg.normalize_endpoint_text('[::FFFF:192.0.2.1]:51820') == live


def test_resolve_endpoint_unresolvable_name(monkeypatch):
    def fail(*_args, **_kwargs):
        raise socket.gaierror(-2, 'Name or service not known')
    monkeypatch.setattr(socket, 'getaddrinfo', fail)  # no DNS traffic from the tests
    with pytest.raises(ValueError, match='cannot resolve the host of endpoint .*fix the name'):
        wg.resolve_endpoint('no-such-host.invalid:51820')


def test_normalize_cidr():
    assert wg.normalize_cidr('10.0.0.5') == '10.0.0.5/32'
    assert wg.normalize_cidr('10.0.0.5/24') == '10.0.0.0/24'
    assert wg.normalize_cidr('FD00::1') == 'fd00::1/128'
    with pytest.raises(ValueError, match="'nope' is not an IPv4/IPv6"):
        wg.normalize_cidr('nope')


def test_sort_cidrs():
    assert wg.sort_cidrs(['fd00::/64', '10.2.0.0/16', '10.1.0.0/24', '10.1.0.0/24']) == \
        ['10.1.0.0/24', '10.2.0.0/16', 'fd00::/64']


def test_parse_routes():
    text = json.dumps([
        {'dst': '10.99.0.0/24', 'protocol': 'kernel', 'scope': 'link'},
        {'dst': '10.2.0.5', 'scope': 'link'},
        {'dst': 'fd00::2', 'metric': 1024},
        {'dst': 'default', 'gateway': '10.99.0.1'},
    ])
    assert wg.parse_routes(text) == [('10.99.0.0/24', 'kernel'), ('10.2.0.5/32', 'boot'),
                                     ('fd00::2/128', 'boot'), ('0.0.0.0/0', 'boot')]


def test_plan_routes_follows_wg_quick_match_rule():
    routes = [('10.99.0.0/24', 'kernel'), ('10.2.0.0/24', 'boot')]
    to_add, to_delete, skipped = wg.plan_routes(
        routes, desired=['10.99.0.2/32', '10.2.0.0/24', '10.3.0.0/24', '10.3.0.0/25', 'fd00::/64', '0.0.0.0/0'],
        removed=[])
    # 10.99.0.2/32 is covered by the kernel route, 10.3.0.0/25 by the route being added for /24
    assert to_add == ['10.3.0.0/24', 'fd00::/64']
    assert to_delete == []
    assert skipped == ['0.0.0.0/0']


def test_plan_routes_deletes_only_own_non_kernel_routes():
    routes = [('10.99.0.0/24', 'kernel'), ('10.2.0.0/16', 'boot'), ('10.5.0.0/24', 'static')]
    to_add, to_delete, dummy = wg.plan_routes(routes, desired=['10.2.1.0/24'],
                                              removed=['10.2.0.0/16', '10.99.0.0/24', '10.7.0.0/24'])
    assert to_delete == ['10.2.0.0/16']
    # the /16 that covered 10.2.1.0/24 goes away, so the /24 needs its own route
    assert to_add == ['10.2.1.0/24']


def test_route_commands_are_lists():
    cmds = wg.route_commands('/sbin/ip', 'wg0', ['10.3.0.0/24', 'fd00::/64'], ['10.2.0.0/16'])
    assert cmds == [
        ['/sbin/ip', '-4', 'route', 'del', '10.2.0.0/16', 'dev', 'wg0'],
        ['/sbin/ip', '-4', 'route', 'add', '10.3.0.0/24', 'dev', 'wg0'],
        ['/sbin/ip', '-6', 'route', 'add', 'fd00::/64', 'dev', 'wg0'],
    ]


def test_parse_uapi_transfer_keeps_public_keys_and_counters_only():
    hex_key = base64.b64decode(PEER1).hex()
    private_hex = base64.b64decode(PRIV).hex()
    text = ('private_key=%s\nlisten_port=51820\npublic_key=%s\nendpoint=192.0.2.1:51820\ntx_bytes=1234\n'
            'rx_bytes=5\nallowed_ip=10.99.0.2/32\nerrno=0\n\n' % (private_hex, hex_key))
    sent = wg.parse_uapi_transfer(text)
    assert sent == {PEER1: 1234} and private_hex not in repr(sent) and PRIV not in repr(sent)


@pytest.mark.parametrize('text', ['public_key=zz\n', 'errno=1\n\n'], ids=['key', 'errno'])
def test_parse_uapi_transfer_refuses_a_bad_answer(text):
    with pytest.raises(wg.WgError):
        wg.parse_uapi_transfer(text)
