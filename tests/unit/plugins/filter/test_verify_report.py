# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify playbook's report: the matrix, the table, the failures and the throughput."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.filter.health import FilterModule

FILTERS = FilterModule().filters()
verify_report = FILTERS['verify_report']
throughput_pairs = FILTERS['throughput_pairs']

SITES = ['dublin', 'frankfurt', 'newyork']
ADDRESS = {'dublin': '10.99.0.1', 'frankfurt': '10.99.0.2', 'newyork': '10.99.0.3'}
LAN = {'dublin': '10.10.0.0/24', 'frankfurt': '10.20.0.0/24', 'newyork': '10.30.0.0/24'}


def peers_of(site):
    return [{'name': other, 'public_key': 'K-' + other, 'allowed_ips': [ADDRESS[other] + '/32', LAN[other]]}
            for other in SITES if other != site]


PEERS = dict((site, peers_of(site)) for site in SITES)


def healthy(site, age=12):
    peers = [{'public_key': 'K-' + other, 'latest_handshake': 1700000000, 'latest_handshake_age': age,
              'handshake_never': False} for other in SITES if other != site]
    lans = [{'name': other, 'lan': LAN[other], 'hop': ADDRESS[other], 'target': LAN[other][:-4] + '10',
             'first_hop': ADDRESS[other], 'direct': True, 'answered': {LAN[other][:-4] + '10': True}}
            for other in SITES if other != site]
    return {'peers': peers, 'lans': lans, 'unanswered': [], 'problems': []}


def words(lines):
    """The lines with their column padding reduced to one space."""
    return [' '.join(line.split()) for line in lines]


def test_a_healthy_mesh_gives_an_all_ok_matrix():
    report = verify_report(SITES, dict((s, healthy(s)) for s in SITES), PEERS)
    assert report['ok'] and report['summary'] == 'verify: 6 of 6 directions ok'
    assert report['lines'][:4] == [
        'from/to    dublin  frankfurt  newyork',
        'dublin     -       ok         ok',
        'frankfurt  ok      -          ok',
        'newyork    ok      ok         -',
    ]
    assert 'dublin -> frankfurt tunnel ok handshake 12s ago direct LAN hosts 1/1' in words(report['lines'])
    row = report['rows'][0]
    assert row['first_hops'] == {'10.20.0.0/24': '10.99.0.2'} and row['lan_hosts'] == {'10.20.0.10': True}
    json.dumps(report)


def test_a_blocked_pair_fails_in_both_directions_and_names_why():
    results = dict((s, healthy(s)) for s in SITES)
    results['dublin']['unanswered'] = ['10.99.0.3']
    results['dublin']['problems'] = ['no answer from 10.99.0.3', 'newyork: no handshake yet',
                                     'newyork LAN host 10.30.0.10: no answer (pinged from 10.10.0.1)']
    results['dublin']['lans'][1].update(direct=False, first_hop=None, answered={'10.30.0.10': False})
    results['newyork']['unanswered'] = ['10.99.0.1']
    results['newyork']['problems'] = ['no answer from 10.99.0.1']
    report = verify_report(SITES, results, PEERS)
    assert not report['ok']
    assert report['lines'][1] == 'dublin     -       ok         FAIL'
    assert report['lines'][3] == 'newyork    FAIL    ok         -'
    assert ('failed: dublin -> newyork (no answer from 10.99.0.3, newyork: no handshake yet, newyork LAN host '
            '10.30.0.10: no answer (pinged from 10.10.0.1)); newyork -> dublin (no answer from 10.99.0.1)'
            ) in report['summary']
    assert 'dublin -> newyork tunnel NO ANSWER handshake 12s ago NOT DIRECT LAN hosts 0/1' in words(report['lines'])


def test_a_site_that_is_down_is_named_but_does_not_fail_the_others():
    results = dict((s, healthy(s)) for s in SITES if s != 'newyork')
    report = verify_report(SITES, results, PEERS)
    assert report['ok'] and report['down'] == ['newyork']
    assert report['lines'][3] == 'newyork    down    down       -'
    assert report['summary'] == 'verify: 2 of 2 directions ok; not checked from newyork (down)'


def iperf(bps):
    return json.dumps({'end': {'sum_received': {'bits_per_second': bps}}})


def test_throughput_rows_give_rates_and_the_tunnel_to_underlay_ratio():
    runs = [{'client': 'dublin', 'server': 'frankfurt', 'tunnel': iperf(450e6), 'underlay': iperf(900e6)},
            {'client': 'dublin', 'server': 'newyork', 'tunnel': iperf(300e6), 'underlay': None},
            {'client': 'frankfurt', 'server': 'newyork', 'tunnel': json.dumps({'error': 'unable to connect'}),
             'underlay': ''}]
    report = verify_report(SITES, dict((s, healthy(s)) for s in SITES), PEERS, runs)
    speeds = report['throughput']
    assert speeds[0]['ratio'] == 0.5 and speeds[0]['tunnel_bps'] == 450e6
    assert speeds[1]['ratio'] is None and speeds[1]['underlay_error'] == 'no public endpoint to measure'
    assert speeds[2]['tunnel_error'] == 'unable to connect'
    assert 'dublin -> frankfurt tunnel 450 Mbit/s underlay 900 Mbit/s ratio 0.5' in words(report['lines'])
    assert not report['ok'] and 'frankfurt -> newyork (unable to connect)' in report['summary']


@pytest.mark.parametrize('args', [('dublin', {}, {}), (SITES, [], {}), (SITES, {}, None)])
def test_bad_input_names_the_filter(args):
    with pytest.raises(AnsibleFilterError, match='verify_report'):
        verify_report(*args)


def test_throughput_pairs_put_the_server_where_the_underlay_can_be_measured():
    sites = [{'name': 'dublin', 'address': '10.99.0.1', 'endpoint': '10.249.0.11'},
             {'name': 'frankfurt', 'address': '10.99.0.2', 'endpoint': ''},
             {'name': 'newyork', 'address': '10.99.0.3', 'endpoint': 'ny.example'},
             {'name': 'paris', 'address': '10.99.0.4', 'endpoint': '10.249.0.14'}]
    assert throughput_pairs(sites, ['dublin', 'frankfurt', 'newyork']) == [
        {'client': 'frankfurt', 'server': 'dublin', 'tunnel': '10.99.0.1', 'underlay': '10.249.0.11'},
        {'client': 'dublin', 'server': 'newyork', 'tunnel': '10.99.0.3', 'underlay': 'ny.example'},
        {'client': 'frankfurt', 'server': 'newyork', 'tunnel': '10.99.0.3', 'underlay': 'ny.example'},
    ]


def test_a_site_whose_check_could_not_run_fails_with_its_message():
    results = dict((s, healthy(s)) for s in SITES)
    results['frankfurt'] = {'failed': True, 'msg': '"wg show wg0 dump" failed (rc=1): Unable to access interface'}
    report = verify_report(SITES, results, PEERS)
    assert not report['ok'] and report['lines'][2] == 'frankfurt  FAIL    -          FAIL'
    assert 'frankfurt -> dublin ("wg show wg0 dump" failed (rc=1): Unable to access interface)' in report['summary']


def test_a_dual_stack_pair_whose_ipv6_tunnel_is_silent_fails():
    peers = dict((site, [dict(peer, allowed_ips=[peer['allowed_ips'][0], 'fd99::%s/128' % peer['name'][0],
                                                 peer['allowed_ips'][1]]) for peer in PEERS[site]]) for site in SITES)
    results = dict((s, healthy(s)) for s in SITES)
    results['dublin']['unanswered'] = ['fd99::f']
    results['dublin']['problems'] = ['no answer from fd99::f']
    report = verify_report(SITES, results, peers)
    assert not report['ok'] and report['lines'][1] == 'dublin     -       FAIL       ok'
    assert 'failed: dublin -> frankfurt (no answer from fd99::f)' in report['summary']
