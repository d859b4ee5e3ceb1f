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
    public key to a new one is atomic (used by zero-loss key rotation). Only the removal of the old key's
    entry follows one second later (RV(retire_command)), since removing a peer drops what is still queued in it.
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
            the addresses this endpoint resolves to, unless the peer had a handshake within the last 180 seconds
            (a session's lifetime). WireGuard then learned the live endpoint from the peer's own packets (NAT,
            a relay, a new address) and it works; setting the configured one again would only break the path
            until the peer roams back, and a re-run would report a change every time.
          - Empty or omitted keeps the endpoint the interface learned (peer behind NAT). A public key the
            interface does not have yet then starts at the endpoint learned by the live peer whose allowed IPs
            it takes over (the same site under its old key, in a key rotation), so it is reached before its
            own first handshake.
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
      - A live peer whose allowed IPs a listed peer takes over (the same site under a new key) is removed one
        second after the allowed IPs moved, by a second C(wg set) (RV(retire_command)), so that the packets
        still queued in it are sent instead of dropped.
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
  announce_switch:
    description:
      - Makes this node the site of a key switch handed off through the tunnel, without shared clocks
        (rolling key rotation). Each peer runs M(wgmesh.wireguard.wg_peer) with O(switch_on_signal) at the
        same time (Ansible C(async)).
      - The module plans, waits until every listed peer says (through the tunnel) that it waits, sends each
        peer a C(switch) datagram and right after it changes the key. The C(switch) datagram is the last one
        under the old key, so a peer that moves after it has received everything sent under the old key.
      - The datagrams go to UDP port 9 of the first allowed IP of each peer, and are read with a packet
        socket on the interface (before any firewall rule; needs root or C(CAP_NET_RAW)).
    type: dict
    suboptions:
      token:
        description: The same random word (8 to 64 of C(A-Z a-z 0-9 _ -)) given to the peers; it tells this
          switch from any other.
        type: str
        required: true
      ready_timeout:
        description: Seconds to wait for every peer to say it waits.
        type: float
        default: 30
      require_ready:
        description:
          - Fail, with nothing switched, when a peer did not say it waits within O(announce_switch.ready_timeout).
          - V(false) switches anyway after the timeout (a switch back after a failed rotation, when some
            tunnels may be broken).
        type: bool
        default: true
      absent:
        description:
          - Names of listed peers known to be down. They stay configured as listed, but are neither waited for
            nor sent the C(switch) datagram.
        type: list
        elements: str
        default: []
    version_added: 0.2.0
  switch_on_signal:
    description:
      - Makes this node a peer of a site whose key changes with O(announce_switch) (see there). The module plans,
        tells the site every 0.1 s that it waits, and applies its change only once the site's C(switch)
        datagram has arrived, plus O(switch_on_signal.delay).
      - When there is nothing to change here, the module still waits (the site waits for every peer), but
        does not fail when the datagram does not come.
    type: dict
    suboptions:
      token:
        description: The token of the switch (the same as the site's).
        type: str
        required: true
      site:
        description: The name, in O(peers), of the site whose key changes; its first allowed IP is where this
          node says that it waits.
        type: str
        required: true
      name:
        description: This node's name as the site's O(peers) list names it.
        type: str
        required: true
      timeout:
        description: Seconds to wait for the site's C(switch) datagram.
        type: float
        default: 120
      delay:
        description:
          - Seconds between the C(switch) datagram and this node's change. They cover packets that the network
            delivers out of order, and the moment between the site's datagram and its key change (see
            RV(handoff)). While they pass, the site queues its packets to this node (up to 128).
        type: float
        default: 0.2
      on_timeout:
        description:
          - V(fail) changes nothing and fails when the datagram did not come (the site did not switch).
          - V(switch) applies the change anyway (a switch back, when the tunnel to the site may be broken).
        type: str
        choices: [fail, switch]
        default: fail
    version_added: 0.2.0
  start_handshakes:
    description:
      - When the call changed something, send one empty UDP datagram (port 9, discard) through the
        tunnel to the first allowed IP (as listed) of each peer right after the change, so the interface starts
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
  verify_except:
    description:
      - With O(verify), names of listed peers that are not checked (sites known to be down this run). They
        are applied like the others; leave their addresses out of O(ping).
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

- name: On each peer of site-a, wait for site-a's switch to its new key (in the background)
  wgmesh.wireguard.wg_peer:
    interface: wg0
    peers: "{{ mesh_peers_with_new_key_of_site_a }}"
    exclusive: true
    start_handshakes: true
    switch_on_signal: {token: "{{ switch_token }}", site: site-a, name: "{{ inventory_hostname }}"}
  async: 300
  poll: 0
  when: inventory_hostname != 'site-a'

- name: On site-a, switch to the staged key (wg0.key.next), file and live key together
  wgmesh.wireguard.wg_peer:
    interface: wg0
    private_key_path: /etc/wireguard/wg0.key
    key_rotation: activate
    announce_switch: {token: "{{ switch_token }}"}
    peers: "{{ mesh_peers }}"
  when: inventory_hostname == 'site-a'
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
  description: The C(wg set) argument list that was (or in check mode would be) run, or V(null); the removal of
    replaced peers is in RV(retire_command). It holds public keys and file paths only.
  returned: success
  type: list
  elements: str
  sample: [/usr/bin/wg, set, wg0, peer, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", endpoint, "198.51.100.20:51820"]
retire_command:
  description: The C(wg set) argument list that removed (or in check mode would remove) the live peers whose
    allowed IPs a listed peer took over, one second after RV(command); V(null) when there are none.
  returned: success
  type: list
  elements: str
  sample: [/usr/bin/wg, set, wg0, peer, "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", remove]
  version_added: 0.2.0
switched_at:
  description: Epoch time right after the change was made (after the handoff, if any), V(null) in check mode.
  returned: success
  type: float
  sample: 1700000000.012
handoff:
  description:
    - With O(announce_switch) (C(role=site)) - C(ready_missing), the peers that did not say they wait,
      C(announced_at), the time of the C(switch) datagrams, C(sent_ms), the milliseconds until the peers'
      transfer counters showed them sent under the old key (the key waits for that, 2 s at most),
      C(unsent), the peers whose datagrams were not seen sent by then, and C(announce_ms), the milliseconds
      from the datagrams to the end of the key change.
    - With O(switch_on_signal) (C(role=peer)) - C(site), C(signal_at), the time the site's C(switch)
      arrived (V(null) when it did not come), and C(timed_out).
    - V(null) without either option, and in check mode.
  returned: success
  type: dict
  sample: {"role": "peer", "site": "site-a", "signal_at": 1700000000.003, "timed_out": false}
handshakes_started:
  description: Addresses that O(start_handshakes) sent a datagram to.
  returned: success
  type: list
  elements: str
  sample: [10.99.0.2]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.peer import PEER_ARGUMENT_SPEC, run_peer


def main():
    module = AnsibleModule(argument_spec=PEER_ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[('announce_switch', 'switch_on_signal')])
    module.exit_json(**run_peer(module))


if __name__ == '__main__':
    main()
