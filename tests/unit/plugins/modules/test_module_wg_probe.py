# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_probe run for real inside a network namespace with a userspace WireGuard interface.

``ip netns exec`` bind-mounts ``/etc/netns/<ns>/<name>`` over ``/etc/<name>`` for the command it
runs, so the module sees a test os-release and test systemd units there and the host's stay as
they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.modules.module_harness import needs_root_and, run_module

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys

ROOT_AND_TOOLS = needs_root_and('ip', 'wg', 'wireguard-go', 'sha1sum', 'stat')
MARKER = '# wgmesh.wireguard: written by the role\n'
ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n'
KEYS_ONLY = ['changed', 'config_peers', 'invocation', 'key', 'now', 'psks']
SERVICES = ['prometheus-node-exporter.service', 'wireguard-exporter.service']


def write(path, text, mode=0o600):
    with open(str(path), 'w') as f:
        f.write(text)
    os.chmod(str(path), mode)


def shell_state(path):
    digest = subprocess.run(['sha1sum', path], check=True, capture_output=True, text=True).stdout.split()[0]
    owner = subprocess.run(['stat', '-c', '%a %U %G', path], check=True, capture_output=True, text=True).stdout
    return '%s %s' % (digest, owner.strip())


@pytest.fixture
def etc_of(request):
    """Factory: ``etc_of(node)`` -> the directory whose entries replace /etc's for that namespace."""
    made = []
    created_parent = not os.path.isdir('/etc/netns')

    def make(node):
        path = os.path.join('/etc/netns', node.ns)
        os.makedirs(os.path.join(path, 'systemd', 'system'))
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
    if created_parent and os.path.isdir('/etc/netns') and not os.listdir('/etc/netns'):
        os.rmdir('/etc/netns')


def site(node, tmp_path, etc):
    """A site as the role leaves it: key, PSKs, config, files, units and a live interface with one peer."""
    config_dir = tmp_path / 'wireguard'
    (config_dir / 'psk').mkdir(parents=True)
    os.chmod(str(config_dir), 0o700)
    secrets = dict(private=keys.generate_private_key(), psk_b=keys.generate_psk(), psk_gone=keys.generate_psk())
    key_path = str(config_dir / (node.iface + '.key'))
    write(key_path, secrets['private'] + '\n')
    write(config_dir / 'psk' / 'b.psk', secrets['psk_b'] + '\n')
    write(config_dir / 'psk' / 'gone.psk', secrets['psk_gone'] + '\n')
    peer = keys.public_key_from_private(keys.generate_private_key())
    conf = str(config_dir / (node.iface + '.conf'))
    write(conf, '# Ansible managed\n[Interface]\nListenPort = 51999\n\n[Peer]\n# b\nPublicKey = %s\n'
                'AllowedIPs = 10.99.0.2/32\n' % peer)
    write(config_dir / 'wgmesh-firewall.nft', 'table inet wgmesh {}\n', 0o644)
    os.symlink(conf, str(config_dir / 'link.conf'))
    node.sh('wg', 'set', node.iface, 'private-key', key_path, 'listen-port', '51999',
            'peer', peer, 'preshared-key', str(config_dir / 'psk' / 'b.psk'), 'allowed-ips', '10.99.0.2/32')
    node.sh('ip', 'addr', 'add', '10.99.0.1/24', 'dev', node.iface)
    node.sh('ip', '-6', 'addr', 'add', 'fd99::1/64', 'dev', node.iface)
    node.sh('ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', node.iface)
    node.sh('ip', 'link', 'set', node.iface, 'mtu', '1380')
    write(os.path.join(etc, 'os-release'), ROCKY, 0o644)
    write(os.path.join(etc, 'systemd', 'system', 'wireguard-exporter.service'), '[Unit]\n' + MARKER, 0o644)
    write(os.path.join(etc, 'systemd', 'system', 'admins-own.service'), '[Unit]\nDescription=mine\n', 0o644)
    args = dict(config_dir=str(config_dir), peers=['b', 'c'], services=SERVICES,
                files=[conf, 'wgmesh-firewall.nft', str(config_dir / 'link.conf'), 'wgmesh-firewall.sh'],
                units=['wireguard-mesh-textfile-wg0.timer', 'admins-own.service', 'wireguard-exporter.service'],
                sysctls=['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.ipv4.no_such_key'])
    return args, secrets, peer


@ROOT_AND_TOOLS
def test_probe_of_a_site_in_a_namespace(wg_node, etc_of, tmp_path):
    node = wg_node('a')
    args, secrets, peer = site(node, tmp_path, etc_of(node))
    result = node.run('wg_probe', args)
    assert result['changed'] is False and not result.failed, result.json
    for secret in secrets.values():
        assert secret not in result.stdout and secret not in result.stderr
    assert result['interface'] == dict(exists=True, public_key=keys.public_key_from_private(secrets['private']),
                                       listen_port=51999, mtu=1380, addresses=['10.99.0.1/24', 'fd99::1/64'],
                                       peers=[peer], psk_fingerprints={peer: keys.psk_fingerprint(secrets['psk_b'])})
    # The live PSK's fingerprint is the one of the file it came from (never the PSK).
    assert result['interface']['psk_fingerprints'][peer] == result['psks']['b']['fingerprint']
    assert result['hand_config'] is None  # the role's config
    assert result['key'] == dict(exists=True, public_key=result['interface']['public_key'], mode='600',
                                 owner='root', group='root', symlink=False, error=None, staged=False, previous=False,
                                 path=os.path.join(args['config_dir'], node.iface + '.key'), ok=True)
    assert result['psks']['b'] == dict(exists=True, fingerprint=keys.psk_fingerprint(secrets['psk_b']), valid=True,
                                       mode='600', owner='root', group='root', symlink=False, error=None)
    assert result['psks']['c']['exists'] is False and result['psks']['c']['fingerprint'] is None
    assert result['psk_extra'] == ['gone']
    assert result['psk_dir']['exists'] is True and result['config_dir_state']['mode'] == '700'
    assert result['config_peers'] == dict(b=peer)
    conf, nft, link, absent = [os.path.join(args['config_dir'], path) for path in args['files']]
    assert result['files'] == {conf: shell_state(conf), nft: shell_state(nft), link: 'symlink', absent: 'absent'}
    assert result['files'][nft].split()[1:] == ['644', 'root', 'root']
    assert result['units'] == ['wireguard-exporter.service']
    assert result['os'] == dict(id='rocky', id_like='rhel centos fedora', version_id='9.4', distribution='Rocky',
                                family='RedHat', major='9')
    live = node.sh('cat', '/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding').split()
    assert result['sysctls'] == {'net.ipv4.ip_forward': live[0], 'net.ipv6.conf.all.forwarding': live[1],
                                 'net.ipv4.no_such_key': None}
    assert result['tools']['wg'] is True and result['tools']['wireguard_go'] is True
    assert sorted(result['tools']) == ['firewall_cmd', 'iptables', 'nft', 'ufw', 'wg', 'wg_quick', 'wireguard_go']
    assert isinstance(result['kernel'], bool) and 'wgmesh-probe' not in node.sh('ip', 'link', 'show')
    assert isinstance(result['ufw'], bool) and isinstance(result['selinux'], bool)
    if shutil.which('systemctl'):
        def unit_state(unit):
            enabled = node.sh('systemctl', 'is-enabled', unit, check=False).strip()
            shown = node.sh('systemctl', 'show', '-p', 'LoadState', '--value', unit, check=False).strip()
            return dict(enabled=enabled or ('not-found' if shown == 'not-found' else ''),
                        active=node.sh('systemctl', 'is-active', unit, check=False).strip())
        assert result['service'] == unit_state('wg-quick@%s.service' % node.iface)
        assert result['firewalld'] == node.sh('systemctl', 'is-active', 'firewalld', check=False).strip()
        assert result['services'] == dict((unit, unit_state(unit)) for unit in SERVICES)
    else:
        assert result['services'] == dict((unit, dict(enabled='', active='')) for unit in SERVICES)

    check = node.run('wg_probe', args, check=True)
    for report in (result, check):
        report.json.pop('now'), report.json.pop('invocation')
    assert check.json == result.json

    keys_only = node.run('wg_probe', dict(args, scope='keys'))
    assert sorted(keys_only.json) == KEYS_ONLY
    for name in ('key', 'psks', 'config_peers'):
        assert keys_only[name] == result[name]
    for secret in secrets.values():
        assert secret not in keys_only.stdout


@ROOT_AND_TOOLS
def test_probe_of_a_bare_node(wg_node, tmp_path):
    node = wg_node('a')
    result = node.run('wg_probe', dict(interface='wgmnone0', config_dir=str(tmp_path / 'none'), peers=['b'],
                                       files=[str(tmp_path / 'none' / 'wgmnone0.conf')], units=['x.service']))
    assert result['changed'] is False and not result.failed, result.json
    assert result['interface'] == dict(exists=False, public_key=None, listen_port=None, mtu=None, addresses=[],
                                       peers=[], psk_fingerprints={})
    assert result['hand_config'] is None
    assert result['key']['exists'] is False and result['key']['public_key'] is None
    assert result['psks']['b']['exists'] is False and result['psk_extra'] == []
    assert result['psk_dir']['exists'] is False and result['config_dir_state']['exists'] is False
    assert result['config_peers'] == {} and result['units'] == [] and result['sysctls'] == {}
    assert list(result['files'].values()) == ['absent']


def test_keys_scope_runs_without_commands_and_reports_an_invalid_key(tmp_path):
    config_dir = tmp_path / 'wireguard'
    config_dir.mkdir()
    write(config_dir / 'wg0.key', 'bm90IGEga2V5\n')
    result = run_module('wg_probe', dict(config_dir=str(config_dir), scope='keys'), check=True)
    assert sorted(result.json) == KEYS_ONLY
    assert result['key']['exists'] is True and result['key']['public_key'] is None
    assert 'wrong length' in result['key']['error'] and 'bm90IGEga2V5' not in result.stdout
    assert json.loads(result.stdout)['changed'] is False


@pytest.mark.parametrize('args,fragment', [
    (dict(interface='wg0\n'), 'is not a valid interface name'),
    (dict(interface='a-very-long-name0'), 'is not a valid interface name'),
    (dict(peers=['b', '../c']), "peers[1] '../c' may only hold"),
    (dict(units=['a/b.service']), 'is not a systemd unit name'),
    (dict(sysctls=['net/../../x']), 'is not a sysctl key'),
    (dict(services=['x.service', '../y']), "services[1] '../y' is not a systemd unit name"),
    (dict(scope='everything'), 'value of scope must be one of'),
])
def test_bad_option_values_are_refused(args, fragment):
    result = run_module('wg_probe', args)
    assert result.failed and fragment in result['msg']


@ROOT_AND_TOOLS
def test_probe_of_a_config_built_by_hand(wg_node, tmp_path):
    """The guide's wg0.conf: keys inline, PostUp iptables rules; the probe says it holds keys and
    which rules the role's firewall replaces, and shows no secret."""
    node = wg_node('a')
    config_dir = tmp_path / 'wireguard'
    config_dir.mkdir()
    private, psk = keys.generate_private_key(), keys.generate_psk()
    peer = keys.public_key_from_private(keys.generate_private_key())
    write(config_dir / (node.iface + '.conf'),
          '[Interface]\nAddress = 10.99.0.1/24\nListenPort = 51820\nPrivateKey = %s\n'
          'PostUp = sysctl -w net.ipv4.ip_forward=1\n'
          'PostUp = iptables -A FORWARD -i %%i -j ACCEPT\nPostUp = iptables -A FORWARD -o wg0 -j ACCEPT\n'
          'PostUp = iptables -I INPUT 1 -i %%i -p udp -j ACCEPT\n'
          'PostUp = iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\n'
          'PostUp = iptables -A FORWARD -i eth0 -j ACCEPT\n'
          'PostDown = iptables -D FORWARD -i %%i -j ACCEPT\n'
          '[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.99.0.2/32\n' % (private, peer, psk))
    result = node.run('wg_probe', dict(config_dir=str(config_dir), interface=node.iface, peers=['b']))
    assert not result.failed, result.json
    assert private not in result.stdout and psk not in result.stdout
    # Only accepts for this interface (%i): not the rule for another interface, the NAT or eth0's.
    assert node.iface != 'wg0'
    assert result['hand_config'] == {'secrets': True, 'forward_rules': [
        ['iptables', '-D', 'FORWARD', '-i', node.iface, '-j', 'ACCEPT'],
        ['iptables', '-D', 'INPUT', '-i', node.iface, '-p', 'udp', '-j', 'ACCEPT'],
    ]}
