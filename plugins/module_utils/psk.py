# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_psk module: one node's pairwise preshared key files.

One file ``<directory>/<peer name>.psk`` (0600) per peer. Reports a non-secret
fingerprint per peer (:func:`keys.psk_fingerprint`); contents only on request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys, wg
from ansible_collections.wgmesh.wireguard.plugins.module_utils.secretfile import (
    SecretFileError, ensure_directory, read_secret, remove_file, set_secret_mode, write_secret,
)

PSK_SUFFIX = '.psk'
NAME_RE = re.compile(r'[A-Za-z0-9_.-]+')

ARGUMENT_SPEC = dict(
    directory=dict(type='path', default='/etc/wireguard/psk'),
    peers=dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='str', required=True),
        psk=dict(type='str', no_log=True),
        public_key=dict(type='str'),
    )),
    exclusive=dict(type='bool', default=False),
    return_content=dict(type='bool', default=False),
    restore_from=dict(type='str'),
)


def psk_path(directory, name):
    return os.path.join(directory, name + PSK_SUFFIX)


def check_names(peers):
    """Problems with the peer list (names), as messages."""
    problems = []
    seen = set()
    for index, peer in enumerate(peers):
        name = peer['name']
        if not NAME_RE.fullmatch(name or '') or name in ('.', '..'):
            problems.append('peers[%d].name %r may only hold letters, digits, "_", "." and "-" (it names the '
                            'file <name>.psk): use the peer site name' % (index, name))
        elif name in seen:
            problems.append('peers[%d].name %r is listed twice: list each peer once' % (index, name))
        seen.add(name)
    return problems


def _read_psk(path, name):
    """(content or None, fingerprint or None, valid) of one PSK file."""
    content = read_secret(path, 'PSK file of peer %s' % name)
    if content is None:
        return None, None, False
    try:
        return content, keys.psk_fingerprint(content), True
    except ValueError:
        return content, None, False


def _listed_files(directory):
    """Peer names of the ``*.psk`` files present in ``directory``."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    return sorted(e[:-len(PSK_SUFFIX)] for e in entries
                  if e.endswith(PSK_SUFFIX) and not e.startswith('.') and os.path.isfile(os.path.join(directory, e)))


def _describe(state):
    lines = []
    for name in sorted(state):
        lines.append('%s: %s' % (name, state[name] if state[name] else 'absent'))
    return '\n'.join(lines) + ('\n' if lines else '')


def _live_psks(module, interface, peers):
    """Public key -> the PSK ``interface`` uses with it, for the listed peers that give a public key
    (``restore_from``: put back in the files the PSKs still live, after a rotation that did not
    reach the other end). Fails when the interface is missing or holds no PSK for one of them."""
    if not interface:
        return {}
    wanted = dict((p['public_key'], p['name']) for p in peers if p.get('public_key') and p.get('psk') is None)
    try:
        wg.check_interface(interface)
        info, psks = wg.read_dump(module, interface, keep_psks=True)
    except (wg.WgError, ValueError) as exc:
        module.fail_json(msg='restore_from: %s' % exc)
    if info is None:
        module.fail_json(msg='restore_from: there is no interface %s to read the live PSKs from; bring it up '
                             '(systemctl start wg-quick@%s) and run again' % (interface, interface))
    live = dict((key, psks[key]) for key in wanted if psks.get(key))
    psks.clear()
    missing = sorted(wanted[key] for key in wanted if key not in live)
    if missing:
        live.clear()
        module.fail_json(msg='restore_from: %s has no PSK live for %s (no peer with the given public_key, or one '
                             'without a PSK); nothing was written. Check the public keys with "wg show %s"'
                             % (interface, ', '.join(missing), interface))
    return live


def run_psk(module):
    """Entry point of the wg_psk module."""
    params = module.params
    directory = params['directory']
    peers = params['peers'] or []
    problems = check_names(peers)
    if params['return_content'] and not module.no_log:
        problems.append('return_content returns PSKs: set no_log: true on the task, so that Ansible keeps them out '
                        'of its output, logs and callbacks')
    if problems:
        module.fail_json(msg='; '.join(problems))
    result = dict(changed=False, directory=directory, peers={}, removed=[])
    live = _live_psks(module, params['restore_from'], peers)
    contents = {}
    before = {}
    after = {}
    try:
        if ensure_directory(module, directory):
            result['changed'] = True
        for peer in peers:
            name = peer['name']
            path = psk_path(directory, name)
            content, fingerprint, valid = _read_psk(path, name)
            before[name] = fingerprint or ('invalid content' if content is not None else None)
            wanted = peer.get('psk')
            if wanted is None and peer.get('public_key') in live:
                wanted = live.pop(peer['public_key'])
            if wanted is not None:
                try:
                    wanted_fp = keys.psk_fingerprint(wanted, what='peers[name=%s].psk' % name)
                except ValueError as exc:
                    module.fail_json(msg='%s; generate one with "wg genpsk"' % exc)
                if not valid or not keys.keys_equal(content, wanted.strip()):
                    write_secret(module, path, wanted.strip())
                    result['changed'] = True
                    content, fingerprint, valid = wanted.strip(), wanted_fp, True
            if content is not None and set_secret_mode(module, path):
                result['changed'] = True
            after[name] = fingerprint or ('invalid content' if content is not None else None)
            result['peers'][name] = dict(exists=content is not None, fingerprint=fingerprint, valid=valid)
            if params['return_content'] and valid:
                contents[name] = content
        if params['exclusive']:
            listed = set(p['name'] for p in peers)
            for name in _listed_files(directory):
                if name not in listed:
                    before[name] = 'present'
                    after[name] = None
                    if remove_file(module, psk_path(directory, name)):
                        result['removed'].append(name)
                        result['changed'] = True
    except SecretFileError as exc:
        module.fail_json(msg=str(exc), directory=directory)
    finally:
        live.clear()
    if params['return_content']:
        result['contents'] = contents
    if module._diff:
        result['diff'] = dict(before=_describe(before), after=_describe(after),
                              before_header=directory, after_header=directory)
    return result
