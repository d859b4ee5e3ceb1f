# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_info module: read a live WireGuard interface, optionally after pinging peers.

The dump's private key and PSK columns are dropped by :func:`wg.parse_dump`; nothing secret
leaves this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils import lancheck, wg
from ansible_collections.wgmesh.wireguard.plugins.module_utils.handshake import HealthError, stale_peers

INFO_ARGUMENT_SPEC = dict(
    interface=dict(type='str', default='wg0'),
    ping=dict(type='list', elements='str', default=[]),
    ping_timeout=dict(type='int', default=5),
    expect=dict(type='list', elements='dict', default=[]),
    since=dict(type='int', default=0),
    fresh=dict(type='list', elements='str', default=[]),
    timeout=dict(type='int', default=0),
    lans=dict(type='list', elements='dict', default=[]),
    own_lans=dict(type='list', elements='str', default=[]),
)
RETRY_DELAY = 2

# One echo to each address, all at once; prints the addresses that did not answer.
PING_SCRIPT = 'for a in "$@"; do (ping -c 1 -w "$WGMESH_PING_TIMEOUT" -q "$a" >/dev/null 2>&1 || echo "$a") & done; wait'


def ping_addresses(module, addresses, timeout):
    """The addresses that did not answer one ICMP echo within ``timeout`` seconds."""
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError('ping address %r is not an IPv4 or IPv6 address' % (address,))
    if not addresses:
        return []
    rc, out, err = module.run_command(['/bin/sh', '-c', PING_SCRIPT, 'wgmesh-ping'] + list(addresses),
                                      environ_update={'WGMESH_PING_TIMEOUT': str(max(1, timeout))})
    if rc != 0:
        raise wg.WgError('could not run ping: %s' % (err.strip() or out.strip()))
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def read_once(module, interface, ping, ping_timeout, expect, since, fresh, lans=(), own_lans=()):
    """One attempt: ping, check the peer LANs, read the interface, judge the expected peers."""
    unanswered = ping_addresses(module, ping, ping_timeout)
    lan_results, lan_problems = lancheck.run_checks(module, list(lans), list(own_lans), ping_timeout)
    info, _psks = wg.read_dump(module, interface)
    result = dict(exists=info is not None, interface=info and info['interface'],
                  peers=info['peers'] if info else [], unanswered=unanswered, lans=lan_results)
    result['problems'] = ['no answer from %s' % address for address in unanswered] + [
        '%s: %s' % (peer['name'], peer['reason']) for peer in stale_peers(result['peers'], expect, since, fresh)
    ] + lan_problems
    return result


def watch(module, interface, ping=(), ping_timeout=5, expect=(), since=0, fresh=(), timeout=0,
          clock=time.time, sleep=time.sleep, lans=(), own_lans=()):
    """Read once; with a timeout, again every RETRY_DELAY seconds until there is no problem or the
    time is up. ValueError, HealthError or wg.WgError when the input or ``wg`` fails."""
    deadline = clock() + max(0, timeout)
    checks = lancheck.check_lans(lans)
    args = (module, interface, list(ping), ping_timeout, list(expect), since, list(fresh), checks, list(own_lans))
    result = read_once(*args)
    while result['problems'] and timeout > 0 and clock() + RETRY_DELAY < deadline:
        sleep(RETRY_DELAY)
        result = read_once(*args)
    return result


def failure(interface, timeout, result):
    port = (result['interface'] or {}).get('listen_port')
    return ('%s after %ss: %s. Check that UDP %s is open between the sites, the endpoints are right, and both '
            'ends of each pair hold the same PSK (wgmesh.wireguard.wg_psk fingerprints).'
            % (interface, timeout, '; '.join(result['problems']), port or 'the listen port'))


def run_info(module):
    """Entry point of the wg_info module. With a timeout, tries again until every pinged address
    answers and every expected peer has a good handshake, and fails with what is missing."""
    params = module.params
    try:
        wg.check_interface(params['interface'])
        result = watch(module, params['interface'], params['ping'], params['ping_timeout'], params['expect'],
                       params['since'], params['fresh'], params['timeout'], lans=params['lans'],
                       own_lans=params['own_lans'])
    except (ValueError, HealthError, wg.WgError) as exc:
        module.fail_json(msg=str(exc), interface=params['interface'])
    result['changed'] = False
    if result['problems'] and params['timeout'] > 0:
        module.fail_json(msg=failure(params['interface'], params['timeout'], result), **result)
    return result
