# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint refresher of a node plan (wireguard_mesh_endpoint_refresh).

``wg`` resolves an endpoint's DNS name once, when the peer is set: a site whose address changes
stays unreachable until the peer is set again. A site with a peer whose endpoint is a DNS name
gets a script and a systemd timer that re-resolve those names and set the endpoint of a peer
whose address changed and whose session is not alive (the script's docstring says why); the
config names them in a comment, so that wg-quick never resolves them. A site
without such a peer (or with ``never``) has no timer; one it had before is removed, as the
monitoring units are, only when it carries the role's marker line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import parse_ip
from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import split_endpoint
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.monitoring import inactive, unit_files

SCRIPT = '/usr/local/sbin/wireguard-mesh-endpoints'
# The shortest interval: each run resolves every name, and a name's TTL is rarely shorter.
MIN_INTERVAL = 5
PLAIN_PATH_RE = re.compile(r'(/[A-Za-z0-9_.+-]+)+')


def units(interface):
    """The timer, then its service (removed in this order, a timer never starts a removed service)."""
    return ['wireguard-mesh-endpoints-%s.timer' % interface, 'wireguard-mesh-endpoints-%s.service' % interface]


def dns_peers(peers):
    """Names of the peers whose endpoint host is a DNS name (not an address)."""
    return [peer['name'] for peer in peers
            if peer.get('endpoint') and not parse_ip(split_endpoint(peer['endpoint'])[0])]


def refresh_plan(probe, options, node, script=None):
    """``script``: the content of files/wireguard-mesh-endpoints.py."""
    interface = node['interface']
    names = dns_peers(node['peers'])
    wanted = units(interface) if options['wireguard_mesh_endpoint_refresh'] == 'auto' and names else []
    present = probe.get('units') or []
    python = probe.get('python') or ''
    plan = {
        # The Python the probe ran with: the script has no shebang, since no one path fits every distribution.
        'python': python if PLAIN_PATH_RE.fullmatch(python) else '/usr/bin/python3',
        'peers': names,
        # Their names stay out of wg-quick's Endpoint lines: wg-quick resolves those at every up
        # and fails the whole interface on one name that does not resolve (NXDOMAIN at once,
        # after 15 tries otherwise). The refresher sets them right after up, one by one.
        'refreshed': names if wanted else [],
        'interval': options['wireguard_mesh_endpoint_refresh_interval'],
        'script': SCRIPT,
        'units': wanted,
        'leftovers': [unit for unit in units(interface) if unit in present and unit not in wanted],
        'files': [],
        'copies': [],
        'start': wanted[:1],
    }
    if wanted:
        plan['files'] = unit_files(wanted, interface)
        if script is not None:
            plan['copies'] = [{'path': SCRIPT, 'content': script, 'mode': '0644'}]
    plan['paths'] = [entry[1] for entry in plan['files']] + [item['path'] for item in plan['copies']]
    plan['inactive'] = inactive(probe, plan['start'])
    return plan


def post_up(plan):
    """wg-quick's PostUp command that sets the named endpoints as soon as the interface is up
    (the service runs after wg-quick's, so it is only queued; it may be gone: never an error)."""
    if not plan['units']:
        return []
    return ['systemctl start --no-block %s || true' % plan['units'][1]]


def option_problems(site, options):
    interval = options.get('wireguard_mesh_endpoint_refresh_interval')
    if isinstance(interval, int) and interval < MIN_INTERVAL:
        return ["site '%s': wireguard_mesh_endpoint_refresh_interval is %d: give at least %d seconds."
                % (site, interval, MIN_INTERVAL)]
    return []
