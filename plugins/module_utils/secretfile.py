# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files holding one secret (a key or a PSK): read, write, remove.

Writes go to a temporary file in the destination directory, created 0600, then
``module.atomic_move`` (under umask 077, so even a new file is never readable by
others for a moment), then ``module.set_fs_attributes_if_different``.
All functions honour check mode through the ``module`` they are given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import tempfile

SECRET_MODE = '0600'
DIRECTORY_MODE = '0700'


class SecretFileError(Exception):
    """A secret file cannot be used; the message says what to do."""


def _fs_args(module, path, mode):
    """Mode, and as root also owner and group root: a secret owned by another user is readable by
    that user whatever its mode, so ownership is enforced, never trusted."""
    args = module.load_file_common_arguments({'path': path, 'mode': mode})
    args['path'] = path
    args['mode'] = mode
    if os.geteuid() == 0:
        args['owner'] = args['group'] = 'root'
    return args


def ensure_directory(module, path, mode=DIRECTORY_MODE):
    """Create ``path`` (and missing parents) with ``mode`` if it is absent.

    An existing directory is left as it is (a user may keep keys in a shared
    directory); returns True when something was (or, in check mode, would be) created.
    """
    if os.path.isdir(path):
        return False
    if os.path.lexists(path):
        raise SecretFileError('%s exists but is not a directory: move it away or choose another path' % path)
    if module.check_mode:
        return True
    old_umask = os.umask(0o077)
    try:
        os.makedirs(path, int(mode, 8))
    except OSError as exc:
        raise SecretFileError('cannot create directory %s: %s; create it (mode %s) or choose another path'
                              % (path, exc.strerror, mode))
    finally:
        os.umask(old_umask)
    module.set_fs_attributes_if_different(_fs_args(module, path, mode), False)
    return True


def read_secret(path, what):
    """Text content of ``path`` stripped, or None when it does not exist. A symlink is refused."""
    if os.path.islink(path):
        raise SecretFileError('%s %s is a symlink: keys and PSKs are kept only in regular files (a link may point '
                              'where others can write). Replace the link by a copy of its target (cp '
                              '--remove-destination "$(readlink -f %s)" %s) and run again' % (what, path, path, path))
    try:
        with open(path, 'rb') as handle:
            data = handle.read(4096)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.EISDIR:
            raise SecretFileError('%s %s is a directory, not a file: move it away or choose another path'
                                  % (what, path))
        raise SecretFileError('cannot read %s %s: %s; run as root (become: true) or fix its permissions'
                              % (what, path, exc.strerror))
    try:
        return data.decode('ascii').strip()
    except UnicodeDecodeError:
        raise SecretFileError('%s %s does not hold base64 text: fix or remove the file (this module never '
                              'replaces an existing key file on its own)' % (what, path))


def set_secret_mode(module, path, mode=SECRET_MODE):
    """Make an existing secret file ``mode`` (0600); True when changed."""
    return module.set_fs_attributes_if_different(_fs_args(module, path, mode), False)


def write_secret(module, path, text, mode=SECRET_MODE):
    """Write ``text`` (plus a newline) to ``path`` atomically with ``mode``.

    The caller decides whether a write is needed; in check mode nothing is written.
    """
    if module.check_mode:
        return True
    directory = os.path.dirname(path) or '.'
    if os.path.exists(path):
        # Tighten the old file first: atomic_move copies its mode to the new one.
        set_secret_mode(module, path, mode)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write((text + '\n').encode('ascii'))
            handle.flush()
            os.fsync(handle.fileno())
        old_umask = os.umask(0o077)
        try:
            module.atomic_move(tmp, path)
        finally:
            os.umask(old_umask)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    set_secret_mode(module, path, mode)
    return True


def remove_file(module, path):
    """Remove ``path`` if present; True when it was (or would be) removed."""
    if not os.path.lexists(path):
        return False
    if not module.check_mode:
        try:
            os.unlink(path)
        except OSError as exc:
            raise SecretFileError('cannot remove %s: %s' % (path, exc.strerror))
    return True
