# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify playbook's report: per direction of every pair, from each site's wg_info result
(tunnel ping, handshake, first hop and LAN hosts) and the optional iperf3 runs; a matrix a
person reads at a glance, a table, and the same as data for machines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import endpoint_host
from ansible_collections.wgmesh.wireguard.plugins.module_utils.handshake import HealthError


def _host_routes(peer):
    """The addresses of the peer's /32 and /128 AllowedIPs: its tunnel addresses (and a LAN of
    one host, which verify does not ping as a tunnel address)."""
    return set(cidr.split('/')[0] for cidr in peer['allowed_ips'] if cidr.endswith(('/32', '/128')))


def _direction(site, peer, result, down=()):
    """One direction: what ``site`` measured towards ``peer`` (a node plan peer); ``down``: the
    sites that did not run the check (a relayed peer is not checked through a relay that is down)."""
    name = peer['name']
    hosts_routed = set(peer['addresses']) if peer.get('addresses') else _host_routes(peer)
    silent = [address for address in result.get('unanswered') or [] if address in hosts_routed]
    live = dict((p.get('public_key'), p) for p in result.get('peers') or [])
    seen = live.get(peer['public_key'])
    lans = [entry for entry in result.get('lans') or [] if entry.get('name') == name]
    hosts = [(host, ok) for entry in lans for host, ok in sorted((entry.get('answered') or {}).items())]
    row = {
        'site': site,
        'peer': name,
        'tunnel': not silent,
        'handshake_age': seen.get('latest_handshake_age') if seen else None,
        'handshake': bool(seen and not seen.get('handshake_never') and seen.get('latest_handshake')),
        'direct': all(entry.get('direct') for entry in lans) if lans else None,
        'via': peer.get('via'),
        'first_hops': dict((entry['lan'], entry.get('first_hop')) for entry in lans),
        'lan_hosts': dict(hosts),
        'problems': [text for text in result.get('problems') or []
                     if text.startswith(name + ':') or text.startswith(name + ' LAN')
                     or any(text.endswith(' ' + address) for address in hosts_routed)],
    }
    if result.get('failed') and 'problems' not in result:  # the check itself could not run on the site
        row['problems'].append(str(result.get('msg') or 'wg_info failed'))
    if row['via'] and row['via'] in down:
        row['problems'].append('%s: not reached, its relay %s is down' % (name, row['via']))
    row['ok'] = (row['tunnel'] and row['handshake'] and row['direct'] is not False
                 and all(ok for _host, ok in hosts) and not row['problems'])
    return row


def _cell(row):
    if row is None:
        return 'down'
    return 'ok' if row['ok'] else 'FAIL'


def _columns(lines):
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return ['  '.join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in lines]


def _detail(row):
    hosts = row['lan_hosts']
    return [
        '%s -> %s' % (row['site'], row['peer']),
        'tunnel ok' if row['tunnel'] else 'tunnel NO ANSWER',
        'handshake %ss ago' % row['handshake_age'] if row['handshake'] else 'handshake NEVER',
        ({None: 'no LAN', True: 'via ' + row['via'], False: 'NOT VIA ' + row['via']} if row.get('via')
         else {None: 'no LAN', True: 'direct', False: 'NOT DIRECT'})[row['direct']],
        ('LAN hosts %d/%d' % (sum(1 for ok in hosts.values() if ok), len(hosts))) if hosts else 'no LAN hosts',
    ]


def bits_per_second(stdout):
    """(bits/s received, None) from ``iperf3 -J`` output, or (None, the error)."""
    try:
        data = json.loads(stdout or '')
    except ValueError:
        return None, 'iperf3 printed no result'
    if not isinstance(data, dict):
        return None, 'iperf3 printed no result'
    if data.get('error'):
        return None, str(data['error'])
    try:
        return float(data['end']['sum_received']['bits_per_second']), None
    except (KeyError, TypeError, ValueError):
        return None, 'iperf3 printed no result'


def _mbits(value):
    return '-' if value is None else '%.0f Mbit/s' % (value / 1e6)


def throughput_rows(runs):
    """Per iperf3 run (client, server, tunnel and underlay stdout), the rates and their ratio."""
    rows = []
    for run in runs or []:
        tunnel, tunnel_error = bits_per_second(run.get('tunnel'))
        underlay, underlay_error = (bits_per_second(run.get('underlay')) if run.get('underlay') is not None
                                    else (None, 'no public endpoint to measure'))
        rows.append({'client': run['client'], 'server': run['server'], 'tunnel_bps': tunnel, 'underlay_bps': underlay,
                     'ratio': round(tunnel / underlay, 2) if tunnel and underlay else None,
                     'tunnel_error': tunnel_error, 'underlay_error': underlay_error})
    return rows


def verify_report(sites, results, peers, throughput=None):
    """The report of a verify run.

    ``sites``: the mesh's site names in inventory order; ``results``: {site: wg_info result} of
    the sites that ran it (a site missing is ``down``); ``peers``: {site: its node plan's verify_peers};
    ``throughput``: the iperf3 runs, each {client, server, tunnel, underlay} with iperf3's JSON.
    """
    if not isinstance(sites, list) or not isinstance(results, dict) or not isinstance(peers, dict):
        raise HealthError('verify_report needs the site names (a list), the results and the peers (dicts by site)')
    rows = []
    cells = {}
    for site in sites:
        if site not in results:
            continue
        for peer in peers.get(site) or []:
            if peer['name'] in results:
                row = _direction(site, peer, results[site], [other for other in sites if other not in results])
                rows.append(row)
                cells[(site, peer['name'])] = row
    matrix = [['from/to'] + list(sites)]
    for site in sites:
        matrix.append([site] + ['-' if other == site else _cell(cells.get((site, other))) for other in sites])
    speeds = throughput_rows(throughput)
    lines = _columns(matrix) + [''] + (_columns([_detail(row) for row in rows]) if rows else [])
    if speeds:
        lines += [''] + _columns([['%s -> %s' % (s['client'], s['server']), 'tunnel ' + _mbits(s['tunnel_bps']),
                                   'underlay ' + _mbits(s['underlay_bps']),
                                   'ratio %s' % ('-' if s['ratio'] is None else s['ratio']),
                                   s['tunnel_error'] or s['underlay_error'] or '']
                                  for s in speeds])
    failed = [row for row in rows if not row['ok']]
    down = [site for site in sites if site not in results]
    speed_failed = [s for s in speeds if s['tunnel_bps'] is None]
    summary = 'verify: %d of %d directions ok' % (len(rows) - len(failed), len(rows))
    if down:
        summary += '; not checked from %s (down)' % ', '.join(down)
    if failed:
        summary += '; failed: ' + '; '.join(
            '%s -> %s (%s)' % (row['site'], row['peer'], ', '.join(row['problems']) or 'see the table') for row in failed)
    if speed_failed:
        summary += '; throughput through the tunnel not measured: ' + '; '.join(
            '%s -> %s (%s)' % (s['client'], s['server'], s['tunnel_error']) for s in speed_failed)
    return {'ok': not failed and not speed_failed, 'rows': rows, 'throughput': speeds,
            'lines': lines, 'summary': summary, 'down': down}


def throughput_pairs(sites, names):
    """The iperf3 runs of the sites ``names``, one per pair: the server is the pair's second site,
    or its first when only that one has a public endpoint to measure the underlay with."""
    by_name = dict((site['name'], site) for site in sites or [] if site.get('name') in (names or []))
    ordered = sorted(by_name)
    runs = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1:]:
            client, server = first, second
            if not by_name[second].get('endpoint') and by_name[first].get('endpoint'):
                client, server = second, first
            endpoint = by_name[server].get('endpoint')
            runs.append({'client': client, 'server': server, 'tunnel': by_name[server]['address'],
                         'underlay': endpoint_host(endpoint)[1] if endpoint else ''})
    return runs
