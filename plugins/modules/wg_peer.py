#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wg_peer
short_description: Reconcile the peers of a live WireGuard interface in one call
version_added: 0.1.0
description:
  - Reconciles the peers of a running WireGuard interface with a list of peers (public key, PSK file,
    endpoint, allowed IPs, persistent keepalive) without restarting the interface.
  - All changes of one call go into a single C(wg set) invocation, so moving allowed IPs from an old
    public key to a new one is atomic (used by zero-loss key rotation).
  - Also reconciles the kernel routes of the allowed IPs, like C(wg-quick) does (C(wg set) alone
    leaves routes stale).
  - Arguments to C(wg) are passed as a list; PSKs and the private key go through files, never on a
    command line. The result and the diff never hold a secret.
author:
  - wgmesh maintainers (@wgmesh)
options:
  interface:
    description:
      - Name of the live WireGuard interface. The module fails when it does not exist.
    type: str
    default: wg0
  peers:
    description:
      - The peers the interface must have.
    type: list
    elements: dict
    default: []
    suboptions:
      public_key:
        description:
          - Public key of the peer (base64).
        type: str
        required: true
      name:
        description:
          - Label of the peer in the result and the diff (the peer site name). Defaults to the public key.
        type: str
      preshared_key_path:
        description:
          - File on the node holding the PSK of this pair (see M(wgmesh.wireguard.wg_psk)). Its content is
            compared with the live PSK and set (by path) only when different.
          - When omitted, the peer must have no PSK; a live PSK is removed.
        type: path
      endpoint:
        description:
          - V(host:port) or V([IPv6]:port). Set when the peer is new or when the live endpoint is not one of
            the addresses this endpoint resolves to.
          - Empty or omitted keeps the endpoint the interface learned (peer behind NAT).
        type: str
      allowed_ips:
        description:
          - Allowed IPs (CIDRs; a bare address means a host route). Compared as a set.
        type: list
        elements: str
        default: []
      persistent_keepalive:
        description:
          - Persistent keepalive interval in seconds, V(0) for off.
        type: int
        default: 0
  exclusive:
    description:
      - Remove live peers that are not listed in O(peers).
    type: bool
    default: false
  private_key_path:
    description:
      - When set, the interface is made to use the private key in this file if its public key differs from
        the live one (key rotation). Set in the same C(wg set) call as the peer changes.
    type: path
  key_rotation:
    description:
      - A M(wgmesh.wireguard.wg_keypair) rotation step done on the key file O(private_key_path) in the same
        call, right before the C(wg set) that makes the interface use it, so the file and the live key change
        together (a restart at any moment loads the key the interface uses).
      - V(activate) makes the staged C(<path>.next) the current key and keeps the old one as C(<path>.prev);
        when C(wg set) then fails, the files are put back. Nothing to activate is a no-op (re-runs are safe).
      - V(rollback) renames C(<path>.prev) back to O(private_key_path), discarding the key it replaces.
      - Finish an activation with M(wgmesh.wireguard.wg_keypair) C(rotation=commit) once the peers handshake.
    type: str
    choices: [none, activate, rollback]
    default: none
  switch_at:
    description:
      - Epoch time (seconds, may have a fraction) at which to make the change. The module reads and plans
        first, sleeps until then and then runs the key step, the one C(wg set) and the route changes.
      - Lets several nodes switch at the same moment (rolling key rotation across sites, started in parallel
        by one task); it relies on synchronised clocks (NTP). A time in the past switches at once (see
        RV(switch_late)); one more than 600 seconds ahead is refused.
    type: float
  start_handshakes:
    description:
      - When the call changed something, send one empty UDP datagram (port 9, discard) through the
        tunnel to the first allowed IP of each listed peer right after the change, so the interface starts
        a handshake with every peer at once rather than at its next packet.
      - After a key switch, a peer whose first handshake reached this node too early (before the switch)
        otherwise waits for its retry, up to 5 seconds, when this node has nothing to send to it.
    type: bool
    default: false
  routes:
    description:
      - Reconcile kernel routes for the allowed IPs, using C(wg-quick)'s rule. For every allowed IP of the
        peers, a route C(CIDR dev INTERFACE) is added unless C(ip route show dev INTERFACE match CIDR)
        already shows one. For every allowed IP no peer keeps, the route C(CIDR dev INTERFACE) is deleted
        if it exists and is not C(proto kernel). Default routes (C(/0)) are never touched.
    type: bool
    default: true
  verify:
    description:
      - After the change, ping O(ping) and wait until every listed peer has a handshake. The peers this call
        added or gave a new PSK (all of them after a key change), and those named in O(fresh), need one at or
        after O(since). The module fails naming what is missing, with the peers applied.
      - One call instead of M(wgmesh.wireguard.wg_peer) and then M(wgmesh.wireguard.wg_info). Skipped in
        check mode.
    type: bool
    default: false
    version_added: 0.2.0
  ping:
    description: With O(verify), the addresses (the peers' tunnel addresses) to ping at each attempt.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  since:
    description: With O(verify), epoch seconds a fresh handshake must be newer than. V(0) is the start of this call.
    type: int
    default: 0
    version_added: 0.2.0
  fresh:
    description:
      - With O(verify), names of peers that need a fresh handshake besides those this call changed, for
        instance every peer after the interface was started or restarted.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  verify_timeout:
    description: With O(verify), seconds to wait when no peer needs a fresh handshake.
    type: int
    default: 30
    version_added: 0.2.0
  fresh_timeout:
    description:
      - With O(verify), seconds to wait when some peer needs a fresh handshake. A session rekeys 120 s after
        it began, so a peer whose handshake is older may need that long.
    type: int
    default: 150
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    description: Reports the changes (and the C(wg set) command) that would be made; nothing is changed.
  diff_mode:
    support: full
    description: Before/after text of the peers and routes; PSKs are shown only as set or unset.
notes:
  - "Needs C(wg) (wireguard-tools) and C(ip) (iproute2) on the node and root (C(become: true))."
  - Routes are read from and written to the main routing table.
seealso:
  - module: wgmesh.wireguard.wg_info
  - module: wgmesh.wireguard.wg_psk
  - module: wgmesh.wireguard.wg_keypair
"""

EXAMPLES = r"""
- name: Reconcile the mesh peers of wg0 (one wg set call)
  wgmesh.wireguard.wg_peer:
    interface: wg0
    exclusive: true
    peers:
      - name: site-b
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        preshared_key_path: /etc/wireguard/psk/site-b.psk
        endpoint: 198.51.100.20:51820
        allowed_ips: [10.99.0.2/32, 192.168.20.0/24]
        persistent_keepalive: 25
      - name: site-c
        public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
        preshared_key_path: /etc/wireguard/psk/site-c.psk
        endpoint: ""
        allowed_ips: [10.99.0.3/32]

- name: Activate a rotated private key on the live interface
  wgmesh.wireguard.wg_peer:
    interface: wg0
    private_key_path: /etc/wireguard/wg0.key
    peers: "{{ mesh_peers }}"

- name: Switch to the staged key (wg0.key.next) at an agreed moment, file and live key together
  wgmesh.wireguard.wg_peer:
    interface: wg0
    private_key_path: /etc/wireguard/wg0.key
    key_rotation: activate
    switch_at: "{{ switch_time }}"
    peers: "{{ mesh_peers }}"
"""

RETURN = r"""
problems:
  description: With O(verify), what is missing - addresses that did not answer, peers without a (fresh enough)
    handshake. Empty when all is well.
  returned: when O(verify) ran
  type: list
  elements: str
unanswered:
  description: With O(verify), the O(ping) addresses that did not answer.
  returned: when O(verify) ran
  type: list
  elements: str
interface:
  description: The interface name.
  returned: always
  type: str
  sample: wg0
added:
  description: Peers added (name, or public key when no name was given).
  returned: success
  type: list
  elements: str
  sample: [site-c]
updated:
  description: Peers whose PSK, endpoint, keepalive or allowed IPs were changed.
  returned: success
  type: list
  elements: str
  sample: [site-b]
fresh:
  description:
    - Peers (name, or public key when no name was given) whose next handshake must be newer than this call
      to prove that the pair works. These are the peers that were added and the peers whose PSK was set,
      changed or removed. A running session outlives a PSK change and would hide a mismatch until the next
      rekey.
    - All listed peers when the interface's private key changed, because that ends every session.
    - In check mode, the peers that would be fresh.
  returned: success
  type: list
  elements: str
  sample: [site-c]
removed:
  description: Public keys of the peers removed by O(exclusive).
  returned: success
  type: list
  elements: str
  sample: ["TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="]
changes:
  description: What changed, per peer name (or public key), and C(interface) for the private key.
  returned: success
  type: dict
  sample: {"site-b": ["endpoint 198.51.100.2:51820 -> 198.51.100.20:51820"]}
routes_added:
  description: CIDRs whose route C(dev INTERFACE) was added.
  returned: success
  type: list
  elements: str
  sample: [192.168.20.0/24]
routes_removed:
  description: CIDRs whose route C(dev INTERFACE) was deleted.
  returned: success
  type: list
  elements: str
  sample: []
command:
  description: The one C(wg set) argument list that was (or in check mode would be) run, or V(null). It holds
    public keys and file paths only.
  returned: success
  type: list
  elements: str
  sample: [/usr/bin/wg, set, wg0, peer, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", endpoint, "198.51.100.20:51820"]
switched_at:
  description: Epoch time at which the change was made (after waiting for O(switch_at)), V(null) in check mode.
  returned: success
  type: float
  sample: 1700000000.012
handshakes_started:
  description: Addresses that O(start_handshakes) sent a datagram to.
  returned: success
  type: list
  elements: str
  sample: [10.99.0.2]
switch_late:
  description: Seconds the change started after O(switch_at) (V(0) when on time or without O(switch_at)), V(null)
    in check mode.
  returned: success
  type: float
  sample: 0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.peer import PEER_ARGUMENT_SPEC, run_peer


def main():
    module = AnsibleModule(argument_spec=PEER_ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_peer(module))


if __name__ == '__main__':
    main()
