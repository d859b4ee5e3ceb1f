# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_keypair module: one private key file plus its rotation files.

Files: ``<path>`` (current key), ``<path>.next`` (staged key), ``<path>.prev``
(the key replaced by the last activation, kept until commit or rollback).
Only public keys leave this file. :class:`KeyStep` is the rotation step that wg_peer
runs together with its ``wg set``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils.wg import check_interface
from ansible_collections.wgmesh.wireguard.plugins.module_utils.secretfile import (
    SecretFileError, ensure_directory, read_secret, remove_file, set_secret_mode, write_secret,
)

ROTATIONS = ('none', 'stage', 'activate', 'commit', 'rollback')
NEXT_SUFFIX = '.next'
PREV_SUFFIX = '.prev'

ARGUMENT_SPEC = dict(
    adopt_from=dict(type='str'),
    path=dict(type='path', default='/etc/wireguard/wg0.key'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    rotation=dict(type='str', default='none', choices=list(ROTATIONS)),
)


def load_public_key(path, what='private key file'):
    """Public key of the private key stored in ``path``, or None when absent."""
    content = read_secret(path, what)
    if content is None:
        return None
    try:
        return keys.public_key_from_private(content, what='%s %s' % (what, path))
    except ValueError as exc:
        raise SecretFileError('%s. Fix the file or move it away so a new key is generated; '
                              'wg_keypair never replaces an existing key file on its own' % exc)


def live_private_key(module, interface):
    """The private key a live WireGuard interface uses, or None when there is none (read on the
    node, never returned)."""
    check_interface(interface)
    wg = module.get_bin_path('wg')
    if not wg or not os.path.exists(os.path.join('/sys/class/net', interface)):
        return None
    rc, out, _err = module.run_command([wg, 'show', interface, 'private-key'])
    private, out = out.strip(), None
    try:
        keys.public_key_from_private(private, what='private key of %s' % interface)
    except ValueError:
        private = None
    return private if rc == 0 else None


class KeyPair(object):
    """Current, staged and previous key files of one interface."""

    def __init__(self, module, path):
        self.module = module
        self.path = path
        self.next_path = path + NEXT_SUFFIX
        self.prev_path = path + PREV_SUFFIX
        self.changed = False
        # Public keys as they are (or, in check mode, would be) after the run.
        self.public = {}
        for p in (self.path, self.next_path, self.prev_path):
            self.public[p] = load_public_key(p)
            if self.public[p] is not None:
                self.changed |= set_secret_mode(module, p)
        self.before = self.describe()

    def describe(self):
        lines = []
        for p in (self.path, self.next_path, self.prev_path):
            if p in self.public:
                pub = self.public[p]
                lines.append('%s: %s' % (p, 'absent' if pub is None else 'present, public key %s' % pub))
            else:
                lines.append('%s: present, public key unknown (generated in check mode)' % p)
        return '\n'.join(lines) + '\n'

    def exists(self, p):
        return p not in self.public or self.public[p] is not None

    def ensure(self, p, adopt_from=None):
        """Generate a key in ``p`` when it is absent; with ``adopt_from``, the key that live interface
        uses when it has one."""
        if self.exists(p):
            return
        self.changed = True
        private = live_private_key(self.module, adopt_from) if adopt_from else None
        if self.module.check_mode:
            if private is None:
                del self.public[p]  # unknown until really generated
            else:
                self.public[p] = keys.public_key_from_private(private)
            del private
            return
        private = private or keys.generate_private_key()
        write_secret(self.module, p, private)
        self.public[p] = keys.public_key_from_private(private)
        del private

    def _copy_to_prev(self):
        """``<path>`` -> ``<path>.prev`` keeping ``<path>`` in place (hard link, else copy)."""
        self.changed = True
        if not self.module.check_mode:
            try:
                os.link(self.path, self.prev_path)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                    raise
                write_secret(self.module, self.prev_path, read_secret(self.path, 'private key file'))
        self.public[self.prev_path] = self.public.get(self.path)

    def activate(self):
        if not self.exists(self.next_path):
            return
        if self.exists(self.prev_path):
            raise SecretFileError(
                '%s still exists from an earlier activation: run wg_keypair with rotation=commit (keep the '
                'current key) or rotation=rollback (go back to it) before activating %s'
                % (self.prev_path, self.next_path))
        if self.exists(self.path):
            self._copy_to_prev()
        self._move(self.next_path, self.path)

    def rollback(self):
        if self.exists(self.prev_path):
            self._move(self.prev_path, self.path)

    def _move(self, src, dst):
        """Atomic rename ``src`` over ``dst``."""
        self.changed = True
        known = src in self.public
        pub = self.public.get(src)
        if not self.module.check_mode:
            os.rename(src, dst)
        self.public[src] = None
        if known:
            self.public[dst] = pub
        else:
            self.public.pop(dst, None)

    def remove(self, p):
        if remove_file(self.module, p):
            self.changed = True
        self.public[p] = None

    def result(self):
        out = dict(
            changed=self.changed,
            path=self.path,
            public_key=self.public.get(self.path),
            staged_public_key=self.public.get(self.next_path),
            previous_public_key=self.public.get(self.prev_path),
        )
        if self.module._diff:
            out['diff'] = dict(before=self.before, after=self.describe(),
                               before_header=self.path, after_header=self.path)
        return out


class KeyStep(object):
    """The wg_keypair rotation step (activate/rollback) that goes with one wg_peer call.

    The files are renamed just before ``wg set`` runs and restored when it fails, so the key
    file and the live interface change together.
    """

    def __init__(self, module, path, step):
        self.pair = KeyPair(module, path)
        self.step = step
        self.done = False
        self.had_key = False
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
        self.had_key = self.step == 'activate' and self.done and self.pair.exists(self.pair.prev_path)
        return self.pair.changed

    def undo(self):
        """Put the files back after a failed ``wg set`` (activate only; rollback discards a key)."""
        if self.done and self.step == 'activate':
            os.rename(self.pair.path, self.pair.next_path)
            if self.had_key:
                os.rename(self.pair.prev_path, self.pair.path)


def run_keypair(module):
    """Entry point of the wg_keypair module."""
    params = module.params
    path = params['path']
    try:
        if os.path.isdir(path):
            raise SecretFileError('path %s is a directory: give the path of the key file, e.g. %s'
                                  % (path, os.path.join(path, 'wg0.key')))
        pair = KeyPair(module, path)
        if params['state'] == 'absent':
            for p in (pair.path, pair.next_path, pair.prev_path):
                pair.remove(p)
            return pair.result()
        if ensure_directory(module, os.path.dirname(path) or '.'):
            pair.changed = True
        rotation = params['rotation']
        if rotation == 'activate':
            pair.activate()
        elif rotation == 'rollback':
            pair.rollback()
        elif rotation == 'commit':
            pair.remove(pair.prev_path)
        pair.ensure(pair.path, params['adopt_from'])
        if rotation == 'stage':
            pair.ensure(pair.next_path)
        return pair.result()
    except SecretFileError as exc:
        module.fail_json(msg=str(exc), path=path)
    except ValueError as exc:
        module.fail_json(msg='adopt_from: %s' % exc, path=path)
    except (IOError, OSError) as exc:
        module.fail_json(msg='wg_keypair failed on %s: %s' % (path, exc))
