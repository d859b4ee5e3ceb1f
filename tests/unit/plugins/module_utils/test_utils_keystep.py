# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KeyStep: a failed `wg set` after a key activation puts the key files back as they were."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils.keypair import KeyStep


class Module(object):
    """The part of AnsibleModule KeyPair uses; files the test writes are already 0600 and the test's own."""
    check_mode = False
    _diff = False
    params = {}

    def load_file_common_arguments(self, params, path=None):
        return dict(params, path=path)

    def set_fs_attributes_if_different(self, file_args, changed):
        return changed

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text + '\n')


@pytest.mark.parametrize('had_key', [True, False], ids=['replacing-a-key', 'first-key'])
def test_undo_restores_the_files_before_the_activation(tmp_path, had_key):
    path = str(tmp_path / 'wg0.key')
    old, new = keys.generate_private_key(), keys.generate_private_key()
    if had_key:
        write(path, old)
    write(path + '.next', new)
    step = KeyStep(Module(), path, 'activate')
    assert step.public_key_after() == keys.public_key_from_private(new)
    assert step.apply() is True
    assert open(path).read().strip() == new and not os.path.exists(path + '.next')
    step.undo()
    assert open(path + '.next').read().strip() == new
    assert sorted(os.listdir(str(tmp_path))) == (['wg0.key', 'wg0.key.next'] if had_key else ['wg0.key.next'])
    if had_key:
        assert open(path).read().strip() == old


def test_undo_of_a_step_that_did_nothing_touches_nothing(tmp_path):
    path = str(tmp_path / 'wg0.key')
    write(path, keys.generate_private_key())
    step = KeyStep(Module(), path, 'activate')
    assert step.apply() is False
    step.undo()
    assert os.listdir(str(tmp_path)) == ['wg0.key']
