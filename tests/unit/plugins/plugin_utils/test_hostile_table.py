# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/hostile-values.md is current and accepts nothing hostile; the forms the values must take."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.plan import unsafe_option_problems
from ansible_collections.wgmesh.wireguard.tests.unit.checkout import needs_checkout

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))


@needs_checkout
def test_the_table_is_current_and_refuses_every_hostile_value():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'hostile-table.py'), '--check'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, 'docs/hostile-values.md is stale: run scripts/hostile-table.py (%s)' % proc.stdout
    with open(os.path.join(ROOT, 'docs', 'hostile-values.md')) as handle:
        text = handle.read()
    assert '**accepted**' not in text and text.count('| refused |') >= 30
    assert not any(c in text for c in '\x00\x1b\r'), 'a raw control character in the table'


@pytest.mark.parametrize('name, value', [
    ('wireguard_mesh_wireguard_go_package', 'wireguard-go'),
    ('wireguard_mesh_wireguard_go_package', 'wireguard-go=0.0.20230223-1'),
    ('wireguard_mesh_wireguard_go_package', '/srv/pkgs/wireguard-go_0.0.2023_amd64.deb'),
    ('wireguard_mesh_monitoring_exporter_package', 'https://example.com/pool/w/wireguard-exporter_0.3.0-1_amd64.deb'),
    ('wireguard_mesh_monitoring_exporter_url',
     'https://github.com/mdlayher/wireguard_exporter/releases/download/v0.3.0/wireguard_exporter_0.3.0_linux_amd64.tar.gz'),
    ('wireguard_mesh_monitoring_exporter_url', 'https://example.com/dl?file=x&arch=amd64'),
    ('wireguard_mesh_monitoring_exporter_checksum', 'sha256:' + '9f86d081884c7d65' * 4),
    ('wireguard_mesh_monitoring_exporter_checksum', 'sha256:https://example.com/SHA256SUMS'),
    ('wireguard_mesh_firewalld_zone', 'internal'),
    ('wireguard_mesh_firewalld_zone', 'wg-mesh_1'),
])
def test_usual_values_pass(name, value):
    assert unsafe_option_problems('dublin', {name: value}) == []


@pytest.mark.parametrize('name, value, fragment', [
    ('wireguard_mesh_wireguard_go_package', 'wireguard-go; reboot', 'a package name'),
    ('wireguard_mesh_monitoring_exporter_url', 'http://x/a b', 'percent-encoded'),
    ('wireguard_mesh_monitoring_exporter_url', 'javascript:alert(1)', 'an http(s), ftp or file URL'),
    ('wireguard_mesh_monitoring_exporter_checksum', 'sha256:xyz', 'ALGORITHM:HEX'),
    ('wireguard_mesh_monitoring_exporter_checksum', 'crc32:deadbeef', 'ALGORITHM:HEX'),
    ('wireguard_mesh_firewalld_zone', 'a' * 18, 'firewalld zone name'),
    ('wireguard_mesh_firewalld_zone', 'dmz"/><zone', 'firewalld zone name'),
])
def test_other_forms_are_refused_with_the_form_expected(name, value, fragment):
    problems = unsafe_option_problems('dublin', {name: value})
    assert len(problems) == 1 and problems[0].startswith("site 'dublin': %s " % name) and fragment in problems[0]
