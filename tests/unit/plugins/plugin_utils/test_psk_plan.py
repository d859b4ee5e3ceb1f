# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/psk_plan.py: fresh PSKs come from module_utils/keys, read PSKs are checked like keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model, psk_plan

PAIRS = [['a', 'b'], ['a', 'c'], ['b', 'c']]
FRESH = dict((n, dict((p, None) for p in 'abc' if p != n)) for n in 'abc')


def test_fresh_psks_are_generated_by_module_utils_keys(monkeypatch):
    counter = itertools.count(1)
    generated = []

    def fake_generate_psk():
        generated.append(keys.encode_key(bytes([next(counter)]) * 32))
        return generated[-1]

    monkeypatch.setattr(keys, 'generate_psk', fake_generate_psk)
    writes = psk_plan.psk_writes(PAIRS, FRESH, {})
    assert len(generated) == 3
    assert writes == {
        'a': [{'name': 'b', 'psk': generated[0]}, {'name': 'c', 'psk': generated[1]}],
        'b': [{'name': 'a', 'psk': generated[0]}, {'name': 'c', 'psk': generated[2]}],
        'c': [{'name': 'a', 'psk': generated[1]}, {'name': 'b', 'psk': generated[2]}],
    }


def test_fresh_psks_are_valid_and_distinct():
    values = [w['psk'] for ws in psk_plan.psk_writes(PAIRS, FRESH, {}).values() for w in ws]
    assert len(values) == 6 and len(set(values)) == 3
    assert all(model.valid_key(v) and len(keys.validate_key(v)) == 32 for v in values)


@pytest.mark.parametrize('read', [None, '', 'short', keys.generate_psk() + '\n', ' ' + keys.generate_psk(),
                                  'x' * 43 + '=', 5],
                         ids=['none', 'empty', 'short', 'newline', 'space', 'not-a-key', 'int'])
def test_a_read_psk_must_be_a_key_exactly_as_wg_prints_it(read):
    reports = {'a': {'b': 'fp1'}, 'b': {'a': None}}
    with pytest.raises(model.MeshError) as info:
        psk_plan.psk_writes([['a', 'b']], reports, {'a': {'b': read}})
    assert str(info.value).startswith("no valid PSK was read from site 'a' for its peer 'b'")
    if read:
        assert str(read).strip() not in str(info.value)


def test_pairs_are_checked_before_anything_is_generated(monkeypatch):
    monkeypatch.setattr(keys, 'generate_psk', lambda: pytest.fail('generated before the pairs were checked'))
    with pytest.raises(model.MeshError, match='^every pair must be a list of two site names'):
        psk_plan.psk_writes([['a', 'b'], ['a']], FRESH, {})


def test_psk_peers_refuses_a_string():
    with pytest.raises(model.MeshError, match="^expected a list of site names, got the string 'ab'"):
        psk_plan.psk_peers('ab')
