# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mesh model (documented in the <filter name>.yml files next to this one).

Thin wrappers around ``plugins/plugin_utils/`` (``model``, ``validate``, ``psk_plan``): plain
types in and out, and every error is an AnsibleFilterError that names the filter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model as _model
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import psk_plan as _psk
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.validate import validate as _validate


def _wrap(name, func):
    @functools.wraps(func)
    def filter_function(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AnsibleFilterError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise AnsibleFilterError('%s: %s' % (name, exc))
    return filter_function


def mesh_sites(names, hostvars, defaults=None):
    """Site dicts from the wireguard_mesh_* variables of the hosts ``names``."""
    return _model.sites(names, hostvars, defaults)


def mesh_settings(names, hostvars, defaults=None):
    """Mesh-wide settings of the sites and the problems of sites that disagree."""
    return _model.settings(names, hostvars, defaults)


def mesh_peers(sites, site_name, public_keys=None, keepalive=25, psk_dir=None):
    """The peers of one site."""
    return _model.peers(sites, site_name, public_keys, keepalive, psk_dir)


def mesh_pairs(sites_or_names):
    """Canonical unordered pairs [a, b], a < b."""
    return _model.pairs(sites_or_names)


def mesh_mtu(sites, mtu=0):
    """Tunnel MTU."""
    return _model.mtu(sites, mtu)


def mesh_validate(sites, network, network6='', interface='wg0', mtu=0, group='wireguard_mesh', keepalive=None):
    """Every problem of the mesh as a list of strings (empty = fine)."""
    return _validate(sites, network, network6, interface, mtu, group, keepalive)


def psk_plan(pairs, reports):
    """Which PSKs to read from which site."""
    return _psk.psk_plan(pairs, reports)


def psk_peers(names, exclude=None):
    """Peer items for the wg_psk module."""
    return _psk.psk_peers(names, exclude)


def psk_writes(pairs, reports, contents=None):
    """Which PSKs each site writes (fresh ones generated here)."""
    return _psk.psk_writes(pairs, reports, contents)


class FilterModule(object):
    """wgmesh.wireguard mesh model filters."""

    def filters(self):
        return dict((name, _wrap(name, func)) for name, func in (
            ('mesh_sites', mesh_sites),
            ('mesh_settings', mesh_settings),
            ('mesh_peers', mesh_peers),
            ('mesh_pairs', mesh_pairs),
            ('mesh_mtu', mesh_mtu),
            ('mesh_validate', mesh_validate),
            ('psk_plan', psk_plan),
            ('psk_peers', psk_peers),
            ('psk_writes', psk_writes),
        ))
