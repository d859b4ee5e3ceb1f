# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_keypair on real files: idempotence, modes, rotation, no secret in any output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.modules.module_harness import ansible_cli, needs_ansible_cli, needs_root_and, run_module

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys

needs_wg = pytest.mark.skipif(shutil.which('wg') is None, reason='wg (wireguard-tools) is not installed')


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path) as f:
        return f.read().strip()


def assert_no_secret(result, *paths):
    for path in paths:
        if os.path.exists(path):
            assert read(path) not in result.stdout
            assert read(path) not in result.stderr


def test_check_apply_check_apply(tmp_path):
    path = str(tmp_path / 'etc' / 'wg0.key')
    args = dict(path=path)
    first = run_module('wg_keypair', args, check=True, diff=True)
    assert first['changed'] is True and first['public_key'] is None
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))
    applied = run_module('wg_keypair', args, diff=True)
    assert applied['changed'] is True
    assert applied['public_key'] == keys.public_key_from_private(read(path))
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700
    assert 'absent' in applied['diff']['before'] and applied['public_key'] in applied['diff']['after']
    again_check = run_module('wg_keypair', args, check=True)
    again = run_module('wg_keypair', args)
    assert again_check['changed'] is False and again['changed'] is False
    assert again['public_key'] == again_check['public_key'] == applied['public_key']
    for result in (first, applied, again_check, again):
        assert_no_secret(result, path)


@needs_wg
def test_public_key_equals_wg_pubkey(tmp_path):
    path = str(tmp_path / 'wg0.key')
    result = run_module('wg_keypair', dict(path=path))
    with open(path, 'rb') as f:
        expected = subprocess.run(['wg', 'pubkey'], stdin=f, stdout=subprocess.PIPE, check=True).stdout.decode()
    assert result['public_key'] == expected.strip()


def test_existing_key_is_kept_and_mode_fixed(tmp_path):
    path = str(tmp_path / 'wg0.key')
    private = keys.generate_private_key()
    with open(path, 'w') as f:
        f.write(private + '\n')
    os.chmod(path, 0o644)
    check = run_module('wg_keypair', dict(path=path), check=True)
    assert check['changed'] is True and mode(path) == 0o644
    result = run_module('wg_keypair', dict(path=path))
    assert result['changed'] is True and mode(path) == 0o600
    assert read(path) == private
    assert result['public_key'] == keys.public_key_from_private(private)
    assert run_module('wg_keypair', dict(path=path))['changed'] is False


@pytest.mark.parametrize('content,fragment', [
    ('not a key\n', 'wrong length'),
    ('!' * 43 + '=\n', 'not valid base64'),
    ('', 'is empty'),
])
def test_invalid_file_fails_and_is_never_replaced(tmp_path, content, fragment):
    path = str(tmp_path / 'wg0.key')
    with open(path, 'w') as f:
        f.write(content)
    result = run_module('wg_keypair', dict(path=path))
    assert result.failed and result.rc != 0
    assert fragment in result['msg'] and 'never replaces' in result['msg'] and path in result['msg']
    with open(path) as f:
        assert f.read() == content


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads any file, so an unreadable key cannot be made')
def test_unreadable_file_fails_with_advice(tmp_path):
    path = str(tmp_path / 'wg0.key')
    with open(path, 'w') as f:
        f.write(keys.generate_private_key())
    os.chmod(path, 0)
    result = run_module('wg_keypair', dict(path=path))
    assert result.failed and 'become' in result['msg']


def test_directory_path_fails_clearly(tmp_path):
    result = run_module('wg_keypair', dict(path=str(tmp_path)))
    assert result.failed and 'is a directory' in result['msg']


def test_rotation_flow(tmp_path):
    path = str(tmp_path / 'wg0.key')
    current = run_module('wg_keypair', dict(path=path))['public_key']

    staged_check = run_module('wg_keypair', dict(path=path, rotation='stage'), check=True)
    assert staged_check['changed'] is True and not os.path.exists(path + '.next')
    staged = run_module('wg_keypair', dict(path=path, rotation='stage'), diff=True)
    assert staged['changed'] is True and staged['public_key'] == current
    new = staged['staged_public_key']
    assert new and new != current and mode(path + '.next') == 0o600
    assert run_module('wg_keypair', dict(path=path, rotation='stage'))['changed'] is False

    act_check = run_module('wg_keypair', dict(path=path, rotation='activate'), check=True)
    assert act_check['changed'] is True
    assert (act_check['public_key'], act_check['previous_public_key'], act_check['staged_public_key']) == \
        (new, current, None)
    assert os.path.exists(path + '.next')
    activated = run_module('wg_keypair', dict(path=path, rotation='activate'))
    assert (activated['public_key'], activated['previous_public_key'], activated['staged_public_key']) == \
        (new, current, None)
    assert keys.public_key_from_private(read(path)) == new
    assert keys.public_key_from_private(read(path + '.prev')) == current
    assert mode(path) == 0o600 and mode(path + '.prev') == 0o600
    assert run_module('wg_keypair', dict(path=path, rotation='activate'))['changed'] is False

    committed = run_module('wg_keypair', dict(path=path, rotation='commit'))
    assert committed['changed'] is True and committed['previous_public_key'] is None
    assert not os.path.exists(path + '.prev')
    assert run_module('wg_keypair', dict(path=path, rotation='commit'))['changed'] is False
    assert run_module('wg_keypair', dict(path=path))['public_key'] == new


def test_rotation_rollback(tmp_path):
    path = str(tmp_path / 'wg0.key')
    current = run_module('wg_keypair', dict(path=path))['public_key']
    run_module('wg_keypair', dict(path=path, rotation='stage'))
    run_module('wg_keypair', dict(path=path, rotation='activate'))
    rolled = run_module('wg_keypair', dict(path=path, rotation='rollback'), diff=True)
    assert rolled['changed'] is True and rolled['public_key'] == current
    assert rolled['previous_public_key'] is None and not os.path.exists(path + '.prev')
    assert run_module('wg_keypair', dict(path=path, rotation='rollback'))['changed'] is False


def test_activate_refuses_to_overwrite_uncommitted_prev(tmp_path):
    path = str(tmp_path / 'wg0.key')
    run_module('wg_keypair', dict(path=path, rotation='stage'))
    run_module('wg_keypair', dict(path=path, rotation='activate'))
    run_module('wg_keypair', dict(path=path, rotation='stage'))
    prev = read(path + '.prev')
    result = run_module('wg_keypair', dict(path=path, rotation='activate'))
    assert result.failed and 'rotation=commit' in result['msg'] and 'rotation=rollback' in result['msg']
    assert read(path + '.prev') == prev


def test_state_absent_removes_all_files(tmp_path):
    path = str(tmp_path / 'wg0.key')
    run_module('wg_keypair', dict(path=path, rotation='stage'))
    check = run_module('wg_keypair', dict(path=path, state='absent'), check=True)
    assert check['changed'] is True and os.path.exists(path)
    gone = run_module('wg_keypair', dict(path=path, state='absent'))
    assert gone['changed'] is True and gone['public_key'] is None
    assert not os.path.exists(path) and not os.path.exists(path + '.next')
    assert run_module('wg_keypair', dict(path=path, state='absent'))['changed'] is False


def test_pure_python_backend_when_cryptography_is_missing(tmp_path):
    """The node may lack cryptography: the module must still produce the right key."""
    path = str(tmp_path / 'wg0.key')
    blocker = tmp_path / 'block'
    blocker.mkdir()
    (blocker / 'cryptography').mkdir()
    (blocker / 'cryptography' / '__init__.py').write_text(u'raise ImportError("blocked for the test")\n')
    result = run_module('wg_keypair', dict(path=path), pythonpath=str(blocker))
    assert result['changed'] is True
    assert result['public_key'] == keys.public_key_from_private(read(path), backend='python')


@needs_ansible_cli
def test_done_criteria_through_ansible_cli(tmp_path):
    """`ansible localhost -m wgmesh.wireguard.wg_keypair -a path=...` twice, with -vvv."""
    path = str(tmp_path / 'x' / 'wg0.key')
    first = ansible_cli('-m', 'wgmesh.wireguard.wg_keypair', '-a', 'path=%s' % path, '-vvv')
    assert first.returncode == 0, first.stdout
    assert 'CHANGED' in first.stdout
    second = ansible_cli('-m', 'wgmesh.wireguard.wg_keypair', '-a', 'path=%s' % path, '-vvv')
    assert second.returncode == 0, second.stdout
    assert 'SUCCESS' in second.stdout and '"changed": false' in second.stdout
    assert mode(path) == 0o600
    private = read(path)
    public = keys.public_key_from_private(private)
    if shutil.which('wg'):
        with open(path, 'rb') as f:
            assert subprocess.run(['wg', 'pubkey'], stdin=f, stdout=subprocess.PIPE,
                                  check=True).stdout.decode().strip() == public
    assert public in first.stdout and public in second.stdout
    assert private not in first.stdout and private not in second.stdout


@needs_ansible_cli
def test_check_and_diff_through_ansible_cli(tmp_path):
    path = str(tmp_path / 'wg0.key')
    check = ansible_cli('-m', 'wgmesh.wireguard.wg_keypair', '-a', 'path=%s rotation=stage' % path,
                        '--check', '--diff', '-vvv')
    assert check.returncode == 0 and 'CHANGED' in check.stdout, check.stdout
    assert not os.path.exists(path)
    applied = ansible_cli('-m', 'wgmesh.wireguard.wg_keypair', '-a', 'path=%s rotation=stage' % path, '--diff',
                          '-vvv')
    assert applied.returncode == 0 and 'CHANGED' in applied.stdout
    for secret_path in (path, path + '.next'):
        assert read(secret_path) not in applied.stdout


@needs_root_and('ip', 'wg', 'wireguard-go')
def test_adopt_from_keeps_the_key_a_live_interface_runs_with(wg_node, tmp_path):
    """A mesh built by hand: the interface runs with a key the role has no file of. The file gets
    that key (check mode already knows its public key), never printed; an existing file wins."""
    node = wg_node('k')
    private = keys.generate_private_key()
    hand = tmp_path / 'private.key'
    hand.write_text(private + '\n')
    node.sh('wg', 'set', node.iface, 'private-key', str(hand))
    path = str(tmp_path / 'etc' / (node.iface + '.key'))
    args = dict(path=path, adopt_from=node.iface)
    check = run_module('wg_keypair', args, check=True, netns=node.ns)
    assert check['changed'] and check['public_key'] == keys.public_key_from_private(private)
    assert not os.path.exists(path)
    result = run_module('wg_keypair', args, netns=node.ns)
    assert result['changed'] and read(path) == private and mode(path) == 0o600
    assert private not in result.stdout + result.stderr + check.stdout + check.stderr
    again = run_module('wg_keypair', args, netns=node.ns)
    assert not again['changed'] and again['public_key'] == result['public_key']
    # Without a live interface of that name: a new key, as before.
    other = str(tmp_path / 'other.key')
    fresh = run_module('wg_keypair', dict(path=other, adopt_from='wgmnosuch0'), netns=node.ns)
    assert fresh['changed'] and read(other) != private


def test_adopt_from_refuses_a_bad_interface_name(tmp_path):
    result = run_module('wg_keypair', dict(path=str(tmp_path / 'k.key'), adopt_from='x;reboot'))
    assert result.failed and 'adopt_from' in result['msg'] and not os.path.exists(str(tmp_path / 'k.key'))
