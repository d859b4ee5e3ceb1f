# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The handoff of a key switch, told through the tunnel itself; no clock is shared.

A site that changes its private key can no longer send under the old one, and a peer that drops
the old key can no longer receive the site's packets still on their way under it. So each peer
moves the site's AllowedIPs to the new key only after the site's last packet under the old key
has arrived, and soon enough that the site's queue (128 packets per peer) does not overflow:

1. every peer waits and says so: ``ready`` datagrams to the site's tunnel address;
2. the site, once every peer is ready, sends ``switch`` to each of them and changes its key at once:
   ``switch`` is the last thing it sends under the old key, so it arrives after everything before it;
3. a peer that receives ``switch`` waits ``delay`` (packets reordered on the way, the site's
   moment between the datagram and its key change) and moves; its handshake then lets the site's
   queued packets out.

The datagrams go to UDP port 9 (discard) and are read with a packet socket on the interface, which
sees them before any firewall rule of the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import select
import socket
import struct
import time

PORT = 9
MAGIC = b'wgmesh-handoff'
READY_EVERY = 0.1
SWITCH_COPIES = 3
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class HandoffError(Exception):
    """The handoff cannot run on this node; the message says why."""


def message(token, kind, name):
    return b' '.join([MAGIC, token.encode('ascii'), kind.encode('ascii'), name.encode('utf-8')])


def parse_message(payload, token):
    """``(kind, name)`` of a handoff datagram with this ``token``, else None."""
    parts = payload.split(b' ', 3)
    if len(parts) != 4 or parts[0] != MAGIC or parts[1] != token.encode('ascii'):
        return None
    try:
        return parts[2].decode('ascii'), parts[3].decode('utf-8')
    except UnicodeDecodeError:
        return None


def udp_payload(packet):
    """The payload of an IPv4/IPv6 UDP datagram to PORT (no IPv6 extension headers), else None."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20 and packet[9] == socket.IPPROTO_UDP:
        start = (packet[0] & 0x0f) * 4
    elif version == 6 and len(packet) >= 40 and packet[6] == socket.IPPROTO_UDP:
        start = 40
    else:
        return None
    if len(packet) < start + 8 or struct.unpack('!H', packet[start + 2:start + 4])[0] != PORT:
        return None
    return packet[start + 8:]


def send(address, payload):
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.sendto(payload, (address, PORT))
        return True
    except (IOError, OSError):
        return False
    finally:
        sock.close()


class Tap(object):
    """Handoff datagrams with one token that arrive on the interface."""

    def __init__(self, interface, token):
        self.token = token
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
            self.sock.bind((interface, ETH_P_ALL))
        except (AttributeError, IOError, OSError) as exc:
            raise HandoffError('cannot read the datagrams arriving on %s (a packet socket needs Linux and '
                               'root, CAP_NET_RAW): %s' % (interface, exc))

    def receive(self, timeout, now=time.time):
        """The ``(kind, name)`` messages that arrive within ``timeout`` seconds (at least one read)."""
        found = []
        deadline = now() + max(timeout, 0)
        while True:
            ready, _w, _x = select.select([self.sock], [], [], max(deadline - now(), 0))
            if not ready:
                return found
            packet, address = self.sock.recvfrom(65535)
            if address[2] == PACKET_OUTGOING:
                continue
            payload = udp_payload(packet)
            parsed = parse_message(payload, self.token) if payload is not None else None
            if parsed:
                found.append(parsed)
                if parsed[0] == 'switch':
                    return found

    def close(self):
        self.sock.close()


def wait_for_switch(tap, site_address, token, name, timeout, now=time.time):
    """Tell the site (every READY_EVERY s) that ``name`` waits; the time its ``switch`` arrived, or None."""
    deadline = now() + timeout
    ready = message(token, 'ready', name)
    while now() < deadline:
        send(site_address, ready)
        for kind, _name in tap.receive(min(READY_EVERY, deadline - now()), now):
            if kind == 'switch':
                return now()
    return None


def wait_for_ready(tap, names, timeout, now=time.time):
    """Wait until every name in ``names`` said it is ready; the names still missing at the timeout."""
    missing = set(names)
    deadline = now() + timeout
    while missing and now() < deadline:
        for kind, name in tap.receive(min(READY_EVERY, deadline - now()), now):
            if kind == 'ready':
                missing.discard(name)
    return sorted(missing)


def wire_size(address, payload):
    """Bytes a peer's transfer counter grows by when this datagram to ``address`` leaves through the
    tunnel: the IP packet padded to 16 bytes, with WireGuard's 16-byte header and 16-byte tag."""
    packet = (40 if ':' in address else 20) + 8 + len(payload)
    return -(-packet // 16) * 16 + 32


def announce(addresses, token):
    """Send ``switch`` to every address, SWITCH_COPIES times: a lost datagram is not a lost switch.
    Returns the bytes each address's peer must have been sent before the key may change."""
    payload = message(token, 'switch', '-')
    sent = dict((address, 0) for address in addresses)
    for dummy in range(SWITCH_COPIES):
        for address in addresses:
            if send(address, payload):
                sent[address] += wire_size(address, payload)
    return sent
