# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_peer and wg_info against real userspace WireGuard interfaces in network namespaces."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.modules.module_harness import REPO, needs_root_and, run_module

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys

pytestmark = needs_root_and('ip', 'wg', 'wireguard-go')

RELAY = os.path.join(REPO, 'lab', 'wan_relay.py')


def new_pub():
    return keys.public_key_from_private(keys.generate_private_key())


def write(path, text):
    with open(path, 'w') as f:
        f.write(text + '\n')
    os.chmod(path, 0o600)


def test_info_of_missing_and_fresh_interface(wg_node):
    node = wg_node('a')
    missing = node.run('wg_info', dict(interface='nosuch0'))
    assert missing['exists'] is False and missing['changed'] is False
    info = node.run('wg_info', {}, check=True)
    assert info['exists'] is True and info['peers'] == []
    assert info['interface']['public_key'] is None and info['interface']['fwmark'] == 0
    assert info['interface']['listen_port'] > 0


def test_peer_fails_clearly_without_interface(wg_node):
    node = wg_node('a')
    result = node.run('wg_peer', dict(interface='nosuch0', peers=[]))
    assert result.failed and 'does not exist' in result['msg'] and 'wg-quick up nosuch0' in result['msg']


def test_add_update_remove_with_routes_and_idempotence(wg_node, tmp_path):
    node = wg_node('a')
    psk = keys.generate_psk()
    psk_path = str(tmp_path / 'b.psk')
    write(psk_path, psk)
    b, c = new_pub(), new_pub()
    peers = [
        dict(name='b', public_key=b, preshared_key_path=psk_path, endpoint='[::1]:51820',
             allowed_ips=['10.99.0.2/32', '10.20.0.0/24', 'fd99::2'], persistent_keepalive=25),
        dict(name='c', public_key=c, endpoint='127.0.0.1:51999', allowed_ips=['10.99.0.3']),
    ]
    node.sh('ip', 'addr', 'add', '10.99.0.1/24', 'dev', node.iface)

    check = node.run('wg_peer', dict(peers=peers), check=True, diff=True)
    assert check['changed'] is True and check['added'] == ['b', 'c']
    assert check['fresh'] == ['b', 'c']
    assert b not in node.dump() and '10.20.0.0/24' not in node.routes()

    added = node.run('wg_peer', dict(peers=peers), diff=True)
    assert added['changed'] is True and added['added'] == ['b', 'c'] and added['updated'] == []
    assert added['fresh'] == ['b', 'c']
    assert added['routes_added'] == ['10.20.0.0/24', 'fd99::2/128']  # 10.99.0.x is covered by the /24
    dump = node.dump()
    assert b in dump and c in dump and psk in dump
    assert '10.20.0.0/24' in node.routes() and 'fd99::2' in node.routes('-6')
    assert psk not in added.stdout and psk not in added.stderr
    assert 'preshared_key: set' in added['diff']['after']
    assert added['command'].count('set') == 1 and psk not in added['command']

    info = node.run('wg_info', {})
    by_key = dict((p['public_key'], p) for p in info['peers'])
    assert by_key[b]['endpoint'] == '[::1]:51820' and by_key[b]['preshared_key_set'] is True
    assert by_key[b]['persistent_keepalive'] == 25 and by_key[b]['handshake_never'] is True
    assert by_key[b]['latest_handshake_age'] is None
    assert sorted(by_key[b]['allowed_ips']) == ['10.20.0.0/24', '10.99.0.2/32', 'fd99::2/128']
    assert by_key[c]['preshared_key_set'] is False and by_key[c]['allowed_ips'] == ['10.99.0.3/32']
    assert psk not in info.stdout

    assert node.run('wg_peer', dict(peers=peers), check=True)['changed'] is False
    same = node.run('wg_peer', dict(peers=peers))
    assert same['changed'] is False and same['command'] is None
    assert same['fresh'] == []

    # update: new PSK content, new endpoint, keepalive off, allowed IPs moved
    write(psk_path, keys.generate_psk())
    peers[0].update(endpoint='[::1]:51821', persistent_keepalive=0, allowed_ips=['10.99.0.2/32', '10.21.0.0/24'])
    updated = node.run('wg_peer', dict(peers=peers), diff=True)
    assert updated['updated'] == ['b'] and updated['added'] == [] and updated['removed'] == []
    assert updated['fresh'] == ['b']  # new PSK content; c is untouched
    assert updated['routes_added'] == ['10.21.0.0/24']
    assert updated['routes_removed'] == ['10.20.0.0/24', 'fd99::2/128']
    assert '10.20.0.0/24' not in node.routes() and '10.21.0.0/24' in node.routes()
    assert 'fd99::2' not in node.routes('-6')
    assert node.run('wg_peer', dict(peers=peers))['changed'] is False

    # remove: exclusive drops c, without exclusive nothing is removed
    assert node.run('wg_peer', dict(peers=peers[:1]))['changed'] is False
    removed = node.run('wg_peer', dict(peers=peers[:1], exclusive=True), diff=True)
    assert removed['removed'] == [c] and c not in node.dump()
    assert removed['command'][-3:] == ['peer', c, 'remove'] and removed['retire_command'] is None
    assert removed['fresh'] == []
    assert removed['routes_removed'] == []  # 10.99.0.3/32 only had the kernel /24 route
    assert node.run('wg_peer', dict(peers=peers[:1], exclusive=True))['changed'] is False

    # a PSK that is no longer configured is removed
    del peers[0]['preshared_key_path']
    unset = node.run('wg_peer', dict(peers=peers[:1]))
    assert unset['changed'] is True and unset['changes']['b'] == ['preshared key removed']
    assert unset['fresh'] == ['b']
    assert node.run('wg_info', {})['peers'][0]['preshared_key_set'] is False


def test_kept_learned_endpoint_and_missing_psk_file(wg_node, tmp_path):
    node = wg_node('a')
    key = new_pub()
    node.run('wg_peer', dict(peers=[dict(public_key=key, endpoint='127.0.0.1:40000', allowed_ips=[])]))
    kept = node.run('wg_peer', dict(peers=[dict(public_key=key, endpoint='')]))
    assert kept['changed'] is False
    missing = node.run('wg_peer', dict(peers=[dict(public_key=key, preshared_key_path=str(tmp_path / 'no.psk'))]))
    assert missing.failed and 'does not exist' in missing['msg'] and 'wg_psk' in missing['msg']


def test_rotation_moves_allowed_ips_in_one_call_and_private_key(wg_node, tmp_path):
    node = wg_node('a')
    old, new = new_pub(), new_pub()
    node.run('wg_peer', dict(peers=[dict(name='b', public_key=old, allowed_ips=['10.30.0.0/24'])]))
    assert '10.30.0.0/24' in node.routes()
    key_path = str(tmp_path / 'wg0.key')
    private = keys.generate_private_key()
    write(key_path, private)
    result = node.run('wg_peer', dict(peers=[dict(name='b', public_key=new, allowed_ips=['10.30.0.0/24'])],
                                      exclusive=True, private_key_path=key_path))
    assert result['changed'] is True and result['added'] == ['b'] and result['removed'] == [old]
    assert result['routes_added'] == [] and result['routes_removed'] == []
    assert result['command'][3:5] == ['private-key', key_path] and 'remove' not in result['command']
    assert result['retire_command'][3:] == ['peer', old, 'remove']
    assert private not in result.stdout and private not in result['command']
    assert result['fresh'] == ['b']
    info = node.run('wg_info', {})
    assert info['interface']['public_key'] == keys.public_key_from_private(private)
    assert [p['public_key'] for p in info['peers']] == [new]
    assert '10.30.0.0/24' in node.routes()
    assert private not in info.stdout


def test_bad_peer_input_fails_before_touching_interface(wg_node):
    node = wg_node('a')
    result = node.run('wg_peer', dict(peers=[dict(public_key='nope', allowed_ips=['10.0.0.0/33'])]))
    assert result.failed and 'public_key has the wrong length' in result['msg']
    assert node.run('wg_info', {})['peers'] == []


def linked_pair(wg_node, tmp_path, wan_delay=None):
    """Namespaces a and b joined by a veth (10.213.0.1/.2), WireGuard addresses 10.214.0.1/.2, keys
    and one PSK written; each side's peer entry for the other (b's with keepalive 1 s) is applied.

    With ``wan_delay`` (seconds), every WireGuard datagram between the two goes through
    lab/wan_relay.py in b's namespace and waits that long each way (``pair.relay``: stop it)."""
    a, b = wg_node('a'), wg_node('b')
    veth_a, veth_b = 'wgmv%da' % (os.getpid() % 10000), 'wgmv%db' % (os.getpid() % 10000)
    a.sh('ip', 'link', 'add', veth_a, 'type', 'veth', 'peer', 'name', veth_b, 'netns', b.ns)
    a.sh('ip', 'addr', 'add', '10.213.0.1/30', 'dev', veth_a)
    b.sh('ip', 'addr', 'add', '10.213.0.2/30', 'dev', veth_b)
    a.sh('ip', 'link', 'set', veth_a, 'up')
    b.sh('ip', 'link', 'set', veth_b, 'up')
    a.sh('ip', 'addr', 'add', '10.214.0.1/32', 'dev', a.iface)
    b.sh('ip', 'addr', 'add', '10.214.0.2/32', 'dev', b.iface)
    pair = SimpleNamespace(a=a, b=b, key_a=str(tmp_path / 'a.key'), key_b=str(tmp_path / 'b.key'),
                           psk_a=str(tmp_path / 'a.psk'), psk_b=str(tmp_path / 'b.psk'))
    write(pair.key_a, keys.generate_private_key())
    write(pair.key_b, keys.generate_private_key())
    psk = keys.generate_psk()
    write(pair.psk_a, psk)
    write(pair.psk_b, psk)
    pair.port_a = a.run('wg_info', {})['interface']['listen_port']
    pair.port_b = b.run('wg_info', {})['interface']['listen_port']
    pair.pub_a = keys.public_key_from_private(open(pair.key_a).read().strip())
    pair.pub_b = keys.public_key_from_private(open(pair.key_b).read().strip())
    pair.relay, endpoint_a, endpoint_b = None, '10.213.0.1:%d' % pair.port_a, '10.213.0.2:%d' % pair.port_b
    if wan_delay is not None:
        pair.relay = subprocess.Popen(
            ['ip', 'netns', 'exec', b.ns, sys.executable, RELAY, '--delay', str(wan_delay),
             '--listen', '10.213.0.2:41001=%s' % endpoint_a, '--listen', '10.213.0.2:41002=127.0.0.1:%d' % pair.port_b],
            stdout=subprocess.PIPE, universal_newlines=True)
        assert pair.relay.stdout.readline().strip() == 'ready'
        endpoint_a, endpoint_b = '10.213.0.2:41001', '10.213.0.2:41002'
    pair.peer_b = dict(name='b', public_key=pair.pub_b, preshared_key_path=pair.psk_a,
                       endpoint=endpoint_b, allowed_ips=['10.214.0.2/32'], persistent_keepalive=1)
    pair.peer_a = dict(name='a', public_key=pair.pub_a, preshared_key_path=pair.psk_b,
                       endpoint=endpoint_a, allowed_ips=['10.214.0.1/32'])
    pair.applied_a = a.run('wg_peer', dict(private_key_path=pair.key_a, peers=[pair.peer_b]))
    pair.applied_b = b.run('wg_peer', dict(private_key_path=pair.key_b, peers=[pair.peer_a]))
    return pair


def test_real_handshake_between_two_namespaces(wg_node, tmp_path):
    pair = linked_pair(wg_node, tmp_path)
    a, b, ra, rb = pair.a, pair.b, pair.applied_a, pair.applied_b
    key_a, key_b, psk_a, psk_b, pub_a, pub_b = pair.key_a, pair.key_b, pair.psk_a, pair.psk_b, pair.pub_a, pair.pub_b
    info_a = dict(interface=dict(listen_port=pair.port_a))
    info_b = dict(interface=dict(listen_port=pair.port_b))
    assert ra['routes_added'] == ['10.214.0.2/32'] and rb['routes_added'] == ['10.214.0.1/32']
    # A's first initiation may reach B before B knows A (then WireGuard retries after 5 s):
    # ping once a second until the first reply, 15 s at most.
    a.sh('ping', '-c', '1', '-w', '15', '10.214.0.2')
    deadline = time.time() + 10
    while True:
        peer = a.run('wg_info', {})['peers'][0]
        if not peer['handshake_never'] or time.time() > deadline:
            break
        time.sleep(0.5)
    assert peer['handshake_never'] is False and peer['latest_handshake'] > 0
    assert 0 <= peer['latest_handshake_age'] < 60
    assert peer['rx_bytes'] > 0 and peer['tx_bytes'] > 0
    assert peer['endpoint'] == '10.213.0.2:%d' % info_b['interface']['listen_port']
    # B learned A's endpoint; B's config has one, an identical call changes nothing
    assert b.run('wg_peer', dict(private_key_path=key_b, peers=[dict(
        name='a', public_key=pub_a, preshared_key_path=psk_b,
        endpoint='10.213.0.1:%d' % info_a['interface']['listen_port'],
        allowed_ips=['10.214.0.1/32'])]))['changed'] is False
    # wg_info's ping: the peer's tunnel address answers, an address nobody has does not
    pinged = a.run('wg_info', dict(ping=['10.214.0.2', '10.214.0.77'], ping_timeout=2))
    assert pinged['unanswered'] == ['10.214.0.77'] and pinged['changed'] is False
    assert a.run('wg_info', dict(ping=['not-an-address']))['failed'] is True
    # expect/fresh/timeout: B has a handshake; one newer than a future `since` never comes
    good = a.run('wg_info', dict(ping=['10.214.0.2'], expect=[dict(name='b', public_key=pub_b)], timeout=10))
    assert good['problems'] == [] and not good.failed
    ghost = keys.public_key_from_private(keys.generate_private_key())
    started = time.time()
    bad = a.run('wg_info', dict(ping=['10.214.0.2'], ping_timeout=1, timeout=5, since=int(time.time()) + 3600,
                                fresh=['b'], expect=[dict(name='b', public_key=pub_b), dict(name='c', public_key=ghost)]))
    assert bad.failed and 4 <= time.time() - started < 30
    # Ansible takes a true `unreachable` in a result for an unreachable host (then no rescue runs)
    assert 'unreachable' not in bad.json
    assert bad['problems'] == ['b: no handshake since the change at %d' % (int(started) + 3600),
                               'c: not on the interface']
    assert bad['msg'].startswith('%s after 5s: b: no handshake since' % a.iface) and 'UDP %d' % info_a['interface'][
        'listen_port'] in bad['msg']
    once = a.run('wg_info', dict(expect=[dict(name='c', public_key=ghost)]))
    assert not once.failed and once['problems'] == ['c: not on the interface']
    # wg_peer verifies in the same call: nothing to change, B answers and has a handshake
    peer_b = dict(name='b', public_key=pub_b, preshared_key_path=psk_a,
                  endpoint='10.213.0.2:%d' % info_b['interface']['listen_port'], allowed_ips=['10.214.0.2/32'],
                  persistent_keepalive=1)
    calm = a.run('wg_peer', dict(private_key_path=key_a, peers=[peer_b], verify=True, ping=['10.214.0.2']))
    assert not calm.failed and calm['changed'] is False and calm['problems'] == [], calm.json
    # a peer added now that nobody answers for: applied, then the verify fails naming it
    peer_c = dict(name='c', public_key=ghost, endpoint='10.213.0.3:51820', allowed_ips=['10.214.0.3/32'])
    started = time.time()
    added = a.run('wg_peer', dict(private_key_path=key_a, peers=[peer_b, peer_c], verify=True,
                                  ping=['10.214.0.2', '10.214.0.3'], fresh_timeout=4))
    assert added.failed and added['added'] == ['c'] and 3 <= time.time() - started < 30
    assert added['problems'] == ['no answer from 10.214.0.3', 'c: no handshake yet'], added.json
    assert '(the peers were applied)' in added['msg'] and 'unreachable' not in added.json
    assert ghost in [p['public_key'] for p in a.run('wg_info', {})['peers']]
    # the same peer known to be down this run (verify_except): kept, not waited for
    kept = a.run('wg_peer', dict(private_key_path=key_a, peers=[peer_b, peer_c], verify=True, ping=['10.214.0.2'],
                                 verify_except=['c'], fresh_timeout=4))
    assert not kept.failed and kept['problems'] == [] and ghost in a.dump(), kept.json
    check = a.run('wg_peer', dict(private_key_path=key_a, peers=[peer_b], exclusive=True, verify=True,
                                  ping=['10.214.0.77']),
                  check=True)
    assert not check.failed and 'problems' not in check.json and check['removed'] == [ghost]


def run_in_background(node, args):
    """``node.run('wg_peer', args)`` in a thread; join() it, then read ``.result``."""
    thread = threading.Thread(target=lambda: setattr(thread, 'result', node.run('wg_peer', args)))
    thread.start()
    return thread


def pinger(node, address, count):
    """``ping`` at 100 packets/s from the node's namespace until ``count`` replies came."""
    return subprocess.Popen(['ip', 'netns', 'exec', node.ns, 'ping', '-i', '0.01', '-c', str(count), '-w', '60',
                             address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)


def lost(proc):
    """The requests without a reply although a later one was answered (not those still on their way
    when ping stopped), and the largest RTT (ms)."""
    out = proc.communicate(timeout=90)[0]
    replies = dict((int(seq), float(rtt)) for seq, rtt in re.findall(r'icmp_seq=(\d+) ttl=\d+ time=([\d.]+)', out))
    assert replies, out[-500:]
    return sorted(set(range(1, max(replies) + 1)) - set(replies)), max(replies.values())


def stage_key(pair):
    """A new key staged for a (``<key>.next``): ``(site_args, a's entry on b with the new key, new private)``."""
    new_private = keys.generate_private_key()
    write(pair.key_a + '.next', new_private)
    moved = dict(pair.peer_a, public_key=keys.public_key_from_private(new_private))
    return dict(private_key_path=pair.key_a, key_rotation='activate', peers=[pair.peer_b]), moved, new_private


def switch_under_traffic(pair, site_args, moved, count, absent=()):
    """a switches to its staged key, handed off to b, while each pings the other at 100 packets/s;
    asserts that no ping was lost and that none waited for a handshake retry (5 s); returns
    (a's result, b's result, the largest RTT in ms). ``absent``: a's peers known to be down."""
    pings = [pinger(pair.a, '10.214.0.2', count), pinger(pair.b, '10.214.0.1', count)]
    time.sleep(1)
    peer = run_in_background(pair.b, dict(peers=[moved], exclusive=True, start_handshakes=True,
                                          switch_on_signal=dict(token='handoff-one', site='a', name='b', timeout=60)))
    site = pair.a.run('wg_peer', dict(site_args, announce_switch=dict(token='handoff-one', absent=list(absent))))
    peer.join()
    assert not site.failed and not peer.result.failed, (site.json, peer.result.json)
    assert site['handoff']['ready_missing'] == [] and 0 <= site['handoff']['announce_ms'] < 1000
    # The key changed once b's transfer counter showed the switch datagrams sent under the old key.
    assert site['handoff']['unsent'] == [] and 0 <= site['handoff']['sent_ms'] <= site['handoff']['announce_ms']
    assert peer.result['handoff']['signal_at'] >= site['handoff']['announced_at']
    assert peer.result['switched_at'] >= peer.result['handoff']['signal_at'] + 0.2
    results = [lost(proc) for proc in pings]
    assert [missing for missing, _rtt in results] == [[], []], results
    worst = max(rtt for _missing, rtt in results)
    assert worst < 5000, results
    return site, peer.result, worst


def test_key_switch_handed_off_through_the_tunnel_loses_nothing(wg_node, tmp_path):
    pair = linked_pair(wg_node, tmp_path)
    a, b = pair.a, pair.b
    a.sh('ping', '-c', '1', '-w', '15', '10.214.0.2')
    old_private = open(pair.key_a).read().strip()
    site_args, moved, new_private = stage_key(pair)
    new_pub_a = moved['public_key']

    check = a.run('wg_peer', dict(site_args, announce_switch=dict(token='check-only')), check=True)
    assert check['changed'] is True and check['handoff'] is None and check['switched_at'] is None

    # Nobody waits: the site does not switch. No site announces: the peer does not move.
    lonely = a.run('wg_peer', dict(site_args, announce_switch=dict(token='lonely-switch', ready_timeout=1)))
    assert lonely.failed and 'b did not say within 1.0s' in lonely['msg'] and 'nothing was switched' in lonely['msg']
    assert os.path.exists(pair.key_a + '.next') and a.run('wg_info', {})['interface']['public_key'] == pair.pub_a
    alone = b.run('wg_peer', dict(peers=[moved], exclusive=True,
                                  switch_on_signal=dict(token='alone-peer', site='a', name='b', timeout=1)))
    assert alone.failed and alone['msg'].startswith('no switch signal from a within 1.0s: nothing was changed here')
    assert pair.pub_a in b.dump() and new_pub_a not in b.dump()
    bad = b.run('wg_peer', dict(peers=[moved], switch_on_signal=dict(token='x y', site='nobody', name='b')))
    assert bad.failed and 'token must be' in bad['msg']

    # The handoff under traffic, 100 packets/s each way: not one is lost. A third peer, known to be
    # down, is kept but neither waited for nor signalled.
    down = dict(name='c', public_key=new_pub(), endpoint='10.213.0.3:51820', allowed_ips=['10.214.0.3/32'])
    site, peer, dummy = switch_under_traffic(pair, dict(site_args, peers=[pair.peer_b, down]), moved, 800, absent=['c'])
    assert down['public_key'] in a.dump()
    assert peer['removed'] == [pair.pub_a] and peer['handshakes_started'] == ['10.214.0.1']
    assert a.run('wg_info', {})['interface']['public_key'] == new_pub_a
    assert new_pub_a in b.dump() and pair.pub_a not in b.dump()
    assert open(pair.key_a).read().strip() == new_private and open(pair.key_a + '.prev').read().strip() == old_private
    for result in (site, peer):
        assert old_private not in result.stdout and new_private not in result.stdout

    # Back the same way; a peer whose signal does not come moves anyway with on_timeout=switch.
    peer = run_in_background(b, dict(peers=[pair.peer_a], exclusive=True, switch_on_signal=dict(
        token='handoff-back', site='a', name='b', timeout=30, on_timeout='switch')))
    back = a.run('wg_peer', dict(site_args, key_rotation='rollback',
                                 announce_switch=dict(token='handoff-back', require_ready=False)))
    peer.join()
    assert not back.failed and not peer.result.failed and peer.result['handoff']['timed_out'] is False
    assert a.run('wg_info', {})['interface']['public_key'] == pair.pub_a and pair.pub_a in b.dump()
    assert open(pair.key_a).read().strip() == old_private and not os.path.exists(pair.key_a + '.prev')
    forced = b.run('wg_peer', dict(peers=[moved], exclusive=True, switch_on_signal=dict(
        token='never-sent', site='a', name='b', timeout=1, on_timeout='switch')))
    assert not forced.failed and forced['handoff']['timed_out'] is True and new_pub_a in b.dump()
    again = a.run('wg_peer', dict(site_args))
    assert again['changed'] is False  # nothing staged: a re-run is a no-op


def test_key_switch_over_a_slow_wan_on_busy_cpus_loses_nothing(wg_node, tmp_path):
    """40 ms each way through lab/wan_relay.py (RTT 80 ms, like Dublin - New York), every core busy."""
    pair = linked_pair(wg_node, tmp_path, wan_delay=0.04)
    burners = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for dummy in range(os.cpu_count() or 2)]
    try:
        rtt = pair.a.sh('ping', '-c', '3', '-w', '20', '10.214.0.2')
        assert float(re.search(r'= [\d.]+/([\d.]+)/', rtt).group(1)) >= 80, rtt
        site_args, moved, dummy = stage_key(pair)
        dummy, dummy, worst = switch_under_traffic(pair, site_args, moved, 1000)
        assert worst >= 80  # the relay was in the path
        assert pair.a.run('wg_info', {})['interface']['public_key'] == moved['public_key']
    finally:
        for proc in burners + [pair.relay]:
            proc.kill()
            proc.wait()


def test_key_rotation_refuses_bad_input(wg_node, tmp_path):
    node = wg_node('a')
    key_path = str(tmp_path / 'wg0.key')
    write(key_path, keys.generate_private_key())
    for suffix in ('.next', '.prev'):
        write(key_path + suffix, keys.generate_private_key())
    pending = node.run('wg_peer', dict(private_key_path=key_path, key_rotation='activate'))
    assert pending.failed and 'rotation=commit' in pending['msg']
    assert os.path.exists(key_path + '.next')
    no_path = node.run('wg_peer', dict(key_rotation='activate'))
    assert no_path.failed and 'needs private_key_path' in no_path['msg']
    both = node.run('wg_peer', dict(announce_switch=dict(token='abcdefgh'),
                                    switch_on_signal=dict(token='abcdefgh', site='b', name='a')))
    assert both.failed and 'mutually exclusive' in both['msg']


def test_psk_files_restored_from_the_live_interface(wg_node, tmp_path):
    """After a PSK rotation that did not reach the other end: the file goes back to the live PSK."""
    node = wg_node('a')
    live, rotated = keys.generate_psk(), keys.generate_psk()
    directory = tmp_path / 'psk'
    directory.mkdir(mode=0o700)
    write(str(directory / 'b.psk'), live)
    b, c = new_pub(), new_pub()
    node.run('wg_peer', dict(peers=[dict(name='b', public_key=b, preshared_key_path=str(directory / 'b.psk'),
                                         allowed_ips=['10.99.0.2/32']),
                                    dict(name='c', public_key=c, allowed_ips=['10.99.0.3/32'])]))
    write(str(directory / 'b.psk'), rotated)
    args = dict(directory=str(directory), restore_from=node.iface, peers=[dict(name='b', public_key=b)])

    check = run_module('wg_psk', args, check=True, diff=True, netns=node.ns)
    assert check['changed'] is True and (directory / 'b.psk').read_text().strip() == rotated
    restored = run_module('wg_psk', args, diff=True, netns=node.ns)
    assert restored['changed'] is True and restored['peers']['b']['fingerprint'] == keys.psk_fingerprint(live)
    assert (directory / 'b.psk').read_text().strip() == live
    assert run_module('wg_psk', args, netns=node.ns)['changed'] is False
    for result in (check, restored):
        assert live not in result.stdout and rotated not in result.stdout

    no_psk = run_module('wg_psk', dict(args, peers=[dict(name='c', public_key=c)]), netns=node.ns)
    assert no_psk.failed and 'no PSK live for c' in no_psk['msg'] and 'nothing was written' in no_psk['msg']
    assert not (directory / 'c.psk').exists()
    gone = run_module('wg_psk', dict(args, restore_from='wgmnone0'), netns=node.ns)
    assert gone.failed and 'there is no interface wgmnone0' in gone['msg']
    assert (directory / 'b.psk').read_text().strip() == live
