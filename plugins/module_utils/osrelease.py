# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's distribution from os-release, named as Ansible's facts name it (the role gathers
no facts: wg_probe reports this)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

OS_RELEASE_PATHS = ('/etc/os-release', '/usr/lib/os-release')
# Ansible's names (distribution, os_family) of the distributions the role knows by ID.
OS_NAMES = {
    'debian': ('Debian', 'Debian'),
    'ubuntu': ('Ubuntu', 'Debian'),
    'rhel': ('RedHat', 'RedHat'),
    'rocky': ('Rocky', 'RedHat'),
    'almalinux': ('AlmaLinux', 'RedHat'),
    'centos': ('CentOS', 'RedHat'),
    'fedora': ('Fedora', 'RedHat'),
}


def parse_os_release(text):
    """``{id, id_like, version_id}`` of os-release text ('' when a field is missing)."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition('=')
        if not sep or name.startswith('#'):
            continue
        try:
            value = ' '.join(shlex.split(value))
        except ValueError:
            value = value.strip('"\'')
        fields[name.strip()] = value
    return dict(id=fields.get('ID', ''), id_like=fields.get('ID_LIKE', ''), version_id=fields.get('VERSION_ID', ''))


def os_names(os_id, id_like, version_id):
    """``{distribution, family, major}`` as Ansible's facts name them (the role's own fallback rule)."""
    if os_id in OS_NAMES:
        distribution, family = OS_NAMES[os_id]
    else:
        distribution = os_id.capitalize()
        if re.search('rhel|fedora', id_like):
            family = 'RedHat'
        elif re.search('debian', id_like):
            family = 'Debian'
        else:
            family = distribution
    return dict(distribution=distribution, family=family, major=version_id.split('.')[0])


def read_os(paths=OS_RELEASE_PATHS):
    """The node's distribution from the first readable os-release file."""
    text = ''
    for path in paths:
        try:
            with open(path, 'rb') as handle:
                text = handle.read(65536).decode('utf-8', 'replace')
            break
        except (IOError, OSError):
            continue
    result = parse_os_release(text)
    result.update(os_names(result['id'], result['id_like'], result['version_id']))
    return result
