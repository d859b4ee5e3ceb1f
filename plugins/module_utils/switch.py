# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The moment of wg_peer's change: the key step, the one ``wg set``, the routes, and around them the
handoff of a key switch (handoff.py) and the handshakes started right after it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils import handoff, wg

TOKEN_RE = re.compile(r'[A-Za-z0-9_-]{8,64}')
# Seconds between the move of a peer's AllowedIPs to its new key and the removal of the old entry:
# what was routed to the old entry before the move is sent by then, also when the CPU is loaded.
RETIRE_AFTER = 1.0
# At most this long the key waits for the switch datagrams to leave under it.
SENT_WITHIN = 2.0


def start_handshakes(desired):
    """One empty UDP datagram (port 9, discard) to the address of each peer.

    The datagram is routed into the tunnel, so the interface starts a handshake with that peer
    now instead of at its next packet (no route yet: it starts with the first real packet).
    Returns the addresses that were sent to.
    """
    return [peer['address'] for peer in desired if peer.get('address') and handoff.send(peer['address'], b'')]


def _token(options, option):
    if not TOKEN_RE.fullmatch(options['token']):
        raise ValueError('%s.token must be 8 to 64 of A-Z a-z 0-9 _ -' % option)
    return options['token']


def _site_address(desired, site):
    for peer in desired:
        if peer['name'] == site:
            if not peer['address']:
                raise ValueError('switch_on_signal.site %s has no allowed IP to talk to' % site)
            return peer['address']
    raise ValueError('switch_on_signal.site %s is not one of the peers: name the site whose key changes' % site)


def _wait_for_signal(options, interface, desired, changed):
    """As a peer of the site whose key changes: the handoff record once the plan may be applied."""
    token = _token(options, 'switch_on_signal')
    address = _site_address(desired, options['site'])
    record = dict(role='peer', site=options['site'], signal_at=None, timed_out=False)
    tap = handoff.Tap(interface, token)
    try:
        # Also when nothing is to change here (moved already): the site waits for every peer's word.
        record['signal_at'] = handoff.wait_for_switch(tap, address, token, options['name'], options['timeout'])
    finally:
        tap.close()
    if record['signal_at'] is None:
        record['timed_out'] = True
        if changed and options['on_timeout'] == 'fail':
            raise handoff.HandoffError(
                'no switch signal from %s within %ss: nothing was changed here. The site did not switch (its '
                'rotation stopped before), or the tunnel between the two carries nothing' % (options['site'], options['timeout']))
    else:
        time.sleep(options['delay'])
    return record


def _present(desired, announce):
    """The peers that take part in the switch: all but those known to be down."""
    return [peer for peer in desired if peer['name'] not in announce['absent']]


def _wait_for_ready(options, interface, desired):
    """As the site whose key changes: the handoff record once every peer waits (make_switch announces)."""
    token = _token(options, 'announce_switch')
    record = dict(role='site', ready_missing=[], announced_at=None, announce_ms=None, sent_ms=None, unsent=[])
    tap = handoff.Tap(interface, token)
    try:
        record['ready_missing'] = handoff.wait_for_ready(tap, [peer['name'] for peer in _present(desired, options)],
                                                         options['ready_timeout'])
    finally:
        tap.close()
    if record['ready_missing'] and options['require_ready']:
        raise handoff.HandoffError(
            'peer(s) %s did not say within %ss that they wait for the switch: nothing was switched. Each peer '
            'runs wg_peer with switch_on_signal at the same time (Ansible async), and its tunnel to this site '
            'must carry traffic' % (', '.join(record['ready_missing']), options['ready_timeout']))
    return record


def _retire(module, interface, retire_argv):
    """Remove the peers whose AllowedIPs moved, once what was queued in them has been sent."""
    time.sleep(RETIRE_AFTER)
    try:
        wg.run_checked(module, retire_argv, 'wg set %s' % interface)
    except wg.WgError as exc:
        raise wg.WgError('%s. The new peers are in place and carry the traffic; the old entries, left without '
                         'allowed IPs, go at the next run' % exc)


def _announce(module, interface, peers, token, record):
    """Send the switch datagrams, then wait until they have left under the old key.

    wireguard-go reads the tunnel's packets in its own time: on a loaded CPU the key could change
    before it took the datagrams, which would then wait for a new key's session that no peer
    grants without them. Each peer's transfer counter shows when its share is out (at most
    SENT_WITHIN seconds; the names still waiting then go to ``record['unsent']``).
    """
    before = wg.read_transfer(module, interface)
    record['announced_at'] = time.time()
    expected = handoff.announce([peer['address'] for peer in peers], token)
    deadline = record['announced_at'] + SENT_WITHIN
    waiting = list(peers)
    while True:
        sent = wg.read_transfer(module, interface)
        waiting = [peer for peer in waiting if sent.get(peer['public_key'], 0) - before.get(peer['public_key'], 0)
                   < expected[peer['address']]]
        if not waiting or time.time() >= deadline:
            break
        time.sleep(0.002)
    record['sent_ms'] = round((time.time() - record['announced_at']) * 1000, 1)
    record['unsent'] = [peer['name'] for peer in waiting]


def make_switch(module, params, plan, commands, key_step, desired, switched):
    """Apply the plan (``commands``: the ``wg set`` and the retirement after it, each or None); fills
    ``switched`` (switched_at, handoff, handshakes_started); returns key_changed."""
    argv, retire_argv = commands
    interface = params['interface']
    announce = params['announce_switch']
    if params['switch_on_signal']:
        switched['handoff'] = _wait_for_signal(params['switch_on_signal'], interface, desired, plan.changed)
    elif announce:
        switched['handoff'] = _wait_for_ready(announce, interface, desired)
    key_changed = key_step.apply() if key_step is not None else False
    try:
        if announce:
            # The last datagrams under the old key; the key changes right after they left.
            _announce(module, interface, [peer for peer in _present(desired, announce) if peer['address']],
                      announce['token'], switched['handoff'])
        if argv:
            wg.run_checked(module, argv, 'wg set %s' % interface)
    except wg.WgError:
        if key_step is not None:
            key_step.undo()
        raise
    switched['switched_at'] = time.time()
    if announce:
        switched['handoff']['announce_ms'] = round((switched['switched_at'] - switched['handoff']['announced_at']) * 1000, 1)
    if plan.routes_added or plan.routes_removed:
        for command in wg.route_commands(wg.ip_bin(module), interface, plan.routes_added, plan.routes_removed):
            wg.run_checked(module, command, 'route change on %s' % interface)
    if params['start_handshakes'] and plan.changed:
        switched['handshakes_started'] = start_handshakes(desired)
    if retire_argv:
        _retire(module, interface, retire_argv)
    return key_changed
