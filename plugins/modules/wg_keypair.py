#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wg_keypair
short_description: Ensure a WireGuard private key file on the node and return its public key
version_added: 0.1.0
description:
  - Ensures a WireGuard private key file exists on the managed node (mode C(0600); its parent directory
    is created with mode C(0700) first when missing). A key is generated only when the file is absent.
  - An existing file that cannot be read or does not hold a valid key makes the module fail with a
    message that says what to do; it is never replaced silently.
  - Returns public keys only. The private key never appears on a command line, in the result, in a diff
    or in verbose output. Keys are made with the C(cryptography) X25519 implementation when the node's
    Python has it, else with a built-in RFC 7748 implementation.
  - Supports a rolling rotation flow with O(rotation), so no other key code is needed.
author:
  - wgmesh maintainers (@wgmesh)
options:
  path:
    description:
      - Path of the private key file.
    type: path
    default: /etc/wireguard/wg0.key
  state:
    description:
      - V(present) ensures the key file exists, V(absent) removes it together with its C(.next) and
        C(.prev) rotation files.
    type: str
    choices: [present, absent]
    default: present
  rotation:
    description:
      - Rotation step to perform (with O(state=present)). The current key file is always ensured too.
      - V(none) does no rotation step.
      - V(stage) ensures C(<path>.next) exists (generated when absent) and returns its public key as
        RV(staged_public_key), to be distributed to the peers before activation.
      - V(activate) keeps the current key as C(<path>.prev) and atomically renames C(<path>.next) to
        O(path). No-op when there is no staged key. Fails when C(<path>.prev) still exists from an
        earlier activation that was neither committed nor rolled back.
      - V(commit) removes C(<path>.prev) (the rotation is final).
      - V(rollback) atomically renames C(<path>.prev) back to O(path), discarding the failed current key.
    type: str
    choices: [none, stage, activate, commit, rollback]
    default: none
  adopt_from:
    description:
      - A WireGuard interface. When the key file is absent and this interface runs with a private key, the
        file gets that key instead of a new one, so a mesh built by hand (the key in the interface's config,
        or in a file of another name) keeps its key pair and its tunnels. The key is read on the node and never
        returned.
      - Ignored when the key file exists or the interface does not.
    type: str
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    description: Reports what would change; nothing is written. A key that would be generated has no
      public key yet, so RV(public_key) is V(null) then.
  diff_mode:
    support: full
    description: The diff shows only file presence and public keys.
notes:
  - "Run with C(become: true); the files belong to the user the module runs as."
seealso:
  - module: wgmesh.wireguard.wg_psk
  - module: wgmesh.wireguard.wg_peer
"""

EXAMPLES = r"""
- name: Ensure the interface key
  wgmesh.wireguard.wg_keypair:
    path: /etc/wireguard/wg0.key
  register: wg_key

- name: Show the public key
  ansible.builtin.debug:
    msg: "{{ wg_key.public_key }}"

- name: Rotation, step 1 - stage a new key and learn its public key
  wgmesh.wireguard.wg_keypair:
    path: /etc/wireguard/wg0.key
    rotation: stage
  register: staged

- name: Rotation, step 2 - make the staged key the current one (old one kept as .prev)
  wgmesh.wireguard.wg_keypair:
    path: /etc/wireguard/wg0.key
    rotation: activate

- name: Rotation, step 3 - forget the old key
  wgmesh.wireguard.wg_keypair:
    path: /etc/wireguard/wg0.key
    rotation: commit
"""

RETURN = r"""
path:
  description: Path of the private key file.
  returned: always
  type: str
  sample: /etc/wireguard/wg0.key
public_key:
  description: Public key of the current private key; V(null) when absent or not yet generated in check mode.
  returned: always
  type: str
  sample: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
staged_public_key:
  description: Public key of the staged key C(<path>.next), or V(null) when none is staged.
  returned: always
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
previous_public_key:
  description: Public key of C(<path>.prev) (kept by the last activation), or V(null).
  returned: always
  type: str
  sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.keypair import ARGUMENT_SPEC, run_keypair


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_keypair(module))


if __name__ == '__main__':
    main()
