# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which expected peers of a site are missing, silent or stale: used on the node by wg_info
(verify) and on the controller by the health filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class HealthError(ValueError):
    pass


def to_int(value, what):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HealthError('%s must be an integer, got %r' % (what, value))


def stale_peers(live_peers, expected_peers, since=0, fresh=None, max_age=None):
    """The expected peers whose handshake is not good enough, with the reason.

    ``live_peers``: wg_info's ``peers``. ``expected_peers``: dicts with ``public_key`` and
    ``name``. A peer whose name is in ``fresh`` needs a handshake at or after ``since``
    (epoch seconds); every peer needs one at all, and one younger than ``max_age`` seconds
    when that is given.
    """
    if not isinstance(live_peers, list) or not isinstance(expected_peers, list):
        raise HealthError('expected two lists of peers (live from wg_info, expected from mesh_peers)')
    since = to_int(since or 0, 'since')
    fresh = set(fresh or [])
    max_age = None if max_age in (None, '') else to_int(max_age, 'max_age')
    live = dict((peer.get('public_key'), peer) for peer in live_peers)
    problems = []
    for peer in expected_peers:
        name = peer.get('name') or peer.get('public_key')
        seen = live.get(peer.get('public_key'))
        if seen is None:
            reason = 'not on the interface'
        elif seen.get('handshake_never') or not seen.get('latest_handshake'):
            reason = 'no handshake yet'
        elif name in fresh and to_int(seen['latest_handshake'], 'latest_handshake') < since:
            reason = 'no handshake since the change at %d' % since
        elif max_age is not None and to_int(seen.get('latest_handshake_age') or 0, 'latest_handshake_age') > max_age:
            reason = 'last handshake %ss ago (over %ss)' % (seen.get('latest_handshake_age'), max_age)
        else:
            continue
        problems.append({'name': name, 'public_key': peer.get('public_key'), 'reason': reason})
    return problems
