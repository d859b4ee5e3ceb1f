# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Handshake health filters (documented in the .yml files of their names next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import health as _health
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import verify_report as _verify


def stale_peers(live_peers, expected, since=0, fresh=None, max_age=None):
    try:
        return _health.stale_peers(live_peers, expected, since, fresh, max_age)
    except _health.HealthError as exc:
        raise AnsibleFilterError('stale_peers: %s' % exc)


def mesh_health(sites, infos, public_keys, max_age=180):
    try:
        return _health.mesh_health(sites, infos, public_keys, max_age)
    except _health.HealthError as exc:
        raise AnsibleFilterError('mesh_health: %s' % exc)


def verify_report(sites, results, peers, throughput=None):
    try:
        return _verify.verify_report(sites, results, peers, throughput)
    except _health.HealthError as exc:
        raise AnsibleFilterError('verify_report: %s' % exc)


def throughput_pairs(sites, names):
    try:
        return _verify.throughput_pairs(sites, names)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError('throughput_pairs: %s' % exc)


class FilterModule(object):
    """wgmesh.wireguard health filters."""

    def filters(self):
        return {'stale_peers': stale_peers, 'mesh_health': mesh_health, 'verify_report': verify_report,
                'throughput_pairs': throughput_pairs}
