# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_peer and wg_info modules: reconcile / read a live WireGuard interface.

All peer changes of one call go into ONE ``wg set`` argument list, so moving AllowedIPs
from an old public key to a new one is atomic. PSKs and private keys are passed as file
paths, never as arguments; the live PSKs read from the dump are only compared and dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re
import socket
import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils import wg
from ansible_collections.wgmesh.wireguard.plugins.module_utils.secretfile import SecretFileError, read_secret
from ansible_collections.wgmesh.wireguard.plugins.module_utils.keypair import KeyPair, load_public_key

IFACE_RE = re.compile(r'^[A-Za-z0-9_=+.-]{1,15}$')
NO_PSK = '/dev/null'

INFO_ARGUMENT_SPEC = dict(
    interface=dict(type='str', default='wg0'),
    ping=dict(type='list', elements='str', default=[]),
    ping_timeout=dict(type='int', default=5),
)

# One echo to each address, all at once; prints the addresses that did not answer.
PING_SCRIPT = 'for a in "$@"; do (ping -c 1 -w "$WGMESH_PING_TIMEOUT" -q "$a" >/dev/null 2>&1 || echo "$a") & done; wait'


def ping_addresses(module, addresses, timeout):
    """The addresses that did not answer one ICMP echo within ``timeout`` seconds."""
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError('ping address %r is not an IPv4 or IPv6 address' % (address,))
    if not addresses:
        return []
    rc, out, err = module.run_command(['/bin/sh', '-c', PING_SCRIPT, 'wgmesh-ping'] + list(addresses),
                                      environ_update={'WGMESH_PING_TIMEOUT': str(max(1, timeout))})
    if rc != 0:
        raise wg.WgError('could not run ping: %s' % (err.strip() or out.strip()))
    return sorted(line.strip() for line in out.splitlines() if line.strip())


PEER_ARGUMENT_SPEC = dict(
    interface=dict(type='str', default='wg0'),
    peers=dict(type='list', elements='dict', default=[], options=dict(
        public_key=dict(type='str', required=True, no_log=False),
        name=dict(type='str'),
        preshared_key_path=dict(type='path', no_log=False),
        endpoint=dict(type='str'),
        allowed_ips=dict(type='list', elements='str', default=[]),
        persistent_keepalive=dict(type='int', default=0),
    )),
    exclusive=dict(type='bool', default=False),
    private_key_path=dict(type='path', no_log=False),
    key_rotation=dict(type='str', default='none', choices=['none', 'activate', 'rollback']),
    switch_at=dict(type='float'),
    start_handshakes=dict(type='bool', default=False),
    routes=dict(type='bool', default=True),
)

# A switch time further away than this is a mistake (seconds, vs the node's clock).
MAX_SWITCH_WAIT = 600


def check_interface(name):
    if not IFACE_RE.match(name or ''):
        raise ValueError('interface %r is not a valid interface name (1 to 15 of A-Z a-z 0-9 _ = + . -)' % name)


# ---------------------------------------------------------------------------- desired state

def normalize_peers(peers):
    """Validate and normalise the ``peers`` option; ValueError lists every problem."""
    problems = []
    out = []
    seen = {}
    for index, peer in enumerate(peers):
        label = 'peers[%d]' % index + (' (%s)' % peer['name'] if peer.get('name') else '')
        try:
            keys.validate_key(peer['public_key'], '%s.public_key' % label)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        public_key = peer['public_key'].strip()
        if public_key in seen:
            problems.append('%s.public_key is the same as peers[%d]: list each peer once' % (label, seen[public_key]))
            continue
        seen[public_key] = index
        item = dict(public_key=public_key, name=peer.get('name') or public_key,
                    preshared_key_path=peer.get('preshared_key_path') or None,
                    endpoint=None, allowed_ips=[],
                    persistent_keepalive=peer.get('persistent_keepalive') or 0)
        endpoint = (peer.get('endpoint') or '').strip()
        if endpoint:
            try:
                item['endpoint'] = wg.normalize_endpoint_text(endpoint)
            except ValueError as exc:
                problems.append('%s.%s' % (label, exc))
        try:
            item['allowed_ips'] = wg.sort_cidrs(
                wg.normalize_cidr(a, '%s.allowed_ips entry' % label) for a in (peer.get('allowed_ips') or []))
        except ValueError as exc:
            problems.append(str(exc))
        if not 0 <= item['persistent_keepalive'] <= 65535:
            problems.append('%s.persistent_keepalive must be 0 (off) to 65535 seconds' % label)
        out.append(item)
    if problems:
        raise ValueError('; '.join(problems))
    return out


def load_psks(desired):
    """Read the PSK files named by the desired peers: ``{public_key: content}``."""
    contents = {}
    for peer in desired:
        path = peer['preshared_key_path']
        if not path:
            continue
        what = 'PSK file of peer %s' % peer['name']
        content = read_secret(path, what)
        if content is None:
            raise SecretFileError('%s %s does not exist: write it first (wgmesh.wireguard.wg_psk) or drop '
                                  'preshared_key_path' % (what, path))
        try:
            keys.validate_key(content, '%s %s' % (what, path))
        except ValueError as exc:
            raise SecretFileError('%s; rewrite it with wgmesh.wireguard.wg_psk' % exc)
        contents[peer['public_key']] = content
    return contents


# ---------------------------------------------------------------------------- plan

class Plan(object):
    """What one wg_peer call changes; built without side effects."""

    def __init__(self, interface):
        self.interface = interface
        self.device_args = []
        self.peer_args = []
        self.added = []
        self.updated = []
        self.removed = []
        self.changes = {}
        self.routes_added = []
        self.routes_removed = []
        self.routes_skipped = []
        self.before = {}
        self.after = {}

    @property
    def wg_changed(self):
        return bool(self.device_args or self.peer_args)

    def set_argv(self, wg_bin='wg'):
        """The one ``wg set`` argument list (None when nothing to set). Never holds a secret."""
        if not self.wg_changed:
            return None
        return [wg_bin, 'set', self.interface] + self.device_args + self.peer_args

    @property
    def changed(self):
        return self.wg_changed or bool(self.routes_added or self.routes_removed)


def _view(peer, name, psk_set):
    return dict(name=name, endpoint=peer.get('endpoint'), allowed_ips=list(peer.get('allowed_ips') or []),
                persistent_keepalive=peer.get('persistent_keepalive') or 0, preshared_key=psk_set)


def plan_peers(interface, desired, live, live_psks, psk_contents, exclusive=False,
               private_key_path=None, private_public_key=None, resolve=wg.resolve_endpoint):
    """Compare the desired peers with the live state and return a :class:`Plan`.

    ``live`` is ``parse_dump`` info, ``live_psks`` its PSKs by public key, ``psk_contents`` the desired
    PSK file contents by public key, ``private_public_key`` the public key of ``private_key_path``.
    """
    plan = Plan(interface)
    own_key = live['interface']['public_key']
    if private_key_path and private_public_key and private_public_key != own_key:
        plan.device_args += ['private-key', private_key_path]
        plan.changes['interface'] = ['private key (public key %s -> %s)' % (own_key, private_public_key)]
        own_key = private_public_key
    live_by_key = dict((p['public_key'], p) for p in live['peers'])
    for peer in live['peers']:
        plan.before[peer['public_key']] = _view(peer, peer['public_key'], peer['preshared_key_set'])
    wanted_keys = set()
    for peer in desired:
        key = peer['public_key']
        if key == own_key:
            raise ValueError('peer %s has the public key of interface %s itself: a node is not its own peer; '
                             'check the key files and the peer list' % (peer['name'], interface))
        wanted_keys.add(key)
        if key in plan.before:
            plan.before[key]['name'] = peer['name']
        current = live_by_key.get(key)
        want_psk = psk_contents.get(key)
        args = []
        changes = []
        if current is None:
            if peer['preshared_key_path']:
                args += ['preshared-key', peer['preshared_key_path']]
            if peer['endpoint']:
                resolve(peer['endpoint'])  # fail now on names that do not resolve
                args += ['endpoint', peer['endpoint']]
            if peer['persistent_keepalive']:
                args += ['persistent-keepalive', str(peer['persistent_keepalive'])]
            if peer['allowed_ips']:
                args += ['allowed-ips', ','.join(peer['allowed_ips'])]
            after = _view(peer, peer['name'], bool(want_psk))
            plan.added.append(peer['name'])
            changes.append('added')
        else:
            after = _view(current, peer['name'], current['preshared_key_set'])
            if not keys.keys_equal(live_psks.get(key), want_psk):
                args += ['preshared-key', peer['preshared_key_path'] or NO_PSK]
                after['preshared_key'] = bool(want_psk)
                changes.append('preshared key %s' % ('changed' if want_psk else 'removed'))
            if peer['endpoint'] and current['endpoint'] not in resolve(peer['endpoint']):
                args += ['endpoint', peer['endpoint']]
                after['endpoint'] = peer['endpoint']
                changes.append('endpoint %s -> %s' % (current['endpoint'], peer['endpoint']))
            if peer['persistent_keepalive'] != current['persistent_keepalive']:
                args += ['persistent-keepalive', str(peer['persistent_keepalive'] or 'off')]
                after['persistent_keepalive'] = peer['persistent_keepalive']
                changes.append('persistent keepalive %s -> %s'
                               % (current['persistent_keepalive'], peer['persistent_keepalive']))
            if wg.sort_cidrs(current['allowed_ips']) != peer['allowed_ips']:
                args += ['allowed-ips', ','.join(peer['allowed_ips'])]
                after['allowed_ips'] = list(peer['allowed_ips'])
                changes.append('allowed IPs %s -> %s' % (','.join(current['allowed_ips']) or '(none)',
                                                         ','.join(peer['allowed_ips']) or '(none)'))
            if changes:
                plan.updated.append(peer['name'])
        plan.after[key] = after
        if args or current is None:
            plan.peer_args += ['peer', key] + args
            plan.changes[peer['name']] = changes
    for peer in live['peers']:
        key = peer['public_key']
        if key in wanted_keys:
            continue
        if exclusive:
            plan.peer_args += ['peer', key, 'remove']
            plan.removed.append(key)
            plan.changes[key] = ['removed']
        else:
            plan.after[key] = dict(plan.before[key])
    return plan


def allowed_ip_sets(plan):
    """(AllowedIPs of all peers after the plan, AllowedIPs no peer keeps)."""
    before = set()
    for view in plan.before.values():
        before.update(view['allowed_ips'])
    after = set()
    for view in plan.after.values():
        after.update(view['allowed_ips'])
    return after, before - after


def describe(interface, views, routes):
    """Readable text of peer views (for diffs); no secret, PSK shown as set/unset."""
    lines = []
    for key in sorted(views, key=lambda k: (views[k]['name'], k)):
        view = views[key]
        title = 'peer %s' % key if view['name'] == key else 'peer %s (%s)' % (view['name'], key)
        lines.append(title)
        lines.append('  endpoint: %s' % (view['endpoint'] or '(none)'))
        lines.append('  allowed_ips: %s' % (', '.join(view['allowed_ips']) or '(none)'))
        lines.append('  persistent_keepalive: %s' % (view['persistent_keepalive'] or 'off'))
        lines.append('  preshared_key: %s' % ('set' if view['preshared_key'] else 'unset'))
    for cidr in routes:
        lines.append('route %s dev %s' % (cidr, interface))
    return '\n'.join(lines) + ('\n' if lines else '')


# ---------------------------------------------------------------------------- modules

class KeyStep(object):
    """The wg_keypair rotation step (activate/rollback) that goes with one wg_peer call.

    The files are renamed just before ``wg set`` runs and restored when it fails, so the key
    file and the live interface change together.
    """

    def __init__(self, module, path, step):
        self.pair = KeyPair(module, path)
        self.step = step
        self.done = False
        if step == 'activate' and self.pair.exists(self.pair.next_path) and self.pair.exists(self.pair.prev_path):
            raise SecretFileError(
                '%s still exists from an earlier activation: run wg_keypair with rotation=commit (keep the current '
                'key) or rotation=rollback (go back to it) before activating %s'
                % (self.pair.prev_path, self.pair.next_path))

    def public_key_after(self):
        """Public key that ``path`` holds after the step (None when it has no key at all)."""
        pair = self.pair
        if self.step == 'activate' and pair.exists(pair.next_path):
            return pair.public[pair.next_path]
        if self.step == 'rollback' and pair.exists(pair.prev_path):
            return pair.public[pair.prev_path]
        return pair.public[pair.path]

    def apply(self):
        before = self.pair.changed
        if self.step == 'activate':
            self.pair.activate()
        elif self.step == 'rollback':
            self.pair.rollback()
        self.done = self.pair.changed and not before
        return self.pair.changed

    def undo(self):
        """Put the files back after a failed ``wg set`` (activate only; rollback discards a key)."""
        if self.done and self.step == 'activate':
            os.rename(self.pair.path, self.pair.next_path)
            os.rename(self.pair.prev_path, self.pair.path)


def start_handshakes(desired):
    """One empty UDP datagram (port 9, discard) to the first allowed IP of each peer.

    The datagram is routed into the tunnel, so the interface starts a handshake with that peer
    now instead of at its next packet. Returns the addresses that were sent to.
    """
    sent = []
    for peer in desired:
        if not peer['allowed_ips']:
            continue
        address = peer['allowed_ips'][0].split('/')[0]
        family = socket.AF_INET6 if ':' in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.sendto(b'', (address, 9))
            sent.append(address)
        except (IOError, OSError):
            pass  # no route yet: the handshake then starts with the first real packet
        finally:
            sock.close()
    return sent


def wait_until(switch_at, now=time.time, sleep=time.sleep):
    """Wait until ``switch_at`` (epoch seconds); returns how late (s, >= 0) the switch starts.

    Sleeps (never spins: on a busy node the WireGuard process needs the CPU at that moment).
    """
    if switch_at is None:
        return 0.0
    delay = switch_at - now()
    if delay > MAX_SWITCH_WAIT:
        raise ValueError('switch_at is %.0f s in the future (more than %d s): check the clocks of the '
                         'controller and the node' % (delay, MAX_SWITCH_WAIT))
    while delay > 0:
        sleep(min(delay, 1.0))
        delay = switch_at - now()
    return -delay


def run_peer(module):
    """Entry point of the wg_peer module."""
    params = module.params
    interface = params['interface']
    key_step = None
    switched_at = None
    late = None
    key_changed = False
    handshakes = []
    try:
        check_interface(interface)
        desired = normalize_peers(params['peers'] or [])
        private_public_key = None
        if params['key_rotation'] != 'none':
            if not params['private_key_path']:
                raise ValueError('key_rotation=%s needs private_key_path (the key file that wg_keypair manages)'
                                 % params['key_rotation'])
            key_step = KeyStep(module, params['private_key_path'], params['key_rotation'])
            private_public_key = key_step.public_key_after()
            if private_public_key is None:
                raise SecretFileError('private_key_path %s does not exist: create it with '
                                      'wgmesh.wireguard.wg_keypair first' % params['private_key_path'])
        elif params['private_key_path']:
            private_public_key = load_public_key(params['private_key_path'])
            if private_public_key is None:
                raise SecretFileError('private_key_path %s does not exist: create it with '
                                      'wgmesh.wireguard.wg_keypair first' % params['private_key_path'])
        psk_contents = load_psks(desired)
        live, live_psks = wg.read_dump(module, interface, keep_psks=True)
        if live is None:
            raise wg.WgError('interface %s does not exist: bring it up first (wg-quick up %s or '
                             'systemctl start wg-quick@%s)' % (interface, interface, interface))
        plan = plan_peers(interface, desired, live, live_psks, psk_contents, exclusive=params['exclusive'],
                          private_key_path=params['private_key_path'], private_public_key=private_public_key)
        del live_psks, psk_contents
        if params['routes']:
            routes = wg.read_routes(module, interface)
            wanted, gone = allowed_ip_sets(plan)
            plan.routes_added, plan.routes_removed, plan.routes_skipped = wg.plan_routes(routes, wanted, gone)
            if plan.routes_skipped:
                module.warn('wg_peer does not add default routes (%s) on %s; use wg-quick for a default route'
                            % (', '.join(plan.routes_skipped), interface))
        wg_bin = wg.wg_bin(module)
        argv = plan.set_argv(wg_bin)
        if not module.check_mode:
            # Everything is read and planned: only the switch itself happens at switch_at.
            late = wait_until(params['switch_at'])
            switched_at = time.time()
            if key_step is not None:
                key_changed = key_step.apply()
            if argv:
                try:
                    wg.run_checked(module, argv, 'wg set %s' % interface)
                except wg.WgError:
                    if key_step is not None:
                        key_step.undo()
                    raise
            if plan.routes_added or plan.routes_removed:
                for command in wg.route_commands(wg.ip_bin(module), interface, plan.routes_added,
                                                 plan.routes_removed):
                    wg.run_checked(module, command, 'route change on %s' % interface)
            if params['start_handshakes'] and plan.changed:
                handshakes = start_handshakes(desired)
        elif key_step is not None:
            key_changed = key_step.public_key_after() != key_step.pair.public[key_step.pair.path]
    except (ValueError, SecretFileError, wg.WgError) as exc:
        module.fail_json(msg=str(exc), interface=interface)
    result = dict(changed=plan.changed or key_changed, interface=interface, added=plan.added, updated=plan.updated,
                  removed=plan.removed, changes=plan.changes, routes_added=plan.routes_added,
                  routes_removed=plan.routes_removed, command=argv, switched_at=switched_at,
                  switch_late=late, handshakes_started=handshakes)
    if module._diff:
        result['diff'] = dict(before=describe(interface, plan.before, plan.routes_removed),
                              after=describe(interface, plan.after, plan.routes_added),
                              before_header=interface, after_header=interface)
    return result


def run_info(module):
    """Entry point of the wg_info module."""
    interface = module.params['interface']
    try:
        check_interface(interface)
        unreachable = ping_addresses(module, module.params['ping'], module.params['ping_timeout'])
        info, _psks = wg.read_dump(module, interface)
    except (ValueError, wg.WgError) as exc:
        module.fail_json(msg=str(exc), interface=interface)
    if info is None:
        return dict(changed=False, exists=False, interface=None, peers=[], unreachable=unreachable)
    return dict(changed=False, exists=True, interface=info['interface'], peers=info['peers'],
                unreachable=unreachable)
