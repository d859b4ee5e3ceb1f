# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's mesh-wide steps: the inventory (mesh), the public keys (keys) and the PSKs (psk)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys as wgkeys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import plan

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import PUBLIC, SITES, converged_probe, mesh


@pytest.fixture(scope='module')
def lab():
    return mesh()


def test_the_lab_mesh(lab):
    assert lab['problems'] == [] and lab['mtu'] == 1340
    assert lab['site_names'] == ['dublin', 'frankfurt', 'newyork']
    assert lab['settings'] == {'network': '10.99.0.0/24', 'network6': '', 'interface': 'wg0', 'keepalive': 25, 'mtu': 0}
    assert 'wg0.conf' in lab['watch']['files'] and '/etc/sysctl.d/99-wireguard.conf' in lab['watch']['files']
    assert lab['watch']['units'] == ['wireguard-mesh-textfile-wg0.timer', 'wireguard-mesh-textfile-wg0.service',
                                     'wireguard-exporter.service', 'wireguard-mesh-endpoints-wg0.timer',
                                     'wireguard-mesh-endpoints-wg0.service']
    assert lab['watch']['services'][:3] == ['wireguard-mesh-textfile-wg0.timer', 'wireguard-mesh-endpoints-wg0.timer',
                                            'wireguard-exporter.service']


@pytest.mark.parametrize('var,value,message', [
    ('wireguard_mesh_firewall', 'pf', "site 'frankfurt': value of wireguard_mesh_firewall must be one of: auto, "
                                      "firewalld, nftables, ufw, iptables, none, got: pf"),
    ('wireguard_mesh_monitoring', 'prometheus', "site 'frankfurt': value of wireguard_mesh_monitoring must be one of: "
                                                "none, textfile, exporter, got: prometheus"),
    ('wireguard_mesh_masquerade', 'sometimes', "site 'frankfurt': wireguard_mesh_masquerade 'sometimes' is not a boolean: use true or false"),
    ('wireguard_mesh_monitoring', 'exporter', "site 'frankfurt': wireguard_mesh_monitoring is 'exporter', but "
                                              "wireguard_exporter is not packaged"),
])
def test_per_site_options_are_checked_against_the_role_spec_before_any_site_is_contacted(var, value, message):
    problems = mesh(frankfurt={var: value})['problems']
    assert len(problems) == 1 and problems[0].startswith(message), problems


@pytest.mark.parametrize('var,value', [
    ('wireguard_mesh_config_dir', '/etc/wire guard'),
    ('wireguard_mesh_config_dir', '/etc/wireguard;touch /tmp/x'),
    ('wireguard_mesh_config_dir', '/etc/$(id)'),
    ('wireguard_mesh_config_dir', "/etc/'wg'"),
    ('wireguard_mesh_config_dir', 'etc/wireguard'),
    ('wireguard_mesh_config_dir', '/etc/../tmp'),
    ('wireguard_mesh_config_dir', '/etc/wireguard\n'),
    ('wireguard_mesh_config_dir', '/etc/wïreguard'),
    ('wireguard_mesh_monitoring_textfile_dir', '/var/lib/node exporter'),
    ('wireguard_mesh_monitoring_exporter_binary', '/usr/bin/x`id`'),
    ('wireguard_mesh_monitoring_exporter_address', ':9586 -web.config /tmp/x'),
    ('wireguard_mesh_monitoring_exporter_address', '$(id):9586'),
    ('wireguard_mesh_wireguard_go_package', 'wireguard-go\nevil'),
])
def test_values_that_reach_a_shell_or_a_unit_are_refused(var, value):
    problems = mesh(frankfurt={var: value})['problems']
    assert len(problems) >= 1 and all(p.startswith("site 'frankfurt': %s " % var) for p in problems), problems
    assert 'control character' in problems[0] if '\n' in value else 'control character' not in problems[0]


@pytest.mark.parametrize('var,value', [
    ('wireguard_mesh_config_dir', '/etc/wireguard'),
    ('wireguard_mesh_config_dir', '/srv/wg-mesh_1.d/'),
    ('wireguard_mesh_monitoring_exporter_address', ':9586'),
    ('wireguard_mesh_monitoring_exporter_address', '10.99.0.1:9586'),
    ('wireguard_mesh_monitoring_exporter_address', '[fd99::1]:9586'),
])
def test_plain_paths_and_addresses_pass(var, value):
    assert mesh(frankfurt={var: value})['problems'] == []


def test_a_mesh_wide_setting_a_site_overrides_is_a_problem():
    problems = mesh(newyork={'wireguard_mesh_interface': 'wg1'})['problems']
    assert problems == ["wireguard_mesh_interface differs between the sites (wg0 on 'dublin' and 'frankfurt'; wg1 on "
                        "'newyork'): it is mesh-wide; set it once for the whole group, not per host."]


def probes(lab, **changes):
    out = dict((name, converged_probe(name, lab)) for name in SITES)
    out.update(changes)
    return out


def test_keys_of_a_converged_mesh(lab):
    result = plan.keys(lab['site_names'], probes(lab))
    assert result['public_keys'] == PUBLIC and result['reached'] == sorted(SITES)
    assert result['unreached'] == [] and result['unknown'] == [] and result['problems'] == []
    assert result['psk_read'] == {} and result['psk_todo'] is False


@pytest.mark.parametrize('down', [None, {'unreachable': True, 'msg': 'ssh: connect to host'},
                                  {'failed': True, 'msg': 'boom'}])
def test_a_site_not_reached_keeps_the_key_its_peers_configs_hold(lab, down):
    result = plan.keys(lab['site_names'], probes(lab, newyork=down))
    assert result['public_keys'] == PUBLIC
    assert result['unreached'] == ['newyork'] and result['learned'] == ['newyork'] and result['unknown'] == []
    assert result['problems'] == [] and result['psk_todo'] is False


def test_a_site_never_deployed_and_not_reached_has_no_key(lab):
    fresh = dict((name, converged_probe(name, lab)) for name in ('dublin', 'frankfurt'))
    for probe in fresh.values():
        probe['config_peers'].pop('newyork')
    result = plan.keys(lab['site_names'], fresh)
    assert result['unknown'] == ['newyork'] and 'newyork' not in result['public_keys'] and result['problems'] == []


def test_sites_that_disagree_on_a_down_sites_key_are_a_problem(lab):
    all_probes = probes(lab, newyork=None)
    all_probes['frankfurt']['config_peers']['newyork'] = wgkeys.public_key_from_private(wgkeys.generate_private_key())
    result = plan.keys(lab['site_names'], all_probes)
    assert 'newyork' not in result['public_keys']
    assert result['problems'][0].startswith("site 'newyork' was not reached and the other sites' configs name "
                                            "different public keys for it")


def test_two_sites_with_one_key_are_a_problem(lab):
    all_probes = probes(lab)
    all_probes['newyork']['key']['public_key'] = PUBLIC['dublin']
    result = plan.keys(lab['site_names'], all_probes)
    assert result['problems'] == ["sites 'dublin' and 'newyork' use the same public key: every site needs its own "
                                  "key pair; remove the key file of all but one of them (wg_keypair makes a new one) "
                                  "and run again."]


def test_a_key_made_this_run_wins_over_the_probe(lab):
    all_probes = probes(lab)
    all_probes['dublin']['key'] = {'exists': False, 'public_key': None, 'ok': False}
    made = wgkeys.public_key_from_private(wgkeys.generate_private_key())
    result = plan.keys(lab['site_names'], all_probes, {'dublin': {'public_key': made}})
    assert result['public_keys']['dublin'] == made


def test_psk_work_for_a_new_pair_and_a_one_sided_pair(lab):
    all_probes = probes(lab)
    del all_probes['dublin']['psks']['frankfurt'], all_probes['frankfurt']['psks']['dublin']
    del all_probes['newyork']['psks']['dublin']
    result = plan.keys(lab['site_names'], all_probes)
    assert result['psk_todo'] is True and result['psk_read'] == {'dublin': ['newyork']}
    files = plan.psk_files(lab['site_names'], all_probes, {'dublin': {'newyork': wgkeys.generate_psk()}},
                           ['dublin', 'frankfurt', 'newyork'])
    written = dict((site, dict((item['name'], item['psk']) for item in items if 'psk' in item))
                   for site, items in files['psk_peers'].items())
    assert sorted(written['dublin']) == ['frankfurt'] and sorted(written['frankfurt']) == ['dublin']
    assert written['dublin']['frankfurt'] == written['frankfurt']['dublin']
    assert list(written['newyork']) == ['dublin']
    assert [item['name'] for item in files['psk_peers']['newyork']] == ['dublin', 'frankfurt']
    assert files['outside'] == []
    files = plan.psk_files(lab['site_names'], all_probes, {'dublin': {'newyork': wgkeys.generate_psk()}}, ['dublin'])
    assert files['outside'] == ['frankfurt', 'newyork']


def test_no_psk_is_planned_for_a_pair_with_an_end_not_reached(lab):
    all_probes = probes(lab, newyork=None)
    del all_probes['dublin']['psks']['newyork']
    assert plan.keys(lab['site_names'], all_probes)['psk_todo'] is False
    files = plan.psk_files(lab['site_names'], all_probes, {}, list(SITES))
    assert sorted(files['psk_peers']) == ['dublin', 'frankfurt']
    assert not [item for items in files['psk_peers'].values() for item in items if 'psk' in item]


def test_a_mesh_built_by_hand_keeps_the_psks_its_interfaces_use(lab):
    """No PSK file anywhere; the live interfaces agree on dublin+frankfurt and dublin+newyork, not on
    frankfurt+newyork: the first two are taken from the interfaces, the third gets a fresh PSK."""
    all_probes = probes(lab)
    for probe in all_probes.values():
        probe['psks'] = {}
    same = {('dublin', 'frankfurt'): 'sha256:aaaa', ('dublin', 'newyork'): 'sha256:bbbb'}
    for site, probe in all_probes.items():
        probe['interface']['psk_fingerprints'] = dict(
            (PUBLIC[peer], same.get(tuple(sorted((site, peer))), 'sha256:%s-%s' % (site, peer)))
            for peer in SITES if peer != site)
    result = plan.keys(lab['site_names'], all_probes)
    assert result['psk_adopt'] == {'dublin': {'frankfurt': PUBLIC['frankfurt'], 'newyork': PUBLIC['newyork']},
                                   'frankfurt': {'dublin': PUBLIC['dublin']}, 'newyork': {'dublin': PUBLIC['dublin']}}
    assert result['psk_todo'] is True and result['psk_read'] == {}
    files = plan.psk_files(lab['site_names'], all_probes, {}, list(SITES), result['psk_adopt'])
    peers = files['psk_peers']
    assert peers['dublin'] == [{'name': 'frankfurt', 'public_key': PUBLIC['frankfurt']},
                               {'name': 'newyork', 'public_key': PUBLIC['newyork']}]
    assert peers['frankfurt'][0] == {'name': 'dublin', 'public_key': PUBLIC['dublin']}
    assert peers['frankfurt'][1]['name'] == 'newyork' and peers['frankfurt'][1]['psk'] == peers['newyork'][1]['psk']
    # All pairs agreeing live: nothing left to generate, and the node plan takes them from the interface.
    for probe in all_probes.values():
        probe['interface']['psk_fingerprints'] = dict((key, 'sha256:same') for key in PUBLIC.values())
    result = plan.keys(lab['site_names'], all_probes)
    assert result['psk_todo'] is False and sorted(result['psk_adopt']) == sorted(SITES)
    # A pair with a PSK file at one end is reconciled from the file, never adopted.
    all_probes['dublin']['psks'] = {'frankfurt': {'fingerprint': 'sha256:file'}}
    assert 'frankfurt' not in plan.keys(lab['site_names'], all_probes)['psk_adopt']['dublin']
