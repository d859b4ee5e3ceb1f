# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_peer module: reconcile the peers of a live WireGuard interface.

All peer changes of one call go into ONE ``wg set`` argument list, so moving AllowedIPs
from an old public key to a new one is atomic. PSKs and private keys are passed as file
paths, never as arguments; the live PSKs read from the dump are only compared and dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils import info, keys, wg
from ansible_collections.wgmesh.wireguard.plugins.module_utils.handshake import HealthError
from ansible_collections.wgmesh.wireguard.plugins.module_utils.keypair import KeyStep, load_public_key
from ansible_collections.wgmesh.wireguard.plugins.module_utils.secretfile import SecretFileError, read_secret
from ansible_collections.wgmesh.wireguard.plugins.module_utils.handoff import HandoffError
from ansible_collections.wgmesh.wireguard.plugins.module_utils.switch import make_switch

NO_PSK = '/dev/null'

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
    announce_switch=dict(type='dict', options=dict(
        token=dict(type='str', required=True, no_log=False),
        ready_timeout=dict(type='float', default=30),
        require_ready=dict(type='bool', default=True),
        absent=dict(type='list', elements='str', default=[]),
    )),
    switch_on_signal=dict(type='dict', options=dict(
        token=dict(type='str', required=True, no_log=False),
        site=dict(type='str', required=True),
        name=dict(type='str', required=True),
        timeout=dict(type='float', default=120),
        delay=dict(type='float', default=0.2),
        on_timeout=dict(type='str', default='fail', choices=['fail', 'switch']),
    )),
    start_handshakes=dict(type='bool', default=False),
    routes=dict(type='bool', default=True),
    verify=dict(type='bool', default=False),
    ping=dict(type='list', elements='str', default=[]),
    verify_except=dict(type='list', elements='str', default=[]),
    since=dict(type='int', default=0),
    fresh=dict(type='list', elements='str', default=[]),
    verify_timeout=dict(type='int', default=30),
    fresh_timeout=dict(type='int', default=150),
)


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
                    endpoint=None, allowed_ips=[], address=None,
                    persistent_keepalive=peer.get('persistent_keepalive') or 0)
        endpoint = (peer.get('endpoint') or '').strip()
        if endpoint:
            try:
                item['endpoint'] = wg.normalize_endpoint_text(endpoint)
            except ValueError as exc:
                problems.append('%s.%s' % (label, exc))
        try:
            given = [wg.normalize_cidr(a, '%s.allowed_ips entry' % label) for a in (peer.get('allowed_ips') or [])]
            item['allowed_ips'] = wg.sort_cidrs(given)
            # The first allowed IP as given: the peer's own (tunnel) address, which the handoff talks to.
            item['address'] = given[0].split('/')[0] if given else None
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
        # Removals of live peers whose AllowedIPs a listed peer takes over: run after the others.
        self.retire_args = []
        self.added = []
        self.updated = []
        self.removed = []
        # Peers whose next handshake must be newer than this call to prove the pair works.
        self.fresh = []
        self.changes = {}
        self.routes_added = []
        self.routes_removed = []
        self.routes_skipped = []
        self.before = {}
        self.after = {}

    @property
    def wg_changed(self):
        return bool(self.device_args or self.peer_args or self.retire_args)

    def set_argv(self, wg_bin='wg'):
        """The ``wg set`` argument list of every change but the retirements (None when nothing to
        set). Never holds a secret."""
        if not (self.device_args or self.peer_args):
            return None
        return [wg_bin, 'set', self.interface] + self.device_args + self.peer_args

    def retire_argv(self, wg_bin='wg'):
        """The ``wg set`` that removes the peers whose AllowedIPs moved to a listed peer (None if none)."""
        if not self.retire_args:
            return None
        return [wg_bin, 'set', self.interface] + self.retire_args

    @property
    def changed(self):
        return self.wg_changed or bool(self.routes_added or self.routes_removed)


def _view(peer, name, psk_set):
    return dict(name=name, endpoint=peer.get('endpoint'), allowed_ips=list(peer.get('allowed_ips') or []),
                persistent_keepalive=peer.get('persistent_keepalive') or 0, preshared_key=psk_set)


def _new_peer_args(peer, resolve):
    """``wg set`` arguments of a peer the interface does not have yet."""
    args = []
    if peer['preshared_key_path']:
        args += ['preshared-key', peer['preshared_key_path']]
    if peer['endpoint']:
        resolve(peer['endpoint'])  # fail now on names that do not resolve
        args += ['endpoint', peer['endpoint']]
    if peer['persistent_keepalive']:
        args += ['persistent-keepalive', str(peer['persistent_keepalive'])]
    if peer['allowed_ips']:
        args += ['allowed-ips', ','.join(peer['allowed_ips'])]
    return args


# WireGuard's REJECT_AFTER_TIME: a session this young is still in use.
SESSION_LIFETIME = 180


def _roamed(current):
    """Whether the live endpoint was learned from the peer's authenticated packets and works now
    (a handshake within a session's lifetime): behind NAT or a relay the peer is reached there,
    and setting the configured endpoint again would only break the path until it roams back."""
    age = current.get('latest_handshake_age')
    return bool(current['endpoint']) and age is not None and age < SESSION_LIFETIME


def _update_args(peer, current, after, psk_differs, want_psk, resolve):
    """``(args, changes)`` turning the live peer ``current`` into ``peer``; updates the view ``after``."""
    args = []
    changes = []
    if psk_differs:
        args += ['preshared-key', peer['preshared_key_path'] or NO_PSK]
        after['preshared_key'] = bool(want_psk)
        changes.append('preshared key %s' % ('changed' if want_psk else 'removed'))
    if peer['endpoint'] and not _roamed(current) and current['endpoint'] not in resolve(peer['endpoint']):
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
    return args, changes


def _replaced_endpoint(peer, live, desired_keys):
    """For a new peer without an endpoint of its own (a site behind NAT): the endpoint learned by
    the live peer whose AllowedIPs it takes over, the same site under its old key (a key rotation).
    Its packets come from that NAT mapping, and until its new key's first handshake it could not
    be reached at all."""
    wanted = set(peer['allowed_ips'])
    for current in live['peers']:
        if (current['public_key'] not in desired_keys and current['endpoint']
                and wanted.intersection(current['allowed_ips'])):
            return current['endpoint']
    return None


def _plan_unlisted(plan, live, desired, exclusive):
    """Live peers that are not listed: removed with ``exclusive``, else kept as they are.

    A peer whose AllowedIPs a listed peer takes over (the same site under a new key) is retired:
    removed by a second ``wg set``. Removing a peer drops the packets still queued in it, and
    under load those are the last few routed to it before its AllowedIPs moved."""
    wanted_keys = set(peer['public_key'] for peer in desired)
    wanted_ips = set(cidr for peer in desired for cidr in peer['allowed_ips'])
    for peer in live['peers']:
        key = peer['public_key']
        if key in wanted_keys:
            continue
        if exclusive:
            if wanted_ips.intersection(peer['allowed_ips']):
                plan.retire_args += ['peer', key, 'remove']
            else:
                plan.peer_args += ['peer', key, 'remove']
            plan.removed.append(key)
            plan.changes[key] = ['removed']
        else:
            plan.after[key] = dict(plan.before[key])


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
    desired_keys = set(peer['public_key'] for peer in desired)
    for peer in live['peers']:
        plan.before[peer['public_key']] = _view(peer, peer['public_key'], peer['preshared_key_set'])
    for peer in desired:
        key, name = peer['public_key'], peer['name']
        if key == own_key:
            raise ValueError('peer %s has the public key of interface %s itself: a node is not its own peer; '
                             'check the key files and the peer list' % (name, interface))
        if key in plan.before:
            plan.before[key]['name'] = name
        current = live_by_key.get(key)
        want_psk = psk_contents.get(key)
        if current is None:
            args, changes = _new_peer_args(peer, resolve), ['added']
            plan.after[key] = _view(peer, name, bool(want_psk))
            learned = None if peer['endpoint'] else _replaced_endpoint(peer, live, desired_keys)
            if learned:
                args += ['endpoint', learned]
                plan.after[key]['endpoint'] = learned
                changes.append('endpoint %s (learned under the key it replaces)' % learned)
            plan.added.append(name)
            plan.fresh.append(name)
        else:
            plan.after[key] = _view(current, name, current['preshared_key_set'])
            psk_differs = not keys.keys_equal(live_psks.get(key), want_psk)
            args, changes = _update_args(peer, current, plan.after[key], psk_differs, want_psk, resolve)
            if changes:
                plan.updated.append(name)
            if psk_differs:
                # The running session outlives a PSK change: only a new handshake shows both ends agree.
                plan.fresh.append(name)
        if args or current is None:
            plan.peer_args += ['peer', key] + args
            plan.changes[name] = changes
    _plan_unlisted(plan, live, desired, exclusive)
    if plan.device_args:
        # A new private key ends every session: each listed peer must handshake again.
        plan.fresh = [peer['name'] for peer in desired]
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

def _private_key(module, params):
    """``(key step or None, public key the interface must use or None)``."""
    path = params['private_key_path']
    if params['key_rotation'] != 'none':
        if not path:
            raise ValueError('key_rotation=%s needs private_key_path (the key file that wg_keypair manages)'
                             % params['key_rotation'])
        key_step = KeyStep(module, path, params['key_rotation'])
        public_key = key_step.public_key_after()
    elif path:
        key_step, public_key = None, load_public_key(path)
    else:
        return None, None
    if public_key is None:
        raise SecretFileError('private_key_path %s does not exist: create it with '
                              'wgmesh.wireguard.wg_keypair first' % path)
    return key_step, public_key


def _plan(module, params, desired, private_public_key):
    """Read the live state and the PSK files and plan the peers and routes."""
    interface = params['interface']
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
    return plan


def run_peer(module):
    """Entry point of the wg_peer module."""
    params = module.params
    interface = params['interface']
    started = time.time()
    switched = dict(switched_at=None, handoff=None, handshakes_started=[])
    key_changed = False
    try:
        wg.check_interface(interface)
        desired = normalize_peers(params['peers'] or [])
        key_step, private_public_key = _private_key(module, params)
        plan = _plan(module, params, desired, private_public_key)
        argv = plan.set_argv(wg.wg_bin(module))
        retire_argv = plan.retire_argv(wg.wg_bin(module))
        if not module.check_mode:
            key_changed = make_switch(module, params, plan, (argv, retire_argv), key_step, desired, switched)
        elif key_step is not None:
            key_changed = key_step.public_key_after() != key_step.pair.public[key_step.pair.path]
    except (ValueError, SecretFileError, wg.WgError, HandoffError) as exc:
        module.fail_json(msg=str(exc), interface=interface, **switched)
    result = dict(changed=plan.changed or key_changed, interface=interface, added=plan.added, updated=plan.updated,
                  removed=plan.removed, changes=plan.changes, routes_added=plan.routes_added,
                  routes_removed=plan.routes_removed, command=argv, retire_command=retire_argv, fresh=plan.fresh,
                  **switched)
    if module._diff:
        result['diff'] = dict(before=describe(interface, plan.before, plan.routes_removed),
                              after=describe(interface, plan.after, plan.routes_added),
                              before_header=interface, after_header=interface)
    if params['verify'] and not module.check_mode:
        _verify(module, params, desired, plan, started, result)
    return result


def _verify(module, params, desired, plan, started, result):
    """After the change: every peer answers and has a handshake; the peers this call added or gave a
    new PSK (and those named in ``fresh``) need one newer than ``since`` (default: this call's start)."""
    fresh = sorted(set(plan.fresh) | set(params['fresh']))
    timeout = params['fresh_timeout'] if fresh else params['verify_timeout']
    expect = [dict(name=peer.get('name') or peer['public_key'], public_key=peer['public_key']) for peer in desired
              if peer.get('name') not in params['verify_except']]
    try:
        checked = info.watch(module, params['interface'], params['ping'], 5, expect, params['since'] or int(started),
                             fresh, timeout)
    except (ValueError, HealthError, wg.WgError) as exc:
        module.fail_json(msg='%s; the peers were applied' % exc, **result)
    result.update(problems=checked['problems'], unanswered=checked['unanswered'])
    if checked['problems']:
        module.fail_json(msg='%s (the peers were applied)' % info.failure(params['interface'], timeout, checked),
                         **result)
