"""A WAN for the lab: a UDP relay that holds every datagram for a one-way delay (and jitter).

This kernel has no netem, so latency between lab sites goes through userspace. Each
``--listen HOST:PORT=TARGET_HOST:TARGET_PORT`` opens a port that stands for TARGET: a datagram
from a client C arrives there, waits, and leaves towards TARGET from an upstream socket of C's
own; what TARGET sends back to that upstream socket waits too and leaves from the listening
port towards C. Every path through the relay is delayed, whatever endpoint WireGuard roams to
(the peers only ever see relay addresses). ``--source CLIENT_IP=RELAY_IP`` binds the upstream
sockets of that client to RELAY_IP, so that a site sees each peer come from the peer's own relay
address (the endpoint it was given). Prints "ready" once every port is bound.

    python3 lab/wan_relay.py --delay 0.040 [--jitter 0.005] --listen 10.213.0.2:41000=127.0.0.1:51820 ...
"""

import argparse
import heapq
import itertools
import random
import selectors
import socket
import sys
import time

# A relay that waits for a core (the lab's benchmarks load every core) must not drop what arrives
# meanwhile: room for several seconds of the lab's traffic (root may exceed rmem_max).
RECEIVE_BUFFER = 8 << 20


def address(text):
    host, port = text.rsplit(':', 1)
    return host.strip('[]'), int(port)


class Relay(object):
    def __init__(self, delay, jitter, sources=None):
        self.sources = sources or {}
        self.delay = delay
        self.jitter = jitter
        self.selector = selectors.DefaultSelector()
        self.queue = []
        self.order = itertools.count()
        self.upstreams = {}
        self.relayed = 0

    @staticmethod
    def _socket(family):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_RCVBUFFORCE', 33), RECEIVE_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        return sock

    def listen(self, local, target):
        sock = self._socket(socket.AF_INET6 if ':' in local[0] else socket.AF_INET)
        sock.bind(local)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, ('listen', sock, target, None))

    def _upstream(self, listener, target, client):
        key = (listener.getsockname(), client)
        if key not in self.upstreams:
            sock = self._socket(socket.AF_INET6 if ':' in target[0] else socket.AF_INET)
            sock.bind((self.sources.get(client[0], ''), 0))
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, ('upstream', sock, listener, client))
            self.upstreams[key] = sock
        return self.upstreams[key]

    def _hold(self, sock, data, destination):
        due = time.monotonic() + self.delay + (random.uniform(0, self.jitter) if self.jitter else 0)
        heapq.heappush(self.queue, (due, next(self.order), sock, data, destination))

    def run(self):
        while True:
            timeout = max(self.queue[0][0] - time.monotonic(), 0) if self.queue else None
            for key, _events in self.selector.select(timeout):
                kind, sock, other, client = key.data
                try:
                    data, source = sock.recvfrom(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                if kind == 'listen':
                    self._hold(self._upstream(sock, other, source), data, other)
                else:
                    self._hold(other, data, client)
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _due, _n, sock, data, destination = heapq.heappop(self.queue)
                try:
                    sock.sendto(data, destination)
                    self.relayed += 1
                except OSError:
                    pass  # like a WAN: a datagram that cannot be sent is lost


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--delay', type=float, default=0.04, help='one-way delay in seconds (default 0.04)')
    parser.add_argument('--jitter', type=float, default=0.0, help='extra random delay, 0 to this many seconds')
    parser.add_argument('--listen', action='append', required=True, metavar='HOST:PORT=TARGET:PORT')
    parser.add_argument('--source', action='append', default=[], metavar='CLIENT_IP=RELAY_IP')
    args = parser.parse_args(argv)
    relay = Relay(args.delay, args.jitter, dict(spec.split('=', 1) for spec in args.source))
    for spec in args.listen:
        local, target = spec.split('=', 1)
        relay.listen(address(local), address(target))
    print('ready', flush=True)
    try:
        relay.run()
    except KeyboardInterrupt:
        return 0


if __name__ == '__main__':
    sys.exit(main())
