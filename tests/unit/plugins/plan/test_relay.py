# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sites behind NAT at both ends of a pair: the pair goes through a relay (a site with an endpoint)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model, plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.health import mesh_health
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.verify_report import verify_report

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import (
    PUBLIC, converged_probe, fresh_probe, mesh, node_of,
)

NAT = {'wireguard_mesh_endpoint': ''}


def site(name, endpoint='', relay='', number=1):
    return {'name': name, 'address': '10.99.0.%d' % number, 'endpoint': endpoint, 'relay': relay,
            'lan_cidrs': ['10.%d.0.0/24' % (10 * number)], 'port': 51820}


def five(**relay):
    """a and b with endpoints; c, d, e behind NAT (``relay``: site -> the relay it names)."""
    return [site(name, '192.0.2.%d' % n if name in 'ab' else '', relay.get(name, ''), n)
            for n, name in enumerate('abcde', 1)]


@pytest.mark.parametrize('relay, expected', [
    ({}, {('c', 'd'): 'a', ('c', 'e'): 'a', ('d', 'e'): 'a'}),
    ({'e': 'b'}, {('c', 'd'): 'a', ('c', 'e'): 'b', ('d', 'e'): 'b'}),
    # both name one: the site first in name order wins
    ({'c': 'a', 'd': 'b'}, {('c', 'd'): 'a', ('c', 'e'): 'a', ('d', 'e'): 'b'}),
])
def test_each_pair_behind_nat_gets_one_relay(relay, expected):
    assert model.relays(five(**relay)) == expected
    assert model.direct_pairs(five(**relay)) == [['a', 'b'], ['a', 'c'], ['a', 'd'], ['a', 'e'],
                                                 ['b', 'c'], ['b', 'd'], ['b', 'e']]


@pytest.mark.parametrize('sites', [
    [site('c'), site('d', number=2)],  # nobody has an endpoint
    five(c='d'),  # a relay behind NAT itself
    five(c='z'),  # not a site
])
def test_no_usable_relay_is_an_error(sites):
    with pytest.raises(model.MeshError, match='no site with an endpoint can relay'):
        model.relays(sites)


def test_a_site_behind_nat_holds_the_other_nat_sites_on_its_relay():
    sites = five(e='b')
    peers = dict((peer['name'], peer) for peer in model.peers(sites, 'c'))
    assert sorted(peers) == ['a', 'b']
    assert peers['a']['allowed_ips'] == ['10.99.0.1/32', '10.10.0.0/24', '10.99.0.4/32', '10.40.0.0/24']
    assert peers['b']['allowed_ips'] == ['10.99.0.2/32', '10.20.0.0/24', '10.99.0.5/32', '10.50.0.0/24']
    # the relays and the direct pairs are unchanged: a tunnel to every other site, own AllowedIPs only
    for name in 'ab':
        assert [(p['name'], p['allowed_ips']) for p in model.peers(sites, name)] == [
            (s['name'], ['10.99.0.%d/32' % n, '10.%d.0.0/24' % (10 * n)])
            for n, s in enumerate(sites, 1) if s['name'] != name]
    assert model.peers_by_site(sites)['c'] == model.peers(sites, 'c')


def test_the_plan_tells_the_pairs_and_no_psk_is_made_for_them():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    assert lab['problems'] == []
    assert lab['relayed'] == [{'sites': ['frankfurt', 'newyork'], 'relay': 'dublin'}]
    assert lab['relayed_peers'] == {'frankfurt': ['newyork'], 'newyork': ['frankfurt']}
    assert "'frankfurt' and 'newyork' have no endpoint: their traffic goes through 'dublin'" in lab['relay_notes'][0]
    assert plan.tunnel_pairs(lab['site_names'], lab['relayed']) == [['dublin', 'frankfurt'], ['dublin', 'newyork']]
    probes = dict((name, {'key': {'public_key': PUBLIC[name]}, 'psks': {}}) for name in lab['site_names'])
    files = plan.psk_files(lab['site_names'], probes, {}, lab['site_names'], relayed=lab['relayed'])
    assert [peer['name'] for peer in files['psk_peers']['frankfurt']] == ['dublin']
    assert [peer['name'] for peer in files['psk_peers']['dublin']] == ['frankfurt', 'newyork']
    # the PSK of each tunnel is the same at both ends, and there is none for the relayed pair
    psk = dict((site, dict((p['name'], p['psk']) for p in peers)) for site, peers in files['psk_peers'].items())
    assert psk['dublin']['frankfurt'] == psk['frankfurt']['dublin'] and 'newyork' not in psk['frankfurt']


def test_a_relay_set_for_the_whole_group_names_the_relay_on_itself_too():
    relay = {'wireguard_mesh_relay': 'frankfurt'}
    lab = mesh(dublin=relay, frankfurt=relay, newyork=dict(NAT, **relay))
    assert lab['problems'] == [] and lab['relayed'] == []
    lab = mesh(dublin=dict(NAT, **relay), frankfurt=relay, newyork=dict(NAT, **relay))
    assert lab['problems'] == [] and lab['relayed'] == [{'sites': ['dublin', 'newyork'], 'relay': 'frankfurt'}]


def test_a_site_behind_nat_checks_the_other_through_the_relay():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    node = node_of('frankfurt', lab, converged_probe('frankfurt', lab))
    assert [peer['name'] for peer in node['peers']] == ['dublin']
    assert node['peers'][0]['allowed_ips'] == ['10.99.0.1/32', '10.10.0.0/24', '10.99.0.3/32', '10.30.0.0/24']
    assert [p['name'] for p in node['psk_peers']] == ['dublin']
    assert node['relayed'] == [{'name': 'newyork', 'relay': 'dublin', 'relay_key': PUBLIC['dublin'],
                                'addresses': ['10.99.0.3'], 'checked': True}]
    assert node['ping'] == ['10.99.0.1', '10.99.0.3']
    assert [(c['name'], c['lan'], c['hop'], c.get('via')) for c in node['lan_checks']] == [
        ('dublin', '10.10.0.0/24', '10.99.0.1', None), ('newyork', '10.30.0.0/24', '10.99.0.1', 'dublin')]
    assert node['verify_peers'][1] == {'name': 'newyork', 'public_key': PUBLIC['dublin'],
                                       'addresses': ['10.99.0.3'], 'via': 'dublin'}
    config = node['config_file']['content']
    assert 'AllowedIPs = 10.99.0.1/32, 10.10.0.0/24, 10.99.0.3/32, 10.30.0.0/24' in config
    assert PUBLIC['newyork'] not in config
    relay = node_of('dublin', lab, converged_probe('dublin', lab))
    assert [peer['name'] for peer in relay['peers']] == ['frankfurt', 'newyork'] and relay['relayed'] == []


def test_a_relayed_site_is_not_checked_when_its_relay_was_not_reached():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    keys = {'public_keys': dict(PUBLIC), 'reached': ['frankfurt', 'newyork']}
    node = node_of('frankfurt', lab, converged_probe('frankfurt', lab), keys_plan=keys)
    assert node['relayed'][0]['checked'] is False
    assert node['ping'] == [] and node['lan_checks'] == []


def _info(peers, unanswered=(), lans=()):
    return {'exists': True, 'unanswered': list(unanswered), 'lans': list(lans), 'problems': [],
            'peers': [{'public_key': key, 'latest_handshake': 1700000000, 'latest_handshake_age': age,
                       'handshake_never': False} for key, age in peers]}


def test_verify_reports_the_relayed_direction_via_its_relay():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    plans = dict((name, node_of(name, lab, converged_probe(name, lab))['verify_peers']) for name in lab['site_names'])
    hop = {'name': 'newyork', 'lan': '10.30.0.0/24', 'first_hop': '10.99.0.1', 'direct': True, 'answered': {}}
    results = {'dublin': _info([(PUBLIC['frankfurt'], 5), (PUBLIC['newyork'], 5)]),
               'frankfurt': _info([(PUBLIC['dublin'], 5)], lans=[hop]),
               'newyork': _info([(PUBLIC['dublin'], 5)], unanswered=['10.99.0.2'])}
    report = verify_report(lab['site_names'], results, plans)
    rows = dict(((row['site'], row['peer']), row) for row in report['rows'])
    assert len(rows) == 6
    assert rows[('frankfurt', 'newyork')]['ok'] and rows[('frankfurt', 'newyork')]['via'] == 'dublin'
    assert rows[('frankfurt', 'dublin')]['ok']
    # newyork's ping to frankfurt through dublin failed: that direction only
    assert not rows[('newyork', 'frankfurt')]['ok'] and rows[('newyork', 'dublin')]['ok']
    assert 'via dublin' in '\n'.join(report['lines'])
    assert report['summary'].startswith('verify: 5 of 6 directions ok')


def test_verify_fails_a_relayed_direction_whose_relay_is_down():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    keys = {'public_keys': dict(PUBLIC), 'reached': ['frankfurt', 'newyork']}
    plans = dict((name, node_of(name, lab, converged_probe(name, lab), keys_plan=keys)['verify_peers'])
                 for name in ('frankfurt', 'newyork'))
    # dublin's last handshakes are still young: without the rule the pair would look fine
    results = dict((name, _info([(PUBLIC['dublin'], 5)])) for name in ('frankfurt', 'newyork'))
    report = verify_report(lab['site_names'], results, plans)
    assert [(row['site'], row['peer'], row['ok']) for row in report['rows']] == [
        ('frankfurt', 'newyork', False), ('newyork', 'frankfurt', False)]
    assert 'newyork: not reached, its relay dublin is down' in report['summary']


def test_health_judges_a_relayed_pair_by_both_pairs_with_the_relay():
    sites = [site('dublin', '192.0.2.1', number=1), site('frankfurt', number=2), site('newyork', number=3)]
    infos = {'dublin': _info([(PUBLIC['frankfurt'], 5), (PUBLIC['newyork'], 500)]),
             'frankfurt': _info([(PUBLIC['dublin'], 5)]),
             'newyork': _info([(PUBLIC['dublin'], 500)])}
    result = mesh_health(sites, infos, dict(PUBLIC))
    rows = dict(((row['site'], row['peer']), row) for row in result['rows'])
    assert len(rows) == 6 and result['pairs'] == 3
    assert rows[('frankfurt', 'newyork')]['via'] == 'dublin' and rows[('frankfurt', 'newyork')]['status'] == 'ok'
    assert rows[('newyork', 'frankfurt')]['status'] == 'stale'
    assert rows[('newyork', 'frankfurt')]['reason'].startswith('through dublin: ')
    # newyork's pair with the relay is stale, so is the pair it carries
    assert result['bad_pairs'] == [['dublin', 'newyork'], ['frankfurt', 'newyork']]
    assert any('newyork via dublin' in line for line in result['table'])
    infos['newyork'] = infos['dublin'] = _info([(PUBLIC['frankfurt'], 5), (PUBLIC['newyork'], 5)])
    infos['newyork'] = _info([(PUBLIC['dublin'], 5)])
    assert mesh_health(sites, infos, dict(PUBLIC))['ok']


def test_the_offline_render_makes_no_psk_for_a_relayed_pair(tmp_path):
    from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.offline import render
    from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import RENDERER
    lab = mesh(frankfurt=NAT, newyork=NAT)
    result = render(lab, str(tmp_path / 'out'), RENDERER)
    assert result['generated_psks'] == ['dublin+frankfurt', 'dublin+newyork']
    frankfurt = (tmp_path / 'out' / 'frankfurt.conf').read_text()
    assert frankfurt.count('[Peer]') == 1
    assert 'AllowedIPs = 10.99.0.1/32, 10.10.0.0/24, 10.99.0.3/32, 10.30.0.0/24' in frankfurt


def test_a_relay_sends_no_icmp_redirects():
    lab = mesh(frankfurt=NAT, newyork=NAT)
    assert 'net.ipv4.conf.wg0.send_redirects' in lab['watch']['sysctls']
    fresh = node_of('dublin', lab, fresh_probe('dublin'))
    sysctl_file = next(item for item in fresh['writes'] if item['path'] == '/etc/sysctl.d/99-wireguard.conf')
    assert 'net.ipv4.conf.all.send_redirects = 0\nnet.ipv4.conf.default.send_redirects = 0\n' in sysctl_file['content']
    probe = converged_probe('dublin', lab)
    probe['sysctls'] = dict(probe['sysctls'], **{'net.ipv4.conf.all.send_redirects': '0',
                                                 'net.ipv4.conf.default.send_redirects': '0'})
    assert node_of('dublin', lab, probe)['steps'] == []
    # a wg0 made while the default still said 1 is set live too (a missing one is left alone)
    probe['sysctls'].update({'net.ipv4.conf.wg0.send_redirects': '1', 'net.ipv4.conf.all.send_redirects': '1'})
    relay = node_of('dublin', lab, probe)
    assert relay['sysctl_apply'] == [{'key': 'net.ipv4.conf.all.send_redirects', 'value': '0'},
                                     {'key': 'net.ipv4.conf.wg0.send_redirects', 'value': '0'}]
    assert relay['steps'] == ['sysctl']
    nat_site = node_of('frankfurt', lab, fresh_probe('frankfurt'))
    assert not any('send_redirects' in item['key'] for item in nat_site['sysctls'])
