# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify's LAN checks on the node: first hop of a TTL-1 echo, LAN pings from the site's own LAN address."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import lancheck

# iputils ping output, as the hop script prints it per target.
HOPS = """@@ 10.30.0.10
PING 10.30.0.10 (10.30.0.10) 56(84) bytes of data.
From 10.99.0.3 icmp_seq=1 Time to live exceeded

--- 10.30.0.10 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
@@ 10.20.0.1
PING 10.20.0.1 (10.20.0.1) 56(84) bytes of data.
64 bytes from 10.20.0.1: icmp_seq=1 ttl=64 time=0.411 ms
@@ 10.40.0.1
PING 10.40.0.1 (10.40.0.1) 56(84) bytes of data.

--- 10.40.0.1 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms
@@ fd00:30::10
PING fd00:30::10(fd00:30::10) 56 data bytes
From fd00:99::3 icmp_seq=1 Time exceeded: Hop limit
"""


def test_parse_hops_tells_forwarded_held_and_silent():
    assert lancheck.parse_hops(HOPS) == {
        '10.30.0.10': ('forwarded', '10.99.0.3'),
        '10.20.0.1': ('held', '10.20.0.1'),
        '10.40.0.1': (None, None),
        'fd00:30::10': ('forwarded', 'fd00:99::3'),
    }


CHECK = {'name': 'newyork', 'lan': '10.30.0.0/24', 'hop': '10.99.0.3', 'target': '10.30.0.1', 'probes': []}


@pytest.mark.parametrize('hop, direct, says', [
    (('forwarded', '10.99.0.3'), True, None),
    (('held', '10.30.0.1'), True, None),
    (('forwarded', '10.99.0.1'), False, 'the first hop is 10.99.0.1, not 10.99.0.3: the path is not direct'),
    (('forwarded', '192.168.1.1'), False, 'the first hop is 192.168.1.1'),
    (('held', '10.30.0.9'), False, 'not 10.99.0.3'),
    ((None, None), False, 'no first hop answered an echo with TTL 1 to 10.30.0.1'),
])
def test_judge_accepts_only_the_peer_as_first_hop(hop, direct, says):
    result, problem = lancheck.judge(CHECK, hop)
    assert result is direct
    assert (problem is None) if says is None else (says in problem and problem.startswith('newyork LAN 10.30.0.0/24'))


def test_a_relayed_lan_whose_first_hop_is_not_the_relay_names_the_relay():
    relayed = dict(CHECK, hop='10.99.0.1', via='dublin')
    assert lancheck.judge(relayed, ('forwarded', '10.99.0.1')) == (True, None)
    direct, problem = lancheck.judge(relayed, ('forwarded', '10.99.0.3'))
    assert not direct and problem == ("newyork LAN 10.30.0.0/24: the first hop is 10.99.0.3, not 10.99.0.1: the path "
                                      "does not go through the relay dublin; check the routes to 10.30.0.0/24 and "
                                      "the allowed IPs of this site's peer dublin")


def test_check_lans_targets_the_first_probe_else_the_first_host():
    checks = lancheck.check_lans([
        {'name': 'a', 'lan': '10.10.0.0/24', 'hop': '10.99.0.1', 'probes': ['10.10.0.20', '10.10.0.30']},
        {'name': 'b', 'lan': '10.20.0.0/24', 'hop': '10.99.0.2'},
        {'name': 'c', 'lan': '10.30.0.7/32', 'hop': '10.99.0.3', 'probes': []},
    ])
    assert [c['target'] for c in checks] == ['10.10.0.20', '10.20.0.1', '10.30.0.7']


@pytest.mark.parametrize('entry, says', [
    ({'name': 'a', 'lan': 'x', 'hop': '10.99.0.1'}, 'lans entry of a'),
    ({'name': 'a', 'lan': '10.10.0.0/24', 'hop': 'nope'}, "hop of a 'nope' is not"),
    ({'name': 'a', 'lan': '10.10.0.0/24', 'hop': '10.99.0.1', 'probes': ['10.20.0.1']},
     'probe 10.20.0.1 of a is not inside its LAN 10.10.0.0/24'),
    ({'name': 'a', 'lan': '10.10.0.0/24', 'hop': '10.99.0.1', 'probes': ['$(reboot)']}, "probe of a '$(reboot)'"),
    ({'lan': '10.10.0.0/24'}, 'needs name, lan and hop'),
    ('10.10.0.0/24', 'needs name, lan and hop'),
])
def test_check_lans_refuses_bad_entries(entry, says):
    with pytest.raises(ValueError) as exc:
        lancheck.check_lans([entry])
    assert says in str(exc.value)


ADDRS = json.dumps([
    {'ifname': 'lo', 'addr_info': [{'local': '127.0.0.1'}, {'local': '::1'}]},
    {'ifname': 'eth0', 'addr_info': [{'local': '10.249.0.11'}]},
    {'ifname': 'eth1', 'addr_info': [{'local': '10.10.0.1'}, {'local': 'fd00:10::1'}, {'local': 'fe80::1'}]},
    {'ifname': 'wg0', 'addr_info': [{'local': '10.99.0.1'}]},
])


def test_own_lan_sources_pick_the_site_address_on_its_lans():
    assert lancheck.own_lan_sources(ADDRS, ['10.10.0.0/24', 'fd00:10::/64']) == {4: '10.10.0.1', 6: 'fd00:10::1'}
    assert lancheck.own_lan_sources(ADDRS, ['10.11.0.0/24']) == {}
    assert lancheck.own_lan_sources(ADDRS, []) == {}


class FakeModule(object):
    """run_command answers by script name: the hop script's output, then the ping script's."""

    def __init__(self, hops, unanswered):
        self.hops, self.unanswered, self.calls = hops, unanswered, []

    def get_bin_path(self, name, required=False):
        return '/usr/sbin/' + name

    def run_command(self, argv, environ_update=None):
        self.calls.append(list(argv))
        if argv[:2] == ['/usr/sbin/ip', '-j']:
            return 0, ADDRS, ''
        if argv[3] == 'wgmesh-hop':
            return 0, self.hops, ''
        return 0, '\n'.join(self.unanswered), ''


def test_run_checks_pings_probes_from_the_own_lan_and_reports_each_problem():
    checks = lancheck.check_lans([
        {'name': 'newyork', 'lan': '10.30.0.0/24', 'hop': '10.99.0.3', 'probes': ['10.30.0.10']},
        {'name': 'frankfurt', 'lan': '10.20.0.0/24', 'hop': '10.99.0.2', 'probes': []},
        {'name': 'paris', 'lan': '10.40.0.0/24', 'hop': '10.99.0.4', 'probes': ['10.40.0.1', '10.40.0.2']},
    ])
    module = FakeModule(HOPS, ['10.40.0.2'])
    results, problems = lancheck.run_checks(module, checks, ['10.10.0.0/24'], 2)
    ping = module.calls[-1]
    assert ping[4:] == ['10.30.0.10', '10.10.0.1', '10.40.0.1', '10.10.0.1', '10.40.0.2', '10.10.0.1']
    assert [(r['name'], r['first_hop'], r['direct']) for r in results] == [
        ('newyork', '10.99.0.3', True), ('frankfurt', '10.20.0.1', True), ('paris', None, False)]
    assert results[2]['answered'] == {'10.40.0.1': True, '10.40.0.2': False}
    assert len(problems) == 2
    assert problems[0].startswith('paris LAN 10.40.0.0/24: no first hop answered')
    assert problems[1] == 'paris LAN host 10.40.0.2: no answer (pinged from 10.10.0.1)'


def test_run_checks_without_own_lans_pings_from_the_tunnel_address():
    checks = lancheck.check_lans([{'name': 'newyork', 'lan': '10.30.0.0/24', 'hop': '10.99.0.3',
                                   'probes': ['10.30.0.10']}])
    module = FakeModule(HOPS, ['10.30.0.10'])
    results, problems = lancheck.run_checks(module, checks, [], 2)
    assert not any(call[0] == '/usr/sbin/ip' for call in module.calls)
    assert module.calls[-1][4:] == ['10.30.0.10', '']
    assert problems == ["newyork LAN host 10.30.0.10: no answer (pinged from this site's tunnel address)"]
    assert results[0]['source'] == {'10.30.0.10': None}


def test_run_checks_does_nothing_without_checks():
    module = FakeModule('', [])
    assert lancheck.run_checks(module, [], ['10.10.0.0/24'], 2) == ([], [])
    assert module.calls == []
