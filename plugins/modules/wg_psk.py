#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wg_psk
short_description: Manage one node's pairwise WireGuard preshared key files for a list of peers
version_added: 0.1.0
description:
  - Manages the preshared keys (PSKs) of one node for a list of peers in one call, one file
    C(<directory>/<name>.psk) with mode C(0600) per peer. The directory is created with mode C(0700)
    when missing.
  - Reports per peer whether a PSK file exists and a non-secret fingerprint of its content, so the
    controller can tell which pairs agree without reading any secret.
  - Writes given PSK contents, removes the PSK files of peers no longer listed (O(exclusive)) and returns
    the contents only when asked to (O(return_content)).
author:
  - wgmesh maintainers (@wgmesh)
options:
  directory:
    description:
      - Directory holding the PSK files.
    type: path
    default: /etc/wireguard/psk
  peers:
    description:
      - Peers of this node. A peer without O(peers[].psk) is only reported on.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Peer name (the peer site); the file is C(<directory>/<name>.psk).
          - Letters, digits, V(_), V(.) and V(-) only.
        type: str
        required: true
      psk:
        description:
          - PSK content (base64 of 32 bytes, as printed by C(wg genpsk)). The file is written when its
            content differs. Never logged.
        type: str
      public_key:
        description:
          - The peer's public key. With O(restore_from) and without O(peers[].psk), the file gets the PSK that
            interface uses with this public key.
        type: str
  exclusive:
    description:
      - Remove the C(*.psk) files in O(directory) of peers that are not listed in O(peers).
    type: bool
    default: false
  return_content:
    description:
      - "Return the PSK contents of the listed peers in RV(contents). The task must have C(no_log: true): the
        module refuses otherwise."
    type: bool
    default: false
  restore_from:
    description:
      - A live WireGuard interface. Every listed peer with O(peers[].public_key) and without O(peers[].psk) gets
        the PSK that interface uses with that public key written to its file (when it differs), so the files
        match the live PSKs again, for instance after a PSK rotation that did not reach the other end of a pair.
        The PSKs are read on the node and never returned.
      - Fails, writing nothing, when the interface is missing or has no PSK for one of those peers.
    type: str
attributes:
  check_mode:
    support: full
    description: Reports what would change (fingerprints as they would be); nothing is written or removed.
  diff_mode:
    support: full
    description: The diff shows fingerprints per peer, never contents.
notes:
  - The fingerprint is C(sha256:) followed by the first 16 hex digits of SHA-256 over C(wgmesh-psk\\0)
    and the raw PSK bytes; the same PSK gives the same fingerprint on every node.
seealso:
  - module: wgmesh.wireguard.wg_keypair
  - module: wgmesh.wireguard.wg_peer
"""

EXAMPLES = r"""
- name: Report which PSKs exist (fingerprints only)
  wgmesh.wireguard.wg_psk:
    peers:
      - name: site-b
      - name: site-c
  register: psk_report

- name: Write the PSK of one pair and drop PSKs of removed sites
  wgmesh.wireguard.wg_psk:
    peers:
      - name: site-b
        psk: "{{ psk_site_a_site_b }}"
      - name: site-c
    exclusive: true
  no_log: true

- name: Put the PSKs the interface still uses back in the files
  wgmesh.wireguard.wg_psk:
    restore_from: wg0
    peers:
      - name: site-b
        public_key: "{{ site_b_public_key }}"

- name: Read PSKs to copy them to the other side of each pair
  wgmesh.wireguard.wg_psk:
    peers:
      - name: site-b
    return_content: true
  register: psk_contents
  no_log: true
"""

RETURN = r"""
directory:
  description: The PSK directory.
  returned: always
  type: str
  sample: /etc/wireguard/psk
peers:
  description: Per listed peer name, the state after the run.
  returned: always
  type: dict
  sample: {"site-b": {"exists": true, "fingerprint": "sha256:3f2a9c0d11be4e77", "valid": true}}
  contains:
    exists:
      description: Whether the PSK file exists.
      type: bool
      returned: always
    fingerprint:
      description: Non-secret fingerprint of the PSK, or V(null) when absent or invalid.
      type: str
      returned: always
    valid:
      description: Whether the file holds a valid PSK (V(false) when absent).
      type: bool
      returned: always
removed:
  description: Names of peers whose PSK file was removed by O(exclusive).
  returned: always
  type: list
  elements: str
  sample: [site-d]
contents:
  description: PSK contents of the listed peers that have a valid PSK file, by name.
  returned: when O(return_content=true)
  type: dict
  sample: {"site-b": "<base64>"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.psk import ARGUMENT_SPEC, run_psk


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_psk(module))


if __name__ == '__main__':
    main()
