#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wg_info
short_description: Read the live state of a WireGuard interface
version_added: 0.1.0
description:
  - Reads C(wg show <interface> dump) and returns the interface's public key, listen port and fwmark and,
    per peer, endpoint, allowed IPs, latest handshake (epoch and age; "never" is distinct from 0),
    transfer counters and persistent keepalive.
  - Never returns the private key or a PSK (only whether a PSK is set).
author:
  - wgmesh maintainers (@wgmesh)
options:
  interface:
    description:
      - Name of the WireGuard interface.
    type: str
    default: wg0
  ping:
    description:
      - Addresses (typically the peers' tunnel addresses) to send one ICMP echo to, all at once,
        before the state is read. Traffic starts a handshake with a peer whose session has
        expired, and the addresses that did not answer are returned in RV(unanswered).
      - Nothing on the node is changed.
    type: list
    elements: str
    default: []
  ping_timeout:
    description: Seconds to wait for each echo reply.
    type: int
    default: 5
  expect:
    description:
      - Peers the interface must have, each a dict with keys C(name) and C(public_key). A peer that is
        missing or never completed a handshake is listed in RV(problems).
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
  since:
    description: Epoch seconds. The peers named in O(fresh) need a handshake at or after it.
    type: int
    default: 0
    version_added: 0.2.0
  fresh:
    description:
      - Names of O(expect) peers that need a handshake newer than O(since), for instance the peers that
        got a new key or PSK, because an older session can hide a PSK mismatch until the next rekey.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  timeout:
    description:
      - With V(0), read once and report. Otherwise ping and read again every 2 seconds until RV(problems) is
        empty, and fail with the problems when it is not within this many seconds.
    type: int
    default: 0
    version_added: 0.2.0
  lans:
    description:
      - Peer LANs to check, as the guide's traceroute and LAN pings do. For each, one echo with TTL 1 is sent
        towards the LAN (to its first probe, else its first host address); the host that answers is the first
        hop, which on a direct path is the peer, answering from O(lans[].hop) (time to live exceeded) or as the
        target itself. A first hop that is another host or none is listed in RV(problems).
      - Each of O(lans[].probes) gets one echo, sent from this site's own LAN address (see O(own_lans)) so that
        the reply takes the LAN-to-LAN route back; a probe that does not answer is listed in RV(problems).
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      name:
        description: The peer whose LAN it is (for the messages).
        type: str
        required: true
      lan:
        description: The LAN's CIDR.
        type: str
        required: true
      hop:
        description: The peer's tunnel address, the first hop on a direct path.
        type: str
        required: true
      via:
        description:
          - The relay that carries this site's traffic to the peer (both behind NAT); O(lans[].hop) is then
            the relay's tunnel address.
        type: str
        version_added: 0.2.0
      probes:
        description: Addresses of hosts on that LAN that answer ping.
        type: list
        elements: str
        default: []
  own_lans:
    description:
      - This site's own LANs. The O(lans[].probes) are pinged from this site's first address inside one of
        them (one per address family), and from its tunnel address when it has none.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
extends_documentation_fragment:
  - wgmesh.wireguard.attributes.read_only
notes:
  - "Needs C(wg) (wireguard-tools) and root (C(become: true))."
seealso:
  - module: wgmesh.wireguard.wg_peer
"""

EXAMPLES = r"""
- name: Read wg0
  wgmesh.wireguard.wg_info:
    interface: wg0
  register: wg

- name: Fail when a peer never completed a handshake
  ansible.builtin.assert:
    that: wg.peers | selectattr('handshake_never') | list | length == 0

- name: Ping the peers' tunnel addresses, then read the handshakes
  wgmesh.wireguard.wg_info:
    interface: wg0
    ping: [10.99.0.2, 10.99.0.3]
  register: wg
  until: wg.unanswered | length == 0
  retries: 5

- name: Wait up to 30 s until both peers answer and have a handshake, fail with what is missing
  wgmesh.wireguard.wg_info:
    interface: wg0
    ping: [10.99.0.2, 10.99.0.3]
    expect:
      - {name: frankfurt, public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=}
      - {name: newyork, public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=}
    timeout: 30
"""

RETURN = r"""
problems:
  description: What is missing - addresses of O(ping) that did not answer, O(expect) peers without a (fresh
    enough) handshake, each with the reason. Empty when all is well.
  returned: always
  type: list
  elements: str
  sample: ["no answer from 10.99.0.3", "newyork: no handshake yet"]
unanswered:
  description:
    - The O(ping) addresses that did not answer.
    - Named so because Ansible takes a true C(unreachable) in a result for an unreachable host.
  returned: always
  type: list
  elements: str
  sample: ["10.99.0.3"]
exists:
  description: Whether the interface exists.
  returned: always
  type: bool
  sample: true
interface:
  description: Interface state, or V(null) when it does not exist.
  returned: always
  type: dict
  contains:
    public_key:
      description: Public key of the interface (V(null) when no private key is set).
      type: str
      returned: success
    listen_port:
      description: UDP listen port.
      type: int
      returned: success
    fwmark:
      description: Firewall mark, V(0) when off.
      type: int
      returned: success
  sample: {"public_key": "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", "listen_port": 51820, "fwmark": 0}
lans:
  description: One entry per O(lans) entry, with what was measured. Empty without O(lans).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The peer.
      type: str
      returned: success
    lan:
      description: The peer's LAN.
      type: str
      returned: success
    target:
      description: The address the TTL-1 echo was sent to.
      type: str
      returned: success
    first_hop:
      description: The address that answered it, V(null) when none did.
      type: str
      returned: success
    direct:
      description: Whether the first hop is the expected one, the peer (or the relay of O(lans[].via)).
      type: bool
      returned: success
    answered:
      description: Per probe address, whether it answered.
      type: dict
      returned: success
    source:
      description: Per probe address, the source address of the echo (V(null) for this site's tunnel address).
      type: dict
      returned: success
  sample: [{"name": "newyork", "lan": "10.30.0.0/24", "target": "10.30.0.10", "hop": "10.99.0.3",
            "first_hop": "10.99.0.3", "direct": true, "probes": ["10.30.0.10"], "answered": {"10.30.0.10": true},
            "source": {"10.30.0.10": "10.10.0.1"}}]
peers:
  description: Live peers.
  returned: always
  type: list
  elements: dict
  contains:
    public_key:
      description: Public key of the peer.
      type: str
      returned: success
    endpoint:
      description: Current endpoint (V(host:port) or V([IPv6]:port)), V(null) when none is known.
      type: str
      returned: success
    allowed_ips:
      description: Allowed IPs (CIDRs).
      type: list
      elements: str
      returned: success
    latest_handshake:
      description: Epoch seconds of the latest handshake, V(0) when there was never one.
      type: int
      returned: success
    latest_handshake_age:
      description: Seconds since the latest handshake, V(null) when there was never one.
      type: int
      returned: success
    handshake_never:
      description: True when the peer never completed a handshake.
      type: bool
      returned: success
    rx_bytes:
      description: Bytes received from the peer.
      type: int
      returned: success
    tx_bytes:
      description: Bytes sent to the peer.
      type: int
      returned: success
    persistent_keepalive:
      description: Persistent keepalive in seconds, V(0) when off.
      type: int
      returned: success
    preshared_key_set:
      description: Whether a PSK is set for the peer (the PSK itself is never returned).
      type: bool
      returned: success
  sample: [{"public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "endpoint": "198.51.100.20:51820",
            "allowed_ips": ["10.99.0.2/32"], "latest_handshake": 1700000000, "latest_handshake_age": 12,
            "handshake_never": false, "rx_bytes": 1234, "tx_bytes": 5678, "persistent_keepalive": 25,
            "preshared_key_set": true}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.info import INFO_ARGUMENT_SPEC, run_info


def main():
    module = AnsibleModule(argument_spec=INFO_ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_info(module))


if __name__ == '__main__':
    main()
