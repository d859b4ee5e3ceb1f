# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The moment of a rotation switch (wg_peer's switch_at) and the handshakes started right after it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

# A switch time further away than this is a mistake (seconds, vs the node's clock).
MAX_SWITCH_WAIT = 600


def start_handshakes(desired):
    """One empty UDP datagram (port 9, discard) to the first allowed IP of each peer.

    The datagram is routed into the tunnel, so the interface starts a handshake with that peer
    now instead of at its next packet. Returns the addresses that were sent to.
    """
    sent = []
    for peer in desired:
        if not peer['allowed_ips']:
            continue
        address = peer['allowed_ips'][0].split('/')[0]
        family = socket.AF_INET6 if ':' in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.sendto(b'', (address, 9))
            sent.append(address)
        except (IOError, OSError):
            pass  # no route yet: the handshake then starts with the first real packet
        finally:
            sock.close()
    return sent


def wait_until(switch_at, now=time.time, sleep=time.sleep):
    """Wait until ``switch_at`` (epoch seconds); returns how late (s, >= 0) the switch starts.

    Sleeps (never spins: on a busy node the WireGuard process needs the CPU at that moment).
    """
    if switch_at is None:
        return 0.0
    delay = switch_at - now()
    if delay > MAX_SWITCH_WAIT:
        raise ValueError('switch_at is %.0f s in the future (more than %d s): check the clocks of the '
                         'controller and the node' % (delay, MAX_SWITCH_WAIT))
    while delay > 0:
        sleep(min(delay, 1.0))
        delay = switch_at - now()
    return -delay
