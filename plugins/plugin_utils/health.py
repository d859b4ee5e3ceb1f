# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Handshake health of the whole mesh: per pair, from every site's wg_info result.

Works on plain data: the peers a site should have (from the mesh model) and the live
peers the wg_info module reports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.wgmesh.wireguard.plugins.module_utils.handshake import HealthError, stale_peers, to_int
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.model import MeshError, relayed_by_site, relays


_UNITS = ('B', 'KiB', 'MiB', 'GiB', 'TiB')


def _human_bytes(value):
    if value is None:
        return '-'
    value = float(value)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0


def _status(reason):
    if reason == 'not on the interface':
        return 'missing'
    if reason == 'no handshake yet':
        return 'never'
    return 'stale'


def mesh_health(sites, infos, public_keys, max_age=180):
    """Handshake health of a whole mesh, per site and peer, from the controller.

    ``sites``: site names, or site dicts with ``name`` (the mesh model), in inventory order.
    ``infos``: ``{site: wg_info result}`` of the sites that answered; a site missing here is
    ``unreachable``. ``public_keys``: ``{site: public key}``. Every site must have every other
    site as a peer with a handshake no older than ``max_age`` seconds; with site dicts, a pair
    of sites without an endpoint goes through its relay instead (row ``via``): it is as good as
    the two sites' pairs with the relay.

    Returns ``ok``, ``rows`` (site, peer, status, handshake_age, rx_bytes, tx_bytes, reason),
    ``bad_pairs`` (``[a, b]`` sorted, with at least one bad direction), ``pairs`` (count),
    ``table`` (lines of a text table) and ``summary`` (one line).
    """
    if not isinstance(sites, list):
        raise HealthError('sites must be a list of site names or site dicts')
    names = [site.get('name') if isinstance(site, dict) else site for site in sites]
    if not all(isinstance(name, str) and name for name in names):
        raise HealthError('every site needs a name')
    if not isinstance(infos, dict) or not isinstance(public_keys, dict):
        raise HealthError('infos and public_keys must be dicts keyed by site name')
    max_age = to_int(max_age, 'max_age')
    if max_age < 1:
        raise HealthError('max_age must be at least 1 second, got %d' % max_age)

    relayed = _relayed(sites)
    rows = []
    bad = set()
    for site in names:
        info = infos.get(site)
        if info is None or not info.get('exists', False):
            status = 'unreachable' if info is None else 'down'
            reason = 'site did not answer' if info is None else 'interface is not up'
            for peer in names:
                if peer != site and peer not in (relayed.get(site) or {}):
                    rows.append({'site': site, 'peer': peer, 'status': status, 'handshake_age': None,
                                 'rx_bytes': None, 'tx_bytes': None, 'reason': reason})
                    bad.add(tuple(sorted((site, peer))))
            continue
        carried = relayed.get(site) or {}
        expected = [{'name': peer, 'public_key': public_keys.get(peer)} for peer in names
                    if peer != site and peer not in carried]
        live_peers = info.get('peers') or []
        problems = dict((p['name'], p['reason']) for p in stale_peers(live_peers, expected, max_age=max_age))
        live = dict((p.get('public_key'), p) for p in live_peers)
        for peer in expected:
            seen = live.get(peer['public_key']) or {}
            reason = problems.get(peer['name'])
            rows.append({
                'site': site, 'peer': peer['name'],
                'status': _status(reason) if reason else 'ok',
                'handshake_age': seen.get('latest_handshake_age'),
                'rx_bytes': seen.get('rx_bytes'), 'tx_bytes': seen.get('tx_bytes'),
                'reason': reason or '',
            })
            if reason:
                bad.add(tuple(sorted((site, peer['name']))))
    rows = _with_relayed(names, rows, relayed, bad)

    pair_count = len(names) * (len(names) - 1) // 2
    bad_pairs = [list(pair) for pair in sorted(bad)]
    table = _table(rows, max_age)
    ok = not bad_pairs
    if ok:
        ages = [row['handshake_age'] for row in rows if row['handshake_age'] is not None]
        summary = 'wgmesh health OK: %d sites, %d pairs, oldest handshake %s s (threshold %d s)' % (
            len(names), pair_count, max(ages) if ages else '-', max_age)
    else:
        details = []
        for a, b in bad_pairs:
            states = sorted(set('%s->%s %s%s' % (row['site'], row['peer'], row['status'],
                                                 ' %ss' % row['handshake_age'] if row['status'] == 'stale' else '')
                                for row in rows if row['status'] != 'ok' and set((row['site'], row['peer'])) == set((a, b))))
            details.append('%s<->%s (%s)' % (a, b, ', '.join(states)))
        summary = 'wgmesh health FAIL: %d of %d pairs stale or missing (threshold %d s): %s' % (
            len(bad_pairs), pair_count, max_age, '; '.join(details))
    return {'ok': ok, 'rows': rows, 'bad_pairs': bad_pairs, 'pairs': pair_count, 'max_age': max_age,
            'table': table, 'summary': summary}


def _relayed(sites):
    """{site: {other: relay}} of the mesh model's site dicts (none for bare names or dicts without endpoints)."""
    if not all(isinstance(site, dict) and 'endpoint' in site for site in sites):
        return {}
    try:
        return relayed_by_site(relays(sites))
    except MeshError as exc:
        raise HealthError(str(exc))


def _with_relayed(names, rows, relayed, bad):
    """The rows with one per direction of each relayed pair, in the mesh's order: the status of the
    site's pair with the relay; the pair is bad when either site's pair with the relay is."""
    if not relayed:
        return rows
    by_pair = dict(((row['site'], row['peer']), row) for row in rows)
    result = list(rows)
    for site, carried in relayed.items():
        for other, relay in carried.items():
            leg = by_pair.get((site, relay)) or {}
            status = leg.get('status', 'unreachable')
            result.append({'site': site, 'peer': other, 'via': relay, 'status': status,
                           'handshake_age': leg.get('handshake_age'), 'rx_bytes': None, 'tx_bytes': None,
                           'reason': ('through %s: %s' % (relay, leg.get('reason'))) if status != 'ok' else ''})
            if tuple(sorted((site, relay))) in bad or tuple(sorted((other, relay))) in bad:
                bad.add(tuple(sorted((site, other))))
    order = dict((name, index) for index, name in enumerate(names))
    return sorted(result, key=lambda row: (order[row['site']], order[row['peer']]))


def _table(rows, max_age):
    header = ('site', 'peer', 'status', 'handshake', 'received', 'sent')
    lines = [header]
    for row in rows:
        age = row['handshake_age']
        peer = row['peer'] + (' via %s' % row['via'] if row.get('via') else '')
        lines.append((row['site'], peer, row['status'].upper() if row['status'] != 'ok' else 'ok',
                      '-' if age is None else '%s s ago' % age,
                      _human_bytes(row['rx_bytes']), _human_bytes(row['tx_bytes'])))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [str(cell).ljust(widths[i]) if i < 3 else str(cell).rjust(widths[i]) for i, cell in enumerate(line)]
        out.append('  '.join(cells).rstrip())
    out.append('STALE = last handshake over %d s ago; NEVER = no handshake yet; MISSING = not a peer '
               'on the interface' % max_age)
    return out
