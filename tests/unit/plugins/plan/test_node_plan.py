# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One site's node plan: what is written, started, installed and applied, from its probe."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex
import shutil
import subprocess

import pytest

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.node import NodeError, STEPS, config_file_check
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.firewall import FirewallError

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import (
    PUBLIC, SITES, converged_probe, fresh_probe, mesh, node_of, options, all_keys,
)


@pytest.fixture(scope='module')
def lab():
    return mesh()


def test_a_converged_site_has_no_steps(lab):
    for site in SITES:
        node = node_of(site, lab, converged_probe(site, lab))
        assert node['steps'] == [] and node['writes'] == [], site
        assert node['packages'] == [] and not node['start'] and not node['restart'] and node['fresh'] == []


def test_a_fresh_site_gets_packages_files_service_in_order(lab):
    node = node_of('dublin', lab, fresh_probe('dublin'), psk_writes=['frankfurt', 'newyork'])
    assert node['steps'] == ['install', 'psk', 'files', 'sysctl', 'firewall', 'service']
    assert node['steps'] == [step for step in STEPS if step in node['steps']]
    assert node['packages'] == ['wireguard-tools', 'wireguard-go']
    assert node['package_manager'] == 'apt'
    assert sorted(item['path'] for item in node['writes']) == [
        '/etc/sysctl.d/99-wireguard.conf', '/etc/systemd/system/nftables.service.d/wgmesh-wg0.conf',
        '/etc/wireguard/wg0.conf', '/etc/wireguard/wgmesh-firewall-nft.py', '/etc/wireguard/wgmesh-firewall.nft']
    dropin = next(item for item in node['writes'] if item['path'].endswith('wgmesh-wg0.conf'))
    assert ("ExecReload=-/bin/sh -c 'if [ -e /sys/class/net/wg0 ]; then exec python3 /etc/wireguard/wgmesh-firewall-nft.py"
            " up; fi'\n") in dropin['content']
    assert {'path': '/etc/systemd/system/nftables.service.d', 'mode': '0755'} in node['directories']
    assert node['firewall']['dropin_written'] and node['firewall']['load']
    assert node['fresh_all'] is True and node['fresh'] == ['frankfurt', 'newyork']


def test_the_config_names_every_peer_with_a_valid_key_and_holds_no_secret(lab):
    node = node_of('frankfurt', lab, fresh_probe('frankfurt'))
    config = node['config_file']['content']
    assert 'Address = 10.99.0.2/24\nListenPort = 51820\nMTU = 1340\n' in config
    assert 'PreUp = python3 /etc/wireguard/wgmesh-firewall-nft.py up\n' in config
    assert 'PostDown = python3 /etc/wireguard/wgmesh-firewall-nft.py down\n' in config
    for name in ('dublin', 'newyork'):
        assert 'PostUp = wg set %%i peer %s preshared-key /etc/wireguard/psk/%s.psk\n' % (PUBLIC[name], name) in config
        assert '[Peer]\n# %s\nPublicKey = %s\n' % (name, PUBLIC[name]) in config
    # PSKs first, then the private key: a peer never handshakes without its PSK.
    post_up = [line for line in config.splitlines() if line.startswith('PostUp')]
    assert post_up[-1] == 'PostUp = wg set %i private-key /etc/wireguard/wg0.key' and len(post_up) == 3
    assert 'PrivateKey' not in config and 'PresharedKey' not in config
    assert not re.search(r'PublicKey = *\n', config)
    assert node['config_file']['validate'] == config_file_check('wg0')


def run_check(tmp_path, text):
    path = tmp_path / 'candidate'
    path.write_text(text)
    proc = subprocess.run(config_file_check('wg0').replace('%s', shlex.quote(str(path))), shell=True,
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stderr


@pytest.mark.skipif(shutil.which('wg-quick') is None, reason='wg-quick not installed (apt-get install wireguard-tools)')
@pytest.mark.parametrize('broken,message', [
    (lambda c, key: c.replace('PublicKey = %s' % key, 'PublicKey = '), 'a [Peer] has no valid PublicKey'),
    (lambda c, key: c.replace('PublicKey = %s' % key, 'PublicKey = %s' % key[:-2] + 'B='),
     'a [Peer] has no valid PublicKey'),
    (lambda c, key: c.replace('PublicKey = %s' % key, 'PublicKey = %s\nPublicKey = x' % key),
     'a [Peer] has no valid PublicKey'),
])
def test_the_config_check_refuses_a_peer_without_a_valid_key(lab, tmp_path, broken, message):
    config = node_of('frankfurt', lab, fresh_probe('frankfurt'))['config_file']['content']
    assert run_check(tmp_path, config) == (0, '')
    rc, stderr = run_check(tmp_path, broken(config, PUBLIC['dublin']))
    assert rc != 0 and message in stderr


@pytest.mark.parametrize('change,step', [
    ({'files': {}}, 'files'),
    ({'service': {'enabled': 'disabled', 'active': 'active'}}, 'service'),
    ({'sysctls': {'net.ipv4.ip_forward': '0'}}, 'sysctl'),
    ({'psk_extra': ['oldsite']}, 'psk'),
    ({'selinux': True}, 'selinux'),
])
def test_each_difference_gives_its_step(lab, change, step):
    probe = converged_probe('dublin', lab, **change)
    assert step in node_of('dublin', lab, probe)['steps']


@pytest.mark.parametrize('field,value', [(1, '644'), (2, 'nobody'), (3, 'staff'), (0, '0' * 40)])
def test_a_file_whose_content_mode_owner_or_group_differs_is_written_again(lab, field, value):
    probe = converged_probe('dublin', lab)
    path = '/etc/wireguard/wg0.conf'
    parts = probe['files'][path].split()
    parts[field] = value
    probe['files'][path] = ' '.join(parts)
    node = node_of('dublin', lab, probe)
    assert [item['path'] for item in node['writes']] == [path] and node['steps'] == ['files']


@pytest.mark.parametrize('live', [
    {'listen_port': 51821}, {'addresses': ['10.99.0.9/24']}, {'addresses': ['10.99.0.9/24'], 'mtu': 1420},
])
def test_a_live_interface_whose_address_or_port_differs_is_restarted(lab, live):
    probe = converged_probe('dublin', lab)
    probe['interface'].update(live)
    node = node_of('dublin', lab, probe)
    assert node['steps'] == ['restart'] and node['fresh_all'] and node['fresh'] == ['frankfurt', 'newyork']


def test_a_live_interface_whose_mtu_alone_differs_gets_it_live(lab):
    probe = converged_probe('dublin', lab)
    probe['interface']['mtu'] = 1420
    node = node_of('dublin', lab, probe)
    assert node['steps'] == ['mtu'] and not node['fresh_all'] and node['fresh'] == []


def test_a_config_built_by_hand_is_taken_over_without_a_diff_and_its_forward_rules_go(lab):
    probe = converged_probe('dublin', lab)
    probe['files']['/etc/wireguard/wg0.conf'] = 'x 600 root root'
    rules = [['iptables', '-D', 'FORWARD', '-i', 'wg0', '-j', 'ACCEPT'],
             ['iptables', '-D', 'FORWARD', '-o', 'wg0', '-j', 'ACCEPT']]
    probe['hand_config'] = {'secrets': True, 'forward_rules': rules}
    node = node_of('dublin', lab, probe)
    assert node['steps'] == ['files', 'takeover'] and node['takeover_rules'] == rules
    assert [item.get('hide_diff') for item in node['writes']] == [True]
    # The role's own config (no hand_config): nothing to take over.
    assert node_of('dublin', lab, converged_probe('dublin', lab))['takeover_rules'] == []


def test_a_psk_file_with_a_wrong_owner_or_a_symlink_is_rewritten(lab):
    for change in ({'owner': 'nobody'}, {'mode': '644'}, {'symlink': True}):
        probe = converged_probe('dublin', lab)
        probe['psks']['frankfurt'].update(change)
        assert node_of('dublin', lab, probe)['steps'] == ['psk'], change


def test_a_site_that_was_not_reached_stays_a_peer_with_the_key_its_peers_hold(lab):
    keys_plan = all_keys(reached=['dublin', 'frankfurt'])
    node = node_of('dublin', lab, converged_probe('dublin', lab), keys_plan=keys_plan)
    assert [peer['name'] for peer in node['peers']] == ['frankfurt', 'newyork']
    assert node['steps'] == []
    # Kept, but not expected to answer: the live apply's check leaves it out.
    assert node['unreached_peers'] == ['newyork'] and node['ping'] == ['10.99.0.2']
    restarted = node_of('dublin', lab, fresh_probe('dublin'), keys_plan=keys_plan)
    assert restarted['fresh_all'] and restarted['fresh'] == ['frankfurt']
    assert node_of('dublin', lab, converged_probe('dublin', lab))['unreached_peers'] == []


def test_a_peer_without_a_key_or_without_a_psk_while_down_is_left_out_and_named(lab):
    keys_plan = all_keys(reached=['dublin', 'frankfurt'])
    del keys_plan['public_keys']['newyork']
    node = node_of('dublin', lab, converged_probe('dublin', lab), keys_plan=keys_plan)
    assert [peer['name'] for peer in node['peers']] == ['frankfurt']
    assert node['peers_left_out'][0]['name'] == 'newyork' and 'public key is unknown' in node['peers_left_out'][0]['why']
    assert 'newyork' not in node['config_file']['content'] and PUBLIC['newyork'] not in node['config_file']['content']
    probe = converged_probe('dublin', lab)
    del probe['psks']['newyork']
    node = node_of('dublin', lab, probe, keys_plan=all_keys(reached=['dublin', 'frankfurt']))
    assert [peer['name'] for peer in node['peers']] == ['frankfurt']
    assert 'no preshared key yet' in node['peers_left_out'][0]['why']


def test_a_userspace_site_refused_when_wireguard_go_cannot_be_had(lab):
    with pytest.raises(NodeError, match="site 'dublin': the kernel has no WireGuard module and wireguard_mesh_userspace is 'never'"):
        node_of('dublin', lab, fresh_probe('dublin'), options(wireguard_mesh_userspace='never'))
    rhel = dict(fresh_probe('dublin')['os'], id='rocky', id_like='rhel centos fedora', version_id='9.4',
                family='RedHat', distribution='Rocky', major='9')
    with pytest.raises(NodeError, match=r"site 'dublin' \(Rocky 9.4\): the kernel has no WireGuard module and the "
                                        r"distribution packages no wireguard-go"):
        node_of('dublin', lab, fresh_probe('dublin', os=rhel))
    node = node_of('dublin', lab, fresh_probe('dublin', os=rhel),
                   options(wireguard_mesh_wireguard_go_package='/srv/rpms/wireguard-go.rpm'))
    assert node['packages'] == ['wireguard-tools', '/srv/rpms/wireguard-go.rpm'] and node['package_manager'] == 'dnf'


def test_a_distribution_without_apt_or_dnf_names_what_it_lacks(lab):
    arch = dict(fresh_probe('dublin')['os'], id='arch', id_like='', family='Archlinux', distribution='Archlinux')
    with pytest.raises(NodeError, match='lacks wireguard-tools, wireguard-go; the role installs packages with apt or dnf'):
        node_of('dublin', lab, fresh_probe('dublin', os=arch))


def test_a_firewall_manager_chosen_but_not_running_is_refused(lab):
    with pytest.raises(FirewallError, match="wireguard_mesh_firewall is 'firewalld' but firewalld is not active"):
        node_of('dublin', lab, fresh_probe('dublin'), options(wireguard_mesh_firewall='firewalld'))


def test_restricted_sources_list_the_peers_endpoint_addresses(lab):
    node = node_of('dublin', lab, fresh_probe('dublin'), options(wireguard_mesh_firewall_restrict_sources=True))
    rules = [item['content'] for item in node['writes'] if item['path'].endswith('.nft')][0]
    assert 'elements = { 10.249.0.12, 10.249.0.13 }' in rules
    assert 'udp dport 51820 counter drop comment "wgmesh: not a site of the mesh"' in rules


@pytest.mark.parametrize('own,peer,same', [('10.249.0.11', 'fd77:249::12', '10.249.0.13'),
                                           ('fd77:249::11', '10.249.0.12', 'fd77:249::13')])
def test_restricted_sources_refused_when_a_peer_reaches_the_site_from_the_other_family(own, peer, same):
    """The peer's packets come from an address of the site's family that no endpoint names (in the lab,
    with every site restricted, no handshake crossed such a pair)."""
    mixed = mesh(dublin={'wireguard_mesh_endpoint': own}, frankfurt={'wireguard_mesh_endpoint': peer},
                 newyork={'wireguard_mesh_endpoint': same})
    restricted = options(wireguard_mesh_firewall_restrict_sources=True, wireguard_mesh_endpoint=own)
    version, other = (4, 6) if '.' in own else (6, 4)
    with pytest.raises(FirewallError, match=r"site 'dublin': .* this site's endpoint is IPv%d, that of 'frankfurt' IPv%d: "
                                            r"they reach this site from IPv%d addresses" % (version, other, version)):
        node_of('dublin', mixed, fresh_probe('dublin'), restricted)
    # Unrestricted, or a site without an endpoint of its own (it starts every session): accepted.
    assert node_of('dublin', mixed, fresh_probe('dublin'), options(wireguard_mesh_endpoint=own))['firewall']
    assert node_of('dublin', mesh(dublin={'wireguard_mesh_endpoint': ''}, frankfurt={'wireguard_mesh_endpoint': peer}),
                   fresh_probe('dublin'), options(wireguard_mesh_firewall_restrict_sources=True))['firewall']


@pytest.mark.parametrize('endpoint,why', [('', r"'frankfurt' \(no endpoint: behind NAT\)"),
                                          ('frankfurt.example.net', r"'frankfurt' \(a DNS name: its address changes")])
def test_restricted_sources_refused_when_a_peer_comes_from_an_address_no_rule_can_name(endpoint, why):
    """A peer behind NAT, or named by DNS, sends from an address the set cannot hold: the site would
    drop its handshakes (or the answers to its own)."""
    unpinned = mesh(frankfurt={'wireguard_mesh_endpoint': endpoint})
    with pytest.raises(FirewallError, match=r"site 'dublin': wireguard_mesh_firewall_restrict_sources .* no rule can name "
                                            r"where these peers come from: %s" % why):
        node_of('dublin', unpinned, fresh_probe('dublin'), options(wireguard_mesh_firewall_restrict_sources=True))
    assert node_of('dublin', unpinned, fresh_probe('dublin'), options())['firewall']['restrict_sources'] is False


def test_sysctls_and_ipv6_forwarding_only_for_a_dual_stack_mesh(lab):
    node = node_of('dublin', lab, fresh_probe('dublin'))
    assert [item['key'] for item in node['sysctls']] == [
        'net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter']
    dual = mesh(**dict((name, {'wireguard_mesh_network6': 'fd99::/64', 'wireguard_mesh_address6': 'fd99::%d' % n})
                       for n, name in enumerate(SITES, 1)))
    node = node_of('dublin', dual, fresh_probe('dublin'))
    assert node['sysctls'][-1] == {'key': 'net.ipv6.conf.all.forwarding', 'value': '1'}
    assert node['addresses'] == ['10.99.0.1/24', 'fd99::1/64']
    rules = [item['content'] for item in node['writes'] if item['path'].endswith('.nft')][0]
    assert 'iifname != "wg0" ip6 daddr fd99::1 fib saddr type != local drop' in rules


SECURE = {'exists': True, 'mode': '700', 'owner': 'root', 'group': 'root', 'symlink': False, 'error': None}


@pytest.mark.parametrize('which,path', [('config_dir_state', '/etc/wireguard'), ('psk_dir', '/etc/wireguard/psk')])
@pytest.mark.parametrize('wrong', [{'mode': '777'}, {'mode': '755'}, {'owner': 'nobody'}, {'group': 'staff'}])
def test_a_secret_directory_with_a_wrong_owner_or_mode_is_made_root_0700(lab, which, path, wrong):
    probe = converged_probe('dublin', lab, config_dir_state=dict(SECURE), psk_dir=dict(SECURE))
    assert node_of('dublin', lab, probe)['steps'] == []
    probe[which] = dict(SECURE, **wrong)
    node = node_of('dublin', lab, probe)
    assert node['steps'] == ['files'] and node['writes'] == []
    assert [(d['path'], d['mode']) for d in node['directories']] == [(path, '0700')]


def test_a_symlinked_config_directory_is_refused(lab):
    probe = converged_probe('dublin', lab, config_dir_state=dict(SECURE, symlink=True), psk_dir=dict(SECURE))
    with pytest.raises(NodeError, match="site 'dublin': /etc/wireguard is a symlink"):
        node_of('dublin', lab, probe)


def test_verify_checks_each_peer_lan_with_its_probes_and_the_peer_as_first_hop():
    lab = mesh(frankfurt={'wireguard_mesh_lan_cidrs': ['10.20.0.0/24', '10.21.0.0/24'],
                          'wireguard_mesh_lan_probes': ['10.21.0.5', '10.20.0.9']})
    node = node_of('dublin', lab, converged_probe('dublin', lab))
    assert node['own_lans'] == ['10.10.0.0/24']
    assert node['lan_checks'] == [
        {'name': 'frankfurt', 'lan': '10.20.0.0/24', 'hop': '10.99.0.2', 'probes': ['10.20.0.9']},
        {'name': 'frankfurt', 'lan': '10.21.0.0/24', 'hop': '10.99.0.2', 'probes': ['10.21.0.5']},
        {'name': 'newyork', 'lan': '10.30.0.0/24', 'hop': '10.99.0.3', 'probes': []},
    ]
    # A peer that was not reached is not checked.
    down = node_of('dublin', lab, converged_probe('dublin', lab), keys_plan=all_keys(reached=['dublin', 'newyork']))
    assert [check['name'] for check in down['lan_checks']] == ['newyork']


def test_a_site_of_a_mesh_built_by_hand_writes_its_psk_files_from_its_interface(lab):
    probe = converged_probe('dublin', lab)
    probe['psks'] = {}
    keys_plan = all_keys()
    keys_plan['psk_adopt'] = {'dublin': {'frankfurt': PUBLIC['frankfurt'], 'newyork': PUBLIC['newyork']}}
    node = node_of('dublin', lab, probe, keys_plan=keys_plan)
    assert node['steps'] == ['psk'] and node['psk_restore_from'] == 'wg0'
    assert node['psk_peers'] == [{'name': 'frankfurt', 'public_key': PUBLIC['frankfurt']},
                                 {'name': 'newyork', 'public_key': PUBLIC['newyork']}]
    assert node_of('dublin', lab, converged_probe('dublin', lab))['psk_restore_from'] == ''


def test_verify_pings_both_tunnel_addresses_of_a_dual_stack_peer():
    dual = mesh(**dict((name, {'wireguard_mesh_network6': 'fd99::/64', 'wireguard_mesh_address6': 'fd99:0::%d' % n})
                       for n, name in enumerate(SITES, 1)))
    assert node_of('dublin', dual, fresh_probe('dublin'))['ping'] == ['10.99.0.2', 'fd99::2', '10.99.0.3', 'fd99::3']
    assert node_of('dublin', mesh(), fresh_probe('dublin'))['ping'] == ['10.99.0.2', '10.99.0.3']
