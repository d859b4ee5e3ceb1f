# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""render.yml and validate.yml run for real with ansible-playbook (on the controller only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils.keys import public_key_from_private
from ansible_collections.wgmesh.wireguard.tests.unit.checkout import needs_checkout

pytestmark = needs_checkout

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
BIN = os.path.dirname(sys.executable)
EXAMPLE = os.path.join(REPO, 'inventories', 'example.sites.json')
GUIDE = {
    'dublin': ('203.0.113.10', '10.99.0.1', '10.10.0.0/24'),
    'frankfurt': ('198.51.100.20', '10.99.0.2', '10.20.0.0/24'),
    'newyork': ('192.0.2.30', '10.99.0.3', '10.30.0.0/24'),
}


def playbook(*args, **extra_env):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(REPO, 'ansible.cfg'),
        'ANSIBLE_INVENTORY_ENABLED': 'wgmesh.wireguard.sites,auto,yaml,ini',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
    })
    env.update(extra_env)
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook')] + list(args), cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout


def parse_conf(text):
    """[(section, {key: value})] of a wg-quick config, comments dropped."""
    sections = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('['):
            sections.append((line.strip('[]'), {}))
            continue
        key, value = [part.strip() for part in line.split('=', 1)]
        sections[-1][1][key] = value
    return sections


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp('render') / 'rendered'
    rc, output = playbook('wgmesh.wireguard.render', '-i', EXAMPLE, '-e', 'wireguard_mesh_render_dir=%s' % out)
    assert rc == 0, output
    return out, output


def test_render_writes_the_guides_configs(rendered):
    out, output = rendered
    private = dict((name, (out / ('%s.key' % name)).read_text().strip()) for name in GUIDE)
    public = dict((name, public_key_from_private(key)) for name, key in private.items())
    psks = {}
    for name, (endpoint, tunnel, lan) in GUIDE.items():
        text = (out / ('%s.conf' % name)).read_text()
        sections = parse_conf(text)
        assert [s[0] for s in sections] == ['Interface', 'Peer', 'Peer']
        iface = dict((k, v) for k, v in sections[0][1].items() if k not in ('PostUp', 'PostDown'))
        assert iface == {'Address': '%s/24' % tunnel, 'ListenPort': '51820', 'PrivateKey': private[name],
                         'MTU': '1440'}
        # The guide's forwarding, so the site routes its LAN: on at up, rules at the top of FORWARD, gone at down.
        hooks = [line for line in text.splitlines() if line.startswith(('PostUp', 'PostDown'))]
        assert hooks == ['PostUp = sysctl -q -w net.ipv4.ip_forward=1',
                         'PostUp = iptables -I FORWARD 1 -i %i -j ACCEPT', 'PostUp = iptables -I FORWARD 1 -o %i -j ACCEPT',
                         'PostDown = iptables -D FORWARD -i %i -j ACCEPT', 'PostDown = iptables -D FORWARD -o %i -j ACCEPT']
        others = sorted(n for n in GUIDE if n != name)
        for other, (_section, peer) in zip(others, sections[1:]):
            o_endpoint, o_tunnel, o_lan = GUIDE[other]
            assert peer['PublicKey'] == public[other]
            assert peer['Endpoint'] == '%s:51820' % o_endpoint
            assert peer['AllowedIPs'] == '%s/32, %s' % (o_tunnel, o_lan)
            assert peer['PersistentKeepalive'] == '25'
            assert re.match(r'^[A-Za-z0-9+/]{43}=$', peer['PresharedKey'])
            psks[(name, other)] = peer['PresharedKey']
    for (a, b), psk in psks.items():
        assert psks[(b, a)] == psk, 'the two ends of %s-%s must share the PSK' % (a, b)
    assert len(set(psks.values())) == 3
    # secrets never printed; keys generated on the controller are warned about
    for secret in list(private.values()) + list(psks.values()):
        assert secret not in output
    assert 'generated 3 private key(s) on the controller' in output


def test_render_file_modes(rendered):
    out, _output = rendered
    assert stat.S_IMODE(os.stat(str(out)).st_mode) == 0o700
    files = sorted(os.listdir(str(out)))
    assert files == ['dublin+frankfurt.psk', 'dublin+newyork.psk', 'dublin.conf', 'dublin.key',
                     'frankfurt+newyork.psk', 'frankfurt.conf', 'frankfurt.key', 'newyork.conf', 'newyork.key']
    for name in files:
        assert stat.S_IMODE(os.stat(str(out / name)).st_mode) == 0o600, name


def test_render_again_changes_nothing(rendered):
    out, _output = rendered
    before = dict((p.name, (p.read_bytes(), p.stat().st_mtime_ns)) for p in out.iterdir())
    rc, output = playbook('wgmesh.wireguard.render', '-i', EXAMPLE, '-e', 'wireguard_mesh_render_dir=%s' % out)
    assert rc == 0, output
    assert re.search(r'localhost\s*: ok=\d+\s+changed=0\s', output), output
    assert 'generated' not in output
    after = dict((p.name, (p.read_bytes(), p.stat().st_mtime_ns)) for p in out.iterdir())
    assert after == before


def test_render_carries_the_pair_behind_nat_through_the_relay_the_sites_file_names(tmp_path):
    """sites.json's relay field: c and d, both behind NAT, reach each other through b (not a, the
    default); each holds the other on b's entry, and the pair has no PSK of its own."""
    sites = [{'name': name, 'endpoint': endpoint, 'tunnel_ip': '10.99.0.%d' % n, 'lan_cidr': '10.%d.0.0/24' % (10 * n)}
             for n, (name, endpoint) in enumerate([('a', '198.51.100.1'), ('b', '198.51.100.2'), ('c', ''), ('d', '')], 1)]
    (tmp_path / 'nat.sites.json').write_text(json.dumps({'sites': sites, 'relay': 'b'}))
    out = tmp_path / 'rendered'
    rc, output = playbook('wgmesh.wireguard.render', '-i', str(tmp_path / 'nat.sites.json'),
                          '-e', 'wireguard_mesh_render_dir=%s' % out)
    assert rc == 0, output
    peers = [dict(section) for name, section in parse_conf((out / 'c.conf').read_text()) if name == 'Peer']
    assert [peer.get('Endpoint') for peer in peers] == ['198.51.100.1:51820', '198.51.100.2:51820']
    assert peers[1]['AllowedIPs'] == '10.99.0.2/32, 10.20.0.0/24, 10.99.0.4/32, 10.40.0.0/24'
    assert sorted(p.name for p in out.glob('*.psk')) == ['a+b.psk', 'a+c.psk', 'a+d.psk', 'b+c.psk', 'b+d.psk']


def test_validate_summarises_the_example(tmp_path):
    rc, output = playbook('wgmesh.wireguard.validate', '-i', os.path.join(REPO, 'inventories', 'example', 'hosts.yml'))
    assert rc == 0, output
    assert '3 site(s): dublin, frankfurt, newyork' in output
    assert '3 pair(s)' in output
    assert 'tunnel MTU 1440' in output


# A fake ssh: if Ansible ever tried to reach a site, the marker file would appear.
FAKE_SSH = '#!/bin/sh\necho "$@" >> "%s"\nexit 255\n'

BAD_INVENTORY = """
[wireguard_mesh]
dublin wireguard_mesh_address=10.98.0.1 wireguard_mesh_endpoint=203.0.113.10 wireguard_mesh_lan_cidrs='["10.10.0.0/24"]'
frankfurt wireguard_mesh_address=10.99.0.2 wireguard_mesh_endpoint=198.51.100.20 wireguard_mesh_lan_cidrs='["0.0.0.0/0"]'
newyork wireguard_mesh_address=10.99.0.3 wireguard_mesh_endpoint=192.0.2.30

[wireguard_mesh:vars]
ansible_connection=ssh
ansible_host=unreachable.invalid
ansible_ssh_executable={ssh}
"""

GOOD_INVENTORY = BAD_INVENTORY.replace('10.98.0.1', '10.99.0.1').replace('0.0.0.0/0', '10.20.0.0/24')

SITE_PLAY = """
- name: The role's preflight on the sites themselves, then touch them
  hosts: wireguard_mesh
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: wgmesh.wireguard.wireguard_mesh
        tasks_from: preflight
    - ansible.builtin.ping:
"""

EXPECTED = [
    "site 'dublin': wireguard_mesh_address 10.98.0.1 is outside wireguard_mesh_network 10.99.0.0/24: pick an "
    "address inside 10.99.0.0/24.",
    "site 'frankfurt': wireguard_mesh_lan_cidrs entry 0.0.0.0/0 is a default route",
]


@pytest.fixture
def unreachable(tmp_path):
    marker = tmp_path / 'ssh-was-called'
    ssh = tmp_path / 'fake-ssh'
    ssh.write_text(FAKE_SSH % marker)
    ssh.chmod(0o755)

    def inventory(text):
        path = tmp_path / 'hosts.ini'
        path.write_text(text.format(ssh=ssh))
        return str(path)
    return inventory, marker


def test_validate_refuses_bad_inventory_without_contacting_sites(unreachable):
    inventory, marker = unreachable
    rc, output = playbook('wgmesh.wireguard.validate', '-i', inventory(BAD_INVENTORY))
    assert rc != 0
    for expected in EXPECTED:
        assert expected in output
    assert 'UNREACHABLE' not in output
    assert not marker.exists()


def test_validate_lists_one_problem_per_line_and_mesh_wide_disagreements(unreachable):
    inventory, marker = unreachable
    text = BAD_INVENTORY.replace('192.0.2.30', '192.0.2.30 wireguard_mesh_interface=wg1')
    rc, output = playbook('wgmesh.wireguard.validate', '-i', inventory(text))
    assert rc != 0
    assert 'The mesh inventory has 3 problem(s); no site was contacted:\n- ' in output
    assert "\n- wireguard_mesh_interface differs between the sites (wg0 on 'dublin' and 'frankfurt'; wg1 on " \
           "'newyork'): it is mesh-wide; set it once for the whole group, not per host.\n" in output
    assert not marker.exists()


def test_role_preflight_refuses_before_any_site_is_contacted(unreachable, tmp_path):
    inventory, marker = unreachable
    play = tmp_path / 'site.yml'
    play.write_text(SITE_PLAY)
    rc, output = playbook(str(play), '-i', inventory(BAD_INVENTORY))
    assert rc != 0
    for expected in EXPECTED:
        assert expected in output
    assert 'UNREACHABLE' not in output and 'ping' not in output.split('PLAY RECAP')[0].split('Plan the mesh from the inventory')[1]
    assert not marker.exists()
    # control: with a good inventory the same play does try the (fake) ssh, so the marker works
    rc, output = playbook(str(play), '-i', inventory(GOOD_INVENTORY))
    assert 'UNREACHABLE' in output
    assert marker.exists()


@pytest.mark.parametrize('pipelining,warned', [('False', True), ('True', False)])
def test_validate_warns_when_ssh_pipelining_is_off(unreachable, pipelining, warned):
    inventory, marker = unreachable
    rc, output = playbook('wgmesh.wireguard.validate', '-i', inventory(GOOD_INVENTORY), ANSIBLE_PIPELINING=pipelining)
    assert rc == 0, output
    assert ('SSH pipelining is off, so the PSKs this run writes travel' in output) is warned, output
    assert not marker.exists()
