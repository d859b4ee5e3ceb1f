# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PSK reconciliation: one preshared key per pair of sites, the same at both ends.

Each site reports, per peer, the fingerprint of the PSK it holds (the wg_psk module's
report). ``psk_plan`` says which PSKs to read, ``psk_writes`` which to write where.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.model import MeshError, is_str, valid_key


def _pair_list(pair_list):
    result = []
    for pair in pair_list or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(is_str(p) for p in pair):
            raise MeshError('every pair must be a list of two site names, got %r' % (pair,))
        result.append((str(pair[0]), str(pair[1])))
    return result


def _report(reports, site, peer):
    """(known, fingerprint): known is False if ``site`` did not report at all."""
    if site not in reports or reports[site] is None:
        return False, None
    entry = reports[site].get(peer)
    if isinstance(entry, dict):  # the wg_psk module's report: {exists, fingerprint}
        entry = entry.get('fingerprint')
    return True, (entry or None)


def _reported_pairs(pair_list, reports):
    """(a, b, fingerprint at a, fingerprint at b) of every pair whose two sites reported."""
    for a, b in _pair_list(pair_list):
        known_a, fa = _report(reports, a, b)
        known_b, fb = _report(reports, b, a)
        if known_a and known_b:
            yield a, b, fa, fb


def psk_plan(pair_list, reports):
    """{"read": {site: [peer, ...]}}: the PSKs to read before writing (sites with reads only).

    A pair with exactly one PSK is read from the end that has it; a pair whose ends hold
    different PSKs is read from its first site (a), whose PSK wins. Pairs with a site that
    did not report at all (for example an unreachable host) are left alone.
    """
    read = {}
    for a, b, fa, fb in _reported_pairs(pair_list, reports or {}):
        if fa and (not fb or fa != fb):
            read.setdefault(a, []).append(b)
        elif fb and not fa:
            read.setdefault(b, []).append(a)
    return {'read': read}


def psk_peers(names, exclude=None):
    """[{"name": n}, ...] for the wg_psk module's peers option, without ``exclude``."""
    if isinstance(names, str):
        raise MeshError('expected a list of site names, got the string %r' % (names,))
    return [{'name': name} for name in names if name != exclude]


def _read(contents, site, peer):
    value = (contents.get(site) or {}).get(peer)
    if not valid_key(value):
        raise MeshError("no valid PSK was read from site '%s' for its peer '%s': read the PSKs psk_plan "
                        "lists (contents[%s][%s]) before calling psk_writes" % (site, peer, site, peer))
    return value


def psk_writes(pair_list, reports, contents):
    """{site: [{"name": peer, "psk": value}, ...]}: the PSK files each site must write.

    Neither end has a PSK: one fresh PSK written to both ends. One end has it, or the ends
    differ: the PSK read (see psk_plan) is written to the other end. Agreeing pairs and
    pairs with a site that did not report are left alone.
    """
    contents = contents or {}
    writes = {}
    for a, b, fa, fb in _reported_pairs(pair_list, reports or {}):
        if not fa and not fb:
            value = keys.generate_psk()
            writes.setdefault(a, []).append({'name': b, 'psk': value})
            writes.setdefault(b, []).append({'name': a, 'psk': value})
        elif fa and (not fb or fa != fb):
            writes.setdefault(b, []).append({'name': a, 'psk': _read(contents, a, b)})
        elif fb and not fa:
            writes.setdefault(a, []).append({'name': b, 'psk': _read(contents, b, a)})
    return writes


def psk_peer(name, contents, adopted):
    """What wg_psk gets for one peer: its PSK to write, or its public key to take the live PSK of, or only the name."""
    if name in contents:
        return {'name': name, 'psk': contents[name]}
    if name in adopted:
        return {'name': name, 'public_key': adopted[name]}
    return {'name': name}
