# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LAN checks of wg_info (verify): the first hop towards every peer LAN and pings to hosts on them.

The first hop is what the guide's traceroute shows, measured with one echo whose TTL is 1: the
host that decrypts it either forwards it, and so answers "time to live exceeded" from its tunnel
address, or holds the target itself and answers the echo. On a direct path that host is the
peer whose LAN it is. The LAN hosts are pinged from this site's own LAN address when it has
one, so the replies take the LAN-to-LAN route back, as the guide's ping from a LAN host does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils import wg

# One echo with TTL 1 to each address, all at once; then each address and what its ping printed.
HOP_SCRIPT = ('d=$(mktemp -d) || exit 1; i=0; for a in "$@"; do i=$((i+1)); '
              '(ping -n -c 1 -t 1 -W "$WGMESH_PING_TIMEOUT" "$a" >"$d/$i" 2>&1) & done; wait; i=0; '
              'for a in "$@"; do i=$((i+1)); echo "@@ $a"; cat "$d/$i"; done; rm -rf "$d"')
# Arguments come in pairs (address, source or ""); prints the addresses that did not answer.
PING_FROM_SCRIPT = ('while [ $# -ge 2 ]; do a=$1; s=$2; shift 2; '
                    '(ping -n -c 1 -w "$WGMESH_PING_TIMEOUT" -q ${s:+-I "$s"} "$a" >/dev/null 2>&1 || echo "$a") & '
                    'done; wait')
_EXCEEDED_RE = re.compile(r'^From (\S+?):? .*(?:[Tt]ime to live exceeded|[Tt]ime exceeded)')
_REPLY_RE = re.compile(r'^\d+ bytes from (\S+?):? ')


def _address(text, what):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise ValueError('%s %r is not an IPv4 or IPv6 address' % (what, text))


def check_lans(lans):
    """The O(lans) entries as the checks need them; ValueError naming what is wrong."""
    checks = []
    for entry in lans or []:
        if not isinstance(entry, dict) or not entry.get('name') or not entry.get('lan'):
            raise ValueError('every lans entry needs name, lan and hop, got %r' % (entry,))
        try:
            network = ipaddress.ip_network(str(entry['lan']), strict=False)
        except ValueError as exc:
            raise ValueError('lans entry of %s: %s' % (entry['name'], exc))
        hop = _address(entry.get('hop'), 'hop of %s' % entry['name'])
        probes = [_address(p, 'probe of %s' % entry['name']) for p in entry.get('probes') or []]
        outside = [str(p) for p in probes if p not in network]
        if outside:
            raise ValueError('probe %s of %s is not inside its LAN %s' % (', '.join(outside), entry['name'], network))
        checks.append({'name': entry['name'], 'lan': str(network), 'hop': str(hop), 'via': entry.get('via') or None,
                       'target': str(probes[0] if probes else first_host(network)),
                       'probes': [str(p) for p in probes]})
    return checks


def first_host(network):
    """The address probed on a LAN without a probe host: its first host address."""
    return network.network_address + 1 if network.num_addresses > 2 else network.network_address


def parse_hops(text):
    """{target: (kind, address)} from HOP_SCRIPT's output; kind is 'forwarded' (time exceeded
    from that address), 'held' (the echo answered by the target) or None (no answer)."""
    hops = {}
    target = None
    for line in text.splitlines():
        if line.startswith('@@ '):
            target = line[3:].strip()
            hops[target] = (None, None)
            continue
        if target is None or hops[target][0] is not None:
            continue
        exceeded = _EXCEEDED_RE.match(line)
        reply = _REPLY_RE.match(line)
        if exceeded:
            hops[target] = ('forwarded', exceeded.group(1))
        elif reply:
            hops[target] = ('held', reply.group(1))
    return hops


def own_lan_sources(addresses_json, own_lans):
    """{4: address, 6: address} of this site's first address inside one of its own LANs."""
    networks = [ipaddress.ip_network(str(lan), strict=False) for lan in own_lans or []]
    sources = {}
    for link in json.loads(addresses_json or '[]'):
        for info in link.get('addr_info') or []:
            try:
                address = ipaddress.ip_address(info.get('local'))
            except ValueError:
                continue
            if address.version not in sources and any(address in net for net in networks):
                sources[address.version] = str(address)
    return sources


def judge(check, hop):
    """(direct, problem or None) of one LAN check given its first hop."""
    kind, address = hop
    if kind is None:
        return False, ('%s LAN %s: no first hop answered an echo with TTL 1 to %s; check that the route to %s goes '
                       'through the tunnel and that %s sends ICMP'
                       % (check['name'], check['lan'], check['target'], check['lan'], check['name']))
    if address == check['hop'] or (kind == 'held' and address == check['target']):
        return True, None
    if check.get('via'):
        return False, ("%s LAN %s: the first hop is %s, not %s: the path does not go through the relay %s; check the "
                       "routes to %s and the allowed IPs of this site's peer %s"
                       % (check['name'], check['lan'], address, check['hop'], check['via'], check['lan'], check['via']))
    return False, ('%s LAN %s: the first hop is %s, not %s: the path is not direct; check the routes to %s and the '
                   "peers' allowed IPs" % (check['name'], check['lan'], address, check['hop'], check['lan']))


def run_checks(module, checks, own_lans, timeout):
    """Each check with its first hop, whether the path is direct, and which probes answered; and the problems."""
    if not checks:
        return [], []
    env = {'WGMESH_PING_TIMEOUT': str(max(1, timeout))}
    targets = sorted(set(check['target'] for check in checks))
    rc, out, err = module.run_command(['/bin/sh', '-c', HOP_SCRIPT, 'wgmesh-hop'] + targets, environ_update=env)
    if rc != 0:
        raise wg.WgError('could not run ping: %s' % (err.strip() or out.strip()))
    hops = parse_hops(out)
    sources = {}
    if own_lans:
        sources = own_lan_sources(wg.run_checked(module, [wg.ip_bin(module), '-j', 'addr', 'show'], 'ip addr'),
                                  own_lans)
    pairs = []
    for check in checks:
        for probe in check['probes']:
            pairs += [probe, sources.get(ipaddress.ip_address(probe).version, '')]
    unanswered = set()
    if pairs:
        rc, out, err = module.run_command(['/bin/sh', '-c', PING_FROM_SCRIPT, 'wgmesh-ping'] + pairs,
                                          environ_update=env)
        if rc != 0:
            raise wg.WgError('could not run ping: %s' % (err.strip() or out.strip()))
        unanswered = set(line.strip() for line in out.splitlines() if line.strip())
    results, problems = [], []
    for check in checks:
        hop = hops.get(check['target'], (None, None))
        direct, problem = judge(check, hop)
        problems += [problem] if problem else []
        answered = dict((p, p not in unanswered) for p in check['probes'])
        source = dict((p, sources.get(ipaddress.ip_address(p).version) or None) for p in check['probes'])
        problems += ['%s LAN host %s: no answer (pinged from %s)'
                     % (check['name'], p, source[p] or "this site's tunnel address")
                     for p in check['probes'] if not answered[p]]
        results.append(dict(check, first_hop=hop[1], direct=direct, answered=answered, source=source))
    return results, problems
