# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring part of a node plan (wireguard_mesh_monitoring: none, textfile or exporter).

textfile: a script and a systemd timer write the peers' metrics for node_exporter's textfile
collector. exporter: mdlayher's wireguard_exporter as a service. A site that changes mode (or
sets none) loses the old mode's units, which the probe lists only when they carry the role's
marker line, so an admin's own unit of the same name stays.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

TEXTFILE_SCRIPT = '/usr/local/sbin/wireguard-mesh-textfile'
EXPORTER_UNIT = 'wireguard-exporter.service'
UNIT_DIR = '/etc/systemd/system'


class MonitoringError(ValueError):
    """Monitoring cannot be set up as configured; the message says what to do."""


def textfile_units(interface):
    return ['wireguard-mesh-textfile-%s.timer' % interface, 'wireguard-mesh-textfile-%s.service' % interface]


def all_units(interface):
    """Every unit the role may write, the timer before its service: removed in this order, a
    timer never starts a service that is already gone."""
    return textfile_units(interface) + [EXPORTER_UNIT]


def unit_files(units, interface):
    """(template, path, mode, check) of the role's units: wireguard-mesh-x-wg0.timer is written
    from templates/wireguard-mesh-x.timer.j2 to /etc/systemd/system."""
    return [(unit.replace('-%s.' % interface, '.') + '.j2', os.path.join(UNIT_DIR, unit), '0644', None) for unit in units]


def _exporter_check(site, options):
    if options['wireguard_mesh_monitoring_exporter_package'] or (
            options['wireguard_mesh_monitoring_exporter_url'] and options['wireguard_mesh_monitoring_exporter_checksum']):
        return
    raise MonitoringError(
        "site '%s': wireguard_mesh_monitoring is 'exporter', but wireguard_exporter is not packaged by the "
        "distributions. Set wireguard_mesh_monitoring_exporter_package (a package name, or the URL or path of a "
        ".deb/.rpm) or wireguard_mesh_monitoring_exporter_url with wireguard_mesh_monitoring_exporter_checksum, or "
        "use wireguard_mesh_monitoring: textfile." % site)


def monitoring_plan(probe, options, os_vars, node, script=None):
    """``script``: the content of the textfile writer (files/wireguard-mesh-textfile.sh)."""
    mode = options['wireguard_mesh_monitoring']
    interface = node['interface']
    exporter_os = os_vars['__wireguard_mesh_node_exporter']
    if mode == 'textfile':
        units = textfile_units(interface)
    elif mode == 'exporter':
        _exporter_check(node['name'], options)
        units = [EXPORTER_UNIT]
    else:
        units = []
    present = probe.get('units') or []
    plan = {
        'mode': mode,
        'interval': options['wireguard_mesh_monitoring_interval'],
        'names_path': node['paths']['names'],
        'textfile_dir': options['wireguard_mesh_monitoring_textfile_dir'] or exporter_os['textfile_dir'],
        'exporter_binary': options['wireguard_mesh_monitoring_exporter_binary'],
        'exporter_address': options['wireguard_mesh_monitoring_exporter_address'],
        'exporter_url': options['wireguard_mesh_monitoring_exporter_url'],
        'exporter_checksum': options['wireguard_mesh_monitoring_exporter_checksum'],
        'exporter_peer_names': ','.join('%s:%s' % (peer['public_key'], peer['name'])
                                        for peer in sorted(node['peers'], key=lambda p: p['name'])),
        'units': units,
        'leftovers': [unit for unit in all_units(interface) if unit in present and unit not in units],
        'package': '',
        'start': [],
        'files': [],
        'copies': [],
    }
    if mode == 'none':
        plan['paths'] = []
        plan['inactive'] = []
        return plan
    if mode == 'textfile':
        if options['wireguard_mesh_monitoring_node_exporter']:
            plan['package'] = exporter_os['package']
        plan['start'] = [units[0]] + ([exporter_os['service']] if options['wireguard_mesh_monitoring_node_exporter'] else [])
        if script is not None:
            plan['copies'] = [{'path': TEXTFILE_SCRIPT, 'content': script, 'mode': '0755'}]
    else:
        plan['package'] = options['wireguard_mesh_monitoring_exporter_package']
        plan['start'] = [EXPORTER_UNIT]
    plan['files'] = ([('peers.names.j2', plan['names_path'], '0644', None)]
                     + unit_files(units, interface))
    plan['paths'] = [entry[1] for entry in plan['files']] + [item['path'] for item in plan['copies']]
    plan['inactive'] = inactive(probe, plan['start'])
    return plan


def inactive(probe, units):
    """The ``units`` the probe did not find both enabled and active."""
    services = probe.get('services') or {}
    return [unit for unit in units if (services.get(unit) or {}).get('enabled') != 'enabled'
            or (services.get(unit) or {}).get('active') != 'active']


def option_problems(site, options):
    """Problems of the monitoring options of one site, for the preflight."""
    if options['wireguard_mesh_monitoring'] != 'exporter':
        return []
    try:
        _exporter_check(site, options)
    except MonitoringError as exc:
        return [str(exc)]
    return []
