# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key filters for the offline render (playbooks/render.yml) only.

The role never generates keys on the controller: each site makes its own key pair and
only public keys travel. ``wg_genkeys`` exists for the explicit offline mode of
render.yml, where sites are not managed by Ansible; it warns every time it is used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys as _keys

_display = Display()


def wg_pubkey(private_key):
    """Public key (base64) of a base64 private key, like wg pubkey."""
    try:
        return _keys.public_key_from_private(str(private_key).strip())
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError('wg_pubkey: %s' % exc)


def wg_genkeys(names, kind='private'):
    """{name: new key} for every name: private keys (like wg genkey) or preshared keys (like wg genpsk)."""
    if kind not in ('private', 'psk'):
        raise AnsibleFilterError("wg_genkeys: kind must be 'private' or 'psk', got %r" % (kind,))
    if isinstance(names, str) or not hasattr(names, '__iter__'):
        raise AnsibleFilterError('wg_genkeys: expected a list of names, got a %s' % type(names).__name__)
    names = [str(n) for n in names]
    if names:
        _display.warning('wgmesh.wireguard: generated %d %s key(s) on the controller for the offline render (%s); '
                         'they are kept 0600 in the render directory and reused on re-runs. Keys made on the '
                         'controller are only as safe as that directory.'
                         % (len(names), 'private' if kind == 'private' else 'preshared', ', '.join(sorted(names))))
    make = _keys.generate_private_key if kind == 'private' else _keys.generate_psk
    return dict((name, make()) for name in names)


class FilterModule(object):
    """wgmesh.wireguard key filters for the offline render."""

    def filters(self):
        return {'wg_pubkey': wg_pubkey, 'wg_genkeys': wg_genkeys}
