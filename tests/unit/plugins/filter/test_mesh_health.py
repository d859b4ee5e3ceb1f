# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mesh_health: every pair judged from both ends; the health playbook's default threshold is 180 s."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.filter.health import FilterModule

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
mesh_health = FilterModule().filters()['mesh_health']
SITES = ['dublin', 'frankfurt', 'newyork']
KEYS = {'dublin': 'KD', 'frankfurt': 'KF', 'newyork': 'KN'}


def peer(key, age=30, rx=1000, tx=2000):
    never = age is None
    return {'public_key': key, 'latest_handshake': 0 if never else 1700000000 - age,
            'latest_handshake_age': age, 'handshake_never': never, 'rx_bytes': rx, 'tx_bytes': tx}


def healthy(age=30):
    return dict((site, {'exists': True, 'peers': [peer(KEYS[other], age) for other in SITES if other != site]})
                for site in SITES)


def statuses(result):
    return dict(((row['site'], row['peer']), row['status']) for row in result['rows'])


def test_healthy_mesh():
    result = mesh_health(SITES, healthy(), KEYS)
    assert result['ok'] is True
    assert result['pairs'] == 3 and result['bad_pairs'] == []
    assert set(statuses(result).values()) == {'ok'}
    assert len(result['rows']) == 6
    assert result['summary'] == 'wgmesh health OK: 3 sites, 3 pairs, oldest handshake 30 s (threshold 180 s)'
    assert result['table'][0].split() == ['site', 'peer', 'status', 'handshake', 'received', 'sent']
    assert result['table'][1].split() == ['dublin', 'frankfurt', 'ok', '30', 's', 'ago', '1000', 'B', '2.0', 'KiB']


def test_default_threshold_is_the_guides_180_s():
    assert mesh_health(SITES, healthy(age=180), KEYS)['ok'] is True
    result = mesh_health(SITES, healthy(age=181), KEYS)
    assert result['ok'] is False and result['max_age'] == 180
    with open(os.path.join(ROOT, 'roles', 'wireguard_mesh', 'defaults', 'main.yml')) as f:
        defaults = yaml.safe_load(f)
    assert defaults['wireguard_mesh_health_max_age'] == 180
    assert defaults['wireguard_mesh_health_summary'] is False


def test_one_stale_direction_makes_the_pair_bad():
    infos = healthy()
    infos['dublin']['peers'][0] = peer('KF', age=200)
    result = mesh_health(SITES, infos, KEYS)
    assert result['ok'] is False
    assert result['bad_pairs'] == [['dublin', 'frankfurt']]
    assert statuses(result)[('dublin', 'frankfurt')] == 'stale'
    assert statuses(result)[('frankfurt', 'dublin')] == 'ok'
    assert result['summary'] == ('wgmesh health FAIL: 1 of 3 pairs stale or missing (threshold 180 s): '
                                 'dublin<->frankfurt (dublin->frankfurt stale 200s)')
    assert 'STALE' in result['table'][1]


def test_lower_threshold():
    assert mesh_health(SITES, healthy(age=100), KEYS, max_age=90)['bad_pairs'] == [
        ['dublin', 'frankfurt'], ['dublin', 'newyork'], ['frankfurt', 'newyork']]


def test_never_missing_down_and_unreachable():
    infos = healthy()
    infos['dublin']['peers'] = [peer('KF', age=None)]  # newyork missing, frankfurt never
    infos['frankfurt'] = {'exists': False, 'peers': []}
    del infos['newyork']
    result = mesh_health(SITES, infos, KEYS)
    got = statuses(result)
    assert got[('dublin', 'frankfurt')] == 'never'
    assert got[('dublin', 'newyork')] == 'missing'
    assert got[('frankfurt', 'dublin')] == 'down'
    assert got[('newyork', 'dublin')] == 'unreachable'
    assert result['bad_pairs'] == [['dublin', 'frankfurt'], ['dublin', 'newyork'], ['frankfurt', 'newyork']]


def test_unknown_public_key_is_missing():
    keys = dict(KEYS, newyork=None)
    result = mesh_health(SITES, healthy(), keys)
    assert statuses(result)[('dublin', 'newyork')] == 'missing'


def test_site_dicts_of_the_mesh_model_are_accepted():
    result = mesh_health([{'name': site} for site in SITES], healthy(), KEYS)
    assert result['ok'] is True


@pytest.mark.parametrize('args, message', [
    (('dublin', {}, {}), 'sites must be a list'),
    ((SITES, [], {}), 'infos and public_keys must be dicts'),
    (([{'x': 1}], {}, {}), 'every site needs a name'),
])
def test_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mesh_health(*args)


def test_bad_threshold():
    with pytest.raises(AnsibleFilterError, match='max_age must be at least 1'):
        mesh_health(SITES, healthy(), KEYS, max_age=0)
    with pytest.raises(AnsibleFilterError, match='max_age must be an integer'):
        mesh_health(SITES, healthy(), KEYS, max_age='soon')
