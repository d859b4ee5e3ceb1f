# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_peer planning: one ``wg set`` argument list, minimal changes, never a secret."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils import peer as peer_utils
from ansible_collections.wgmesh.wireguard.plugins.module_utils import wg


def pub():
    return keys.public_key_from_private(keys.generate_private_key())


def fake_resolve(endpoint):
    return wg.resolve_endpoint(endpoint) if endpoint[0].isdigit() or endpoint.startswith('[') \
        else set(['192.0.2.50:' + endpoint.rsplit(':', 1)[1]])


def live_state(own, peers):
    return dict(interface=dict(public_key=own, listen_port=51820, fwmark=0), peers=peers)


def live_peer(key, endpoint=None, allowed=(), keepalive=0, psk=False, handshake_age=None):
    return dict(public_key=key, endpoint=endpoint, allowed_ips=list(allowed), latest_handshake=0,
                latest_handshake_age=handshake_age, handshake_never=handshake_age is None, rx_bytes=0, tx_bytes=0,
                persistent_keepalive=keepalive, preshared_key_set=psk)


def desired(*peers):
    return peer_utils.normalize_peers(list(peers))


def spec(key, name=None, psk_path=None, endpoint=None, allowed=(), keepalive=0):
    return dict(public_key=key, name=name, preshared_key_path=psk_path, endpoint=endpoint,
                allowed_ips=list(allowed), persistent_keepalive=keepalive)


OWN = pub()


def test_new_peer_gets_every_attribute_in_one_set():
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', '/etc/wireguard/psk/b.psk', '198.51.100.2:51820',
                                                     ['10.99.0.2', '10.2.0.0/24'], 25)),
                                 live_state(OWN, []), {}, {key: keys.generate_psk()}, resolve=fake_resolve)
    assert plan.set_argv('wg') == ['wg', 'set', 'wg0', 'peer', key, 'preshared-key', '/etc/wireguard/psk/b.psk',
                                   'endpoint', '198.51.100.2:51820', 'persistent-keepalive', '25',
                                   'allowed-ips', '10.2.0.0/24,10.99.0.2/32']
    assert plan.added == ['b'] and plan.updated == [] and plan.removed == []
    assert plan.fresh == ['b']


def test_identical_state_plans_nothing():
    key = pub()
    psk = keys.generate_psk()
    plan = peer_utils.plan_peers(
        'wg0', desired(spec(key, 'b', '/p/b.psk', 'host.example:51820', ['10.2.0.0/24', '10.99.0.2/32'], 25)),
        live_state(OWN, [live_peer(key, '192.0.2.50:51820', ['10.99.0.2/32', '10.2.0.0/24'], 25, True)]),
        {key: psk}, {key: psk}, resolve=fake_resolve)
    assert plan.set_argv() is None and not plan.changed
    assert plan.added == plan.updated == plan.removed == []
    assert plan.fresh == []


def test_only_changed_attributes_are_set():
    key = pub()
    plan = peer_utils.plan_peers(
        'wg0', desired(spec(key, 'b', None, '198.51.100.9:51820', ['10.99.0.2/32'], 0)),
        live_state(OWN, [live_peer(key, '198.51.100.2:51820', ['10.99.0.2/32'], 25, True)]),
        {key: keys.generate_psk()}, {}, resolve=fake_resolve)
    assert plan.set_argv('wg') == ['wg', 'set', 'wg0', 'peer', key, 'preshared-key', '/dev/null',
                                   'endpoint', '198.51.100.9:51820', 'persistent-keepalive', 'off']
    assert plan.updated == ['b']
    assert plan.after[key]['preshared_key'] is False
    assert plan.fresh == ['b']  # PSK removed: the live session would hide a mismatch


def test_psk_changed_content_is_set_by_path():
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', '/p/b.psk')),
                                 live_state(OWN, [live_peer(key, psk=True)]),
                                 {key: keys.generate_psk()}, {key: keys.generate_psk()}, resolve=fake_resolve)
    assert plan.set_argv('wg') == ['wg', 'set', 'wg0', 'peer', key, 'preshared-key', '/p/b.psk']
    assert plan.changes['b'] == ['preshared key changed']
    assert plan.fresh == ['b']


def test_psk_set_on_a_peer_without_one_is_fresh():
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', '/p/b.psk')), live_state(OWN, [live_peer(key)]),
                                 {key: None}, {key: keys.generate_psk()}, resolve=fake_resolve)
    assert plan.changes['b'] == ['preshared key changed'] and plan.fresh == ['b']


def test_endpoint_keepalive_and_allowed_ips_changes_are_not_fresh():
    key = pub()
    psk = keys.generate_psk()
    plan = peer_utils.plan_peers(
        'wg0', desired(spec(key, 'b', '/p/b.psk', '198.51.100.9:51820', ['10.99.0.2/32', '10.2.0.0/24'], 25)),
        live_state(OWN, [live_peer(key, '198.51.100.2:51820', ['10.99.0.2/32'], 0, True)]),
        {key: psk}, {key: psk}, resolve=fake_resolve)
    assert plan.updated == ['b'] and len(plan.changes['b']) == 3
    assert plan.fresh == []


@pytest.mark.parametrize('age, changed', [(None, True), (0, False), (179, False), (180, True), (900, True)])
def test_roamed_endpoint_is_kept_while_its_session_lives(age, changed):
    """Behind NAT or a relay the peer's packets come from another address than the configured one;
    WireGuard roams there. A re-run must not set the configured endpoint again while that works."""
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', endpoint='198.51.100.2:51820', allowed=['10.99.0.2'])),
                                 live_state(OWN, [live_peer(key, '203.0.113.7:40123', ['10.99.0.2/32'], handshake_age=age)]),
                                 {}, {}, resolve=fake_resolve)
    assert plan.changed is changed
    assert (plan.changes.get('b') == ['endpoint 203.0.113.7:40123 -> 198.51.100.2:51820']) is changed


def test_peer_without_endpoint_keeps_learned_one():
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'nat', endpoint='')),
                                 live_state(OWN, [live_peer(key, endpoint='203.0.113.9:40000')]), {}, {},
                                 resolve=fake_resolve)
    assert plan.set_argv() is None


@pytest.mark.parametrize('configured,old_allowed,old_endpoint,expected', [
    # Behind NAT (no endpoint of its own), rotated: the new key is reached where the old one was.
    ('', ['10.99.0.2/32', '10.2.0.0/24'], '203.0.113.9:40000', '203.0.113.9:40000'),
    ('', ['10.99.0.2/32'], '203.0.113.9:40000', '203.0.113.9:40000'),
    # A configured endpoint wins; another site's entry, or one that never sent, gives nothing.
    ('198.51.100.2:51820', ['10.99.0.2/32'], '203.0.113.9:40000', '198.51.100.2:51820'),
    ('', ['10.99.0.3/32'], '203.0.113.9:40000', None),
    ('', ['10.99.0.2/32'], None, None),
], ids=['nat-rotated', 'tunnel-address-only', 'configured', 'other-site', 'never-sent'])
def test_a_new_key_without_endpoint_takes_the_endpoint_of_the_key_it_replaces(
        configured, old_allowed, old_endpoint, expected):
    old, new = pub(), pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(new, 'b', endpoint=configured, allowed=['10.99.0.2/32', '10.2.0.0/24'])),
                                 live_state(OWN, [live_peer(old, endpoint=old_endpoint, allowed=old_allowed,
                                                            handshake_age=5)]),
                                 {}, {}, exclusive=True, resolve=fake_resolve)
    argv = plan.set_argv('wg')
    endpoints = [argv[i + 1] for i, arg in enumerate(argv) if arg == 'endpoint']
    assert endpoints == ([expected] if expected else [])
    # Retired after the move when the new key took its AllowedIPs, else removed in the same call.
    removal = plan.retire_argv('wg') if '10.99.0.2/32' in old_allowed else argv
    assert plan.after[new]['endpoint'] == expected and removal[-3:] == ['peer', old, 'remove']


def test_exclusive_moves_allowed_ips_atomically_and_retires_the_replaced_peer_after():
    old, new, stale = pub(), pub(), pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(new, 'b', allowed=['10.99.0.2/32'])),
                                 live_state(OWN, [live_peer(old, allowed=['10.99.0.2/32']),
                                                  live_peer(stale, allowed=['10.99.0.3/32'])]), {}, {},
                                 exclusive=True, resolve=fake_resolve)
    # The new key takes the AllowedIPs in one call; the old entry goes in a second one, once what
    # was queued in it has been sent. A peer nobody replaces goes at once.
    assert plan.set_argv('wg') == ['wg', 'set', 'wg0', 'peer', new, 'allowed-ips', '10.99.0.2/32',
                                   'peer', stale, 'remove']
    assert plan.retire_argv('wg') == ['wg', 'set', 'wg0', 'peer', old, 'remove']
    assert plan.added == ['b'] and plan.removed == [old, stale]
    assert plan.fresh == ['b']
    after, gone = peer_utils.allowed_ip_sets(plan)
    assert after == set(['10.99.0.2/32']) and gone == set(['10.99.0.3/32'])  # no route churn for b


def test_non_exclusive_keeps_unlisted_peers():
    other = pub()
    plan = peer_utils.plan_peers('wg0', desired(), live_state(OWN, [live_peer(other, allowed=['10.9.0.0/24'])]),
                                 {}, {}, resolve=fake_resolve)
    assert plan.set_argv() is None
    assert peer_utils.allowed_ip_sets(plan) == (set(['10.9.0.0/24']), set())


def test_private_key_change_goes_first_in_the_same_call():
    new_private = keys.generate_private_key()
    new_public = keys.public_key_from_private(new_private)
    key = pub()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', allowed=['10.99.0.2/32'])),
                                 live_state(OWN, []), {}, {}, private_key_path='/etc/wireguard/wg0.key',
                                 private_public_key=new_public, resolve=fake_resolve)
    assert plan.set_argv('wg')[:5] == ['wg', 'set', 'wg0', 'private-key', '/etc/wireguard/wg0.key']
    assert 'peer' in plan.set_argv('wg')
    same = peer_utils.plan_peers('wg0', desired(), live_state(new_public, []), {}, {},
                                 private_key_path='/etc/wireguard/wg0.key', private_public_key=new_public)
    assert same.set_argv() is None


def test_private_key_change_makes_every_listed_peer_fresh():
    new_public = keys.public_key_from_private(keys.generate_private_key())
    b, c, unlisted = pub(), pub(), pub()
    live = live_state(OWN, [live_peer(b, allowed=['10.99.0.2/32']), live_peer(c, allowed=['10.99.0.3/32']),
                            live_peer(unlisted)])
    peers = desired(spec(b, 'b', allowed=['10.99.0.2/32']), spec(c, 'c', allowed=['10.99.0.3/32']))
    plan = peer_utils.plan_peers('wg0', peers, live, {}, {}, private_key_path='/etc/wireguard/wg0.key',
                                 private_public_key=new_public, resolve=fake_resolve)
    assert plan.updated == [] and plan.fresh == ['b', 'c']
    unchanged = peer_utils.plan_peers('wg0', peers, live, {}, {}, private_key_path='/etc/wireguard/wg0.key',
                                      private_public_key=OWN, resolve=fake_resolve)
    assert unchanged.fresh == []


def test_own_key_as_peer_is_refused():
    with pytest.raises(ValueError, match='public key of interface wg0 itself'):
        peer_utils.plan_peers('wg0', desired(spec(OWN, 'me')), live_state(OWN, []), {}, {})


@pytest.mark.parametrize('peers,fragment', [
    ([spec('short')], 'peers[0].public_key has the wrong length'),
    ([spec(OWN, 'x', allowed=['10.0.0.300'])], "peers[0] (x).allowed_ips entry '10.0.0.300'"),
    ([spec(OWN, 'x', endpoint='1.2.3.4')], 'peers[0] (x).endpoint'),
    ([spec(OWN, 'x', keepalive=70000)], 'persistent_keepalive must be 0 (off) to 65535'),
    ([spec(OWN, 'x'), spec(OWN, 'y')], 'peers[1] (y).public_key is the same as peers[0]'),
])
def test_normalize_peers_errors(peers, fragment):
    with pytest.raises(ValueError) as excinfo:
        peer_utils.normalize_peers(peers)
    assert fragment in str(excinfo.value)


def test_check_interface():
    for good in ('wg0', 'a' * 15, 'wg_mesh=+.-1'):
        wg.check_interface(good)
    for bad in ('', 'a' * 16, '../x', 'wg 0', 'wg0\n', '\nwg0', '.', '..', None):
        with pytest.raises(ValueError, match='not a valid interface name'):
            wg.check_interface(bad)


def test_describe_shows_psk_state_only():
    key = pub()
    psk = keys.generate_psk()
    plan = peer_utils.plan_peers('wg0', desired(spec(key, 'b', '/p/b.psk', allowed=['10.99.0.2/32'])),
                                 live_state(OWN, []), {}, {key: psk}, resolve=fake_resolve)
    text = peer_utils.describe('wg0', plan.after, ['10.99.0.2/32'])
    assert 'peer b (%s)' % key in text and 'preshared_key: set' in text
    assert 'route 10.99.0.2/32 dev wg0' in text
    assert psk not in text


key_strategy = st.binary(min_size=32, max_size=32).map(keys.encode_key)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(key_strategy, st.booleans(), st.booleans(), st.booleans(),
                          st.sampled_from([[], ['10.1.0.0/24'], ['10.99.0.2/32', 'fd00::2/128']]),
                          st.integers(min_value=0, max_value=65535)),
                min_size=1, max_size=6, unique_by=lambda t: t[0]),
       st.booleans())
def test_wg_set_argv_never_contains_a_secret(items, exclusive):
    """Whatever the live and desired states, no PSK or private key reaches the command line."""
    own_private = keys.generate_private_key()
    own_public = keys.public_key_from_private(own_private)
    live_peers, live_psks, want, contents, secrets = [], {}, [], {}, set([own_private])
    for key, same_psk, is_live, is_wanted, allowed, keepalive in items:
        live_psk = keys.generate_psk()
        want_psk = live_psk if same_psk else keys.generate_psk()
        secrets.update([live_psk, want_psk])
        if is_live:
            live_peers.append(live_peer(key, '192.0.2.1:51820', allowed, keepalive, True))
            live_psks[key] = live_psk
        if is_wanted or not is_live:
            want.append(spec(key, None, '/etc/wireguard/psk/%d.psk' % len(want), '198.51.100.1:51820',
                             allowed[::-1], keepalive // 2))
            contents[key] = want_psk
    plan = peer_utils.plan_peers('wg0', peer_utils.normalize_peers(want), live_state(own_public, live_peers),
                                 live_psks, contents, exclusive=exclusive, private_key_path='/etc/wireguard/wg0.key',
                                 private_public_key=keys.public_key_from_private(keys.generate_private_key()))
    argv = plan.set_argv('wg') or []
    text = json.dumps([argv, plan.changes, plan.added, plan.updated, plan.removed, plan.fresh,
                       peer_utils.describe('wg0', plan.before, []), peer_utils.describe('wg0', plan.after, [])])
    for secret in secrets:
        assert secret not in argv
        assert secret not in text
    assert all(isinstance(a, str) for a in argv)
