# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nftables backend's script (wgmesh-firewall-nft.py, run by wg-quick) as the node plan
renders it, run against a fake `nft` that prints a given ruleset and records what it is fed."""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import fresh_probe, mesh, node_of

SCRIPT = '/etc/wireguard/wgmesh-firewall-nft.py'
TAG = 'wgmesh:wg0'


@pytest.fixture(scope='module')
def script():
    node = node_of('dublin', mesh(), fresh_probe('dublin'))
    return next(item['content'] for item in node['writes'] if item['path'] == SCRIPT)


def chain(family, table, name, hook, policy='drop', kind='filter'):
    return {'chain': {'family': family, 'table': table, 'name': name, 'handle': 1, 'type': kind, 'hook': hook,
                      'prio': 0, 'policy': policy}}


def rule(family, table, name, handle, comment=None):
    entry = {'family': family, 'table': table, 'chain': name, 'handle': handle, 'expr': []}
    if comment:
        entry['comment'] = comment
    return {'rule': entry}


def run(tmp_path, script, action, items, fail_first=False):
    """The script's exit code and the batches it gave `nft -f -`."""
    (tmp_path / 'ruleset.json').write_text(json.dumps({'nftables': [{'metainfo': {}}] + items}))
    fake = tmp_path / 'nft'
    fake.write_text('#!%s\nimport os, sys\nd = %r\nif sys.argv[1:] == ["-j", "list", "ruleset"]:\n'
                    '    sys.stdout.write(open(os.path.join(d, "ruleset.json")).read())\nelse:\n'
                    '    n = len([f for f in os.listdir(d) if f.startswith("batch")])\n'
                    '    open(os.path.join(d, "batch%%d" %% n), "w").write(sys.stdin.read())\n'
                    '    sys.exit(1 if %r and n == 0 else 0)\n' % (sys.executable, str(tmp_path), fail_first))
    fake.chmod(0o755)
    table = tmp_path / 'table.nft'
    table.write_text('table inet wgmesh\n')
    (tmp_path / 'script.py').write_text(script.replace('/etc/wireguard/wgmesh-firewall.nft', str(table)))
    env = dict(os.environ, PATH='%s:%s' % (tmp_path, os.environ['PATH']))
    proc = subprocess.run([sys.executable, str(tmp_path / 'script.py'), action], env=env, capture_output=True, text=True,
                          check=False)
    batches = [(tmp_path / name).read_text() for name in sorted(os.listdir(str(tmp_path))) if name.startswith('batch')]
    return proc.returncode, batches


ADMIN = [
    chain('inet', 'filter', 'input', 'input'), chain('inet', 'filter', 'forward', 'forward'),
    chain('ip', 'edge', 'routed', 'forward'),
    # An admin's own chain named like iptables' in an inet table is the admin's: it gets the rules.
    chain('inet', 'filter', 'INPUT', 'input', policy='accept'),
    # iptables-nft's chains, the role's own table, other hooks and types: left alone.
    chain('ip', 'filter', 'INPUT', 'input'), chain('ip', 'mangle', 'FORWARD', 'forward', policy='accept'),
    chain('ip6', 'filter', 'FORWARD', 'forward'), chain('inet', 'wgmesh', 'input', 'input', policy='accept'),
    chain('inet', 'filter', 'output', 'output'), chain('ip', 'nat', 'prein', 'input', kind='nat'),
]


def test_up_puts_the_rules_first_in_the_admin_chains_only(tmp_path, script):
    rc, batches = run(tmp_path, script, 'up', ADMIN + [rule('inet', 'filter', 'input', 7, TAG),
                                                       rule('inet', 'filter', 'input', 8)])
    assert rc == 0 and len(batches) == 1
    lines = [line for line in batches[0].splitlines() if line]
    assert lines[0] == 'table inet wgmesh'
    assert lines[1:] == [
        'delete rule inet filter input handle 7',
        'insert rule inet filter input udp dport 51820 accept comment "%s"' % TAG,
        'insert rule inet filter forward oifname "wg0" accept comment "%s"' % TAG,
        'insert rule inet filter forward iifname "wg0" accept comment "%s"' % TAG,
        'insert rule ip edge routed oifname "wg0" accept comment "%s"' % TAG,
        'insert rule ip edge routed iifname "wg0" accept comment "%s"' % TAG,
        'insert rule inet filter INPUT udp dport 51820 accept comment "%s"' % TAG,
    ]


def test_down_removes_only_the_tagged_rules(tmp_path, script):
    rc, batches = run(tmp_path, script, 'down', ADMIN + [rule('inet', 'filter', 'forward', 3, TAG),
                                                         rule('inet', 'filter', 'forward', 4, 'wgmesh:wg1'),
                                                         rule('inet', 'filter', 'forward', 5)])
    assert rc == 0 and batches == ['delete rule inet filter forward handle 3\n']
    assert run(tmp_path, script, 'down', ADMIN)[1] == batches  # nothing tagged: no new batch


@pytest.mark.parametrize('rules,table,expected', [
    ([('inet', 'filter', 'input', [TAG]), ('inet', 'filter', 'forward', [TAG, TAG, None])], True, 0),
    ([('inet', 'filter', 'input', [TAG]), ('inet', 'filter', 'forward', [TAG, TAG])], False, 1),
    ([('inet', 'filter', 'input', [TAG]), ('inet', 'filter', 'forward', [TAG])], True, 1),
    ([('inet', 'filter', 'input', [None, TAG]), ('inet', 'filter', 'forward', [TAG, TAG])], True, 1),
    ([('inet', 'filter', 'input', [TAG, TAG]), ('inet', 'filter', 'forward', [TAG, TAG])], True, 1),
    ([('inet', 'filter', 'input', [TAG])], True, 1),
], ids=['in-place', 'no-table', 'forward-half', 'not-first', 'twice', 'chain-without'])
def test_check_wants_exactly_the_rules_first_in_every_chain(tmp_path, script, rules, table, expected):
    items = [chain('inet', 'filter', 'input', 'input'), chain('inet', 'filter', 'forward', 'forward')]
    if table:
        items.append({'table': {'family': 'inet', 'name': 'wgmesh', 'handle': 9}})
    handle = 10
    for family, table_name, name, comments in rules:
        for comment in comments:
            items.append(rule(family, table_name, name, handle, comment))
            handle += 1
    assert run(tmp_path, script, 'check', items)[0] == expected


def test_a_ruleset_that_changed_under_it_is_read_again_once(tmp_path, script):
    rc, batches = run(tmp_path, script, 'up', ADMIN, fail_first=True)
    assert rc == 0 and len(batches) == 2 and batches[0] == batches[1]
