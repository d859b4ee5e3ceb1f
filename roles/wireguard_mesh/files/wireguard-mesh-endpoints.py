# wgmesh.wireguard: installed by the role wireguard_mesh (its timer runs it; see wireguard_mesh_endpoint_refresh).
"""Re-resolve the DNS names of a WireGuard interface's peer endpoints and set the ones that moved.

    python3 wireguard-mesh-endpoints INTERFACE CONFIG

CONFIG is the interface's wg-quick config: each [Peer] whose Endpoint host is a name (in an
Endpoint line, or the role's "# wgmesh-endpoint =" comment) is resolved again. A peer is set (`wg set INTERFACE peer KEY endpoint ADDRESS:PORT`) only when its
live endpoint is none of the name's addresses and its last handshake is older than a session's
lifetime (180 s, or none): a younger session works where it is, and its endpoint may have been
learned from the peer's own packets (a new address the name does not give yet, NAT). Nothing
else of the peer is touched. A name that does not resolve is reported and left as it is.
"""

import socket
import subprocess
import sys
import time

SESSION_LIFETIME = 180
# The role writes a peer's named endpoint as the comment "# wgmesh-endpoint = NAME:PORT", out of wg-quick's reach.
NAMED = 'wgmesh-endpoint'


def peer_endpoints(path):
    """{public key: (host, port)} of the config's peers whose endpoint host is a DNS name."""
    found = {}
    key = None
    with open(path) as handle:
        for raw in handle:
            line = raw.strip()
            if line.startswith('#'):
                comment = line[1:].strip()
                line = comment if comment.partition('=')[0].strip() == NAMED else ''
            else:
                line = line.split('#', 1)[0].strip()
            if line.startswith('['):
                key = None
                continue
            name, sep, value = line.partition('=')
            name, value = name.strip().lower(), value.strip()
            if not sep:
                continue
            if name == 'publickey':
                key = value
            elif name in ('endpoint', NAMED) and key:
                host, port = value.rpartition(':')[::2]
                if host and not host.startswith('[') and not all(c.isdigit() or c == '.' for c in host):
                    found[key] = (host, port)
    return found


def live_peers(interface):
    """{public key: (endpoint or None, last handshake time or 0)} from `wg show INTERFACE dump`."""
    out = subprocess.run(['wg', 'show', interface, 'dump'], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True).stdout
    peers = {}
    for line in out.splitlines()[1:]:
        fields = line.split('\t')
        peers[fields[0]] = (None if fields[2] == '(none)' else fields[2], int(fields[4]))
    return peers


def resolve(host, port):
    """The name's endpoints as `wg show` prints them, in the resolver's order."""
    seen = []
    for info in socket.getaddrinfo(host, int(port), 0, socket.SOCK_DGRAM):
        address = info[4][0]
        endpoint = '[%s]:%s' % (address, port) if ':' in address else '%s:%s' % (address, port)
        if endpoint not in seen:
            seen.append(endpoint)
    return seen


def main(interface, config):
    wanted = peer_endpoints(config)
    if not wanted:
        return 0
    try:
        live = live_peers(interface)
    except subprocess.CalledProcessError:
        print('%s is not up: nothing to refresh' % interface)
        return 0
    now = time.time()
    failed = 0
    for key, (host, port) in sorted(wanted.items()):
        if key not in live:
            continue
        current, handshake = live[key]
        if handshake and now - handshake < SESSION_LIFETIME:
            continue
        try:
            endpoints = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            print('%s: cannot resolve %s (%s); the endpoint stays %s' % (interface, host, exc, current or 'unset'))
            failed += 1
            continue
        if not endpoints or current in endpoints:
            continue
        if subprocess.run(['wg', 'set', interface, 'peer', key, 'endpoint', endpoints[0]], check=False).returncode != 0:
            print('%s: %s moved, but wg could not set its endpoint %s' % (interface, host, endpoints[0]))
            failed += 1
            continue
        print('%s: %s moved: endpoint %s -> %s' % (interface, host, current or 'unset', endpoints[0]))
    return 1 if failed else 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
