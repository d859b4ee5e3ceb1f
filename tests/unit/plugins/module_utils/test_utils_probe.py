# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_probe logic on real files: distribution names, file states as the shell tools print them, keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import jinja2
import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils import osrelease, probe

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'roles', 'wireguard_mesh')

# /etc/os-release as each distribution ships it (the fields that matter, quoted as there).
OS_RELEASE = {
    'rhel9': 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\n'
             'VERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\n',
    'rocky9': 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
              'VERSION_ID="9.4"\n',
    'alma9': 'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\n'
             'VERSION_ID="9.4"\n',
    'debian12': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    'debian13': 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
                'VERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.1\nID=debian\n',
    'ubuntu2404': 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                  'VERSION="24.04.1 LTS (Noble Numbat)"\nID=ubuntu\nID_LIKE=debian\n',
    'oracle9': 'NAME="Oracle Linux Server"\nVERSION="9.4"\nID="ol"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n',
    'mint22': 'NAME="Linux Mint"\nVERSION="22 (Wilma)"\nID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="22"\n',
    'unknown': '# a comment\nNAME=Something\nID=something\n',
}
# (case, id, id_like, version_id, distribution, family, major): the names setup's facts give, and
# for unknown IDs the role's former rule (__wireguard_mesh_os_guess): family from ID_LIKE, else the ID.
OS_CASES = [
    ('rhel9', 'rhel', 'fedora', '9.4', 'RedHat', 'RedHat', '9'),
    ('rocky9', 'rocky', 'rhel centos fedora', '9.4', 'Rocky', 'RedHat', '9'),
    ('alma9', 'almalinux', 'rhel centos fedora', '9.4', 'AlmaLinux', 'RedHat', '9'),
    ('debian12', 'debian', '', '12', 'Debian', 'Debian', '12'),
    ('debian13', 'debian', '', '13', 'Debian', 'Debian', '13'),
    ('ubuntu2404', 'ubuntu', 'debian', '24.04', 'Ubuntu', 'Debian', '24'),
    ('oracle9', 'ol', 'fedora', '9.4', 'Ol', 'RedHat', '9'),
    ('mint22', 'linuxmint', 'ubuntu debian', '22', 'Linuxmint', 'Debian', '22'),
    ('unknown', 'something', '', '', 'Something', 'Something', ''),
]


@pytest.mark.parametrize('case,os_id,id_like,version_id,distribution,family,major', OS_CASES,
                         ids=[c[0] for c in OS_CASES])
def test_os_release_names_per_distribution(tmp_path, case, os_id, id_like, version_id, distribution, family, major):
    path = tmp_path / 'os-release'
    path.write_text(OS_RELEASE[case])
    assert osrelease.read_os([str(tmp_path / 'missing'), str(path)]) == dict(
        id=os_id, id_like=id_like, version_id=version_id, distribution=distribution, family=family, major=major)


def test_os_release_quoting_and_absence(tmp_path):
    path = tmp_path / 'os-release'
    path.write_text("ID='opensuse-leap'\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.6\"\nBROKEN\n")
    assert osrelease.read_os([str(path)])['id_like'] == 'suse opensuse'
    assert osrelease.read_os([str(tmp_path / 'none')]) == dict(id='', id_like='', version_id='', distribution='',
                                                               family='', major='')


# ---------------------------------------------------------------------------- files

def shell_state(path):
    digest = subprocess.run(['sha1sum', path], check=True, capture_output=True, text=True).stdout.split()[0]
    owner = subprocess.run(['stat', '-c', '%a %U %G', path], check=True, capture_output=True, text=True).stdout
    return '%s %s' % (digest, owner.strip())


@pytest.mark.parametrize('mode,owner', [(0o600, None), (0o644, None), (0o700, None), (0o4755, None),
                                        (0o640, (65534, 65534)), (0o600, (54321, 54321))])
def test_file_state_is_what_sha1sum_and_stat_print(tmp_path, mode, owner):
    path = tmp_path / 'file.conf'
    path.write_bytes(b'[Interface]\nListenPort = 51820\n\xff binary too\n')
    if owner:
        if os.geteuid() != 0:
            pytest.skip('needs root to chown')
        os.chown(str(path), *owner)
    os.chmod(str(path), mode)
    assert probe.file_state(str(path)) == shell_state(str(path))
    assert probe.file_state(str(path)).split()[1] == '%o' % mode


def test_file_state_of_symlink_missing_directory_and_empty(tmp_path):
    target = tmp_path / 'target'
    target.write_text(u'x')
    os.symlink(str(target), str(tmp_path / 'link'))
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / 'dangling'))
    assert probe.file_state(str(tmp_path / 'link')) == 'symlink'
    assert probe.file_state(str(tmp_path / 'dangling')) == 'symlink'
    assert probe.file_state(str(tmp_path / 'missing')) == 'absent'
    assert probe.file_state(str(target / 'below-a-file')) == 'absent'
    assert probe.file_state(str(tmp_path)) == 'absent'
    (tmp_path / 'empty').write_text(u'')
    assert probe.file_state(str(tmp_path / 'empty')) == shell_state(str(tmp_path / 'empty'))


def test_units_need_the_roles_marker(tmp_path):
    (tmp_path / 'ours.service').write_text(u'[Unit]\n# wgmesh.wireguard: written by the role\nDescription=x\n')
    (tmp_path / 'ours.timer').write_text(u'# wgmesh.wireguard: written by the role (textfile)\n[Timer]\n')
    (tmp_path / 'admins.service').write_text(u'[Unit]\nDescription=# wgmesh.wireguard: written by the role\n')
    assert probe.unit_is_ours('ours.service', str(tmp_path))
    assert probe.unit_is_ours('ours.timer', str(tmp_path))
    assert not probe.unit_is_ours('admins.service', str(tmp_path))
    assert not probe.unit_is_ours('missing.service', str(tmp_path))


def test_sysctls_read_live_values(tmp_path):
    assert probe.read_sysctl('net.ipv4.ip_forward') == open('/proc/sys/net/ipv4/ip_forward').read().strip()
    assert probe.read_sysctl('net.ipv4.no_such_key') is None
    assert probe.sysctl_path('net.ipv4.conf.eth0/10.rp_filter', '/p') == '/p/net/ipv4/conf/eth0.10/rp_filter'
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    (tmp_path / 'net' / 'ipv4' / 'ip_local_port_range').write_text(u'32768\t60999\n')
    assert probe.read_sysctl('net.ipv4.ip_local_port_range', str(tmp_path)) == '32768\t60999'


# ---------------------------------------------------------------------------- keys and PSKs

def write(path, text, mode=0o600):
    with open(str(path), 'w') as f:
        f.write(text + '\n')
    os.chmod(str(path), mode)


def test_key_state_present_staged_and_never_the_key(tmp_path):
    private = keys.generate_private_key()
    path = tmp_path / 'wg0.key'
    write(path, private)
    write(str(path) + '.next', keys.generate_private_key())
    state = probe.key_state(str(path))
    owner = subprocess.run(['stat', '-c', '%U %G', str(path)], check=True, capture_output=True, text=True).stdout
    assert state == dict(exists=True, public_key=keys.public_key_from_private(private), mode='600',
                         owner=owner.split()[0], group=owner.split()[1], symlink=False, error=None,
                         staged=True, previous=False, path=str(path), ok=owner.split() == ['root', 'root'])
    assert private not in json.dumps(state)


def test_key_state_absent_invalid_symlink_and_wrong_owner(tmp_path):
    assert probe.key_state(str(tmp_path / 'wg0.key')) == dict(
        exists=False, public_key=None, mode=None, owner=None, group=None, symlink=False, error=None,
        staged=False, previous=False, path=str(tmp_path / 'wg0.key'), ok=False)
    bad = tmp_path / 'bad.key'
    not_a_key = 'c2VjcmV0IGJ1dCBub3QgYSBrZXk='
    write(bad, not_a_key, 0o644)
    state = probe.key_state(str(bad))
    assert state['exists'] is True and state['public_key'] is None and state['mode'] == '644'
    assert 'wrong length' in state['error'] and not_a_key not in json.dumps(state) and state['ok'] is False
    private = keys.generate_private_key()
    write(tmp_path / 'real.key', private)
    os.symlink(str(tmp_path / 'real.key'), str(tmp_path / 'link.key'))
    write(str(tmp_path / 'link.key') + '.prev', keys.generate_private_key())
    linked = probe.key_state(str(tmp_path / 'link.key'))
    # a symlinked key is refused, never followed: the link may point where others can write
    assert linked['symlink'] is True and linked['public_key'] is None and 'is a symlink' in linked['error']
    assert linked['previous'] is True and linked['mode'] == '600' and linked['ok'] is False
    if os.geteuid() == 0:
        assert probe.key_state(str(tmp_path / 'real.key'))['ok'] is True
        os.chmod(str(tmp_path / 'real.key'), 0o640)
        assert probe.key_state(str(tmp_path / 'real.key'))['ok'] is False
        os.chmod(str(tmp_path / 'real.key'), 0o600)
        os.chown(str(tmp_path / 'real.key'), 65534, 65534)
        state = probe.key_state(str(tmp_path / 'real.key'))
        assert state['owner'] == 'nobody' and state['ok'] is False
    (tmp_path / 'dir.key').mkdir()
    assert 'is a directory' in probe.key_state(str(tmp_path / 'dir.key'))['error']


def test_psk_states_fingerprints_and_extra_files(tmp_path):
    psk_dir = tmp_path / 'psk'
    psk_dir.mkdir()
    psk_b, psk_c = keys.generate_psk(), keys.generate_psk()
    write(psk_dir / 'b.psk', psk_b)
    write(psk_dir / 'c.psk', psk_c, 0o640)
    write(psk_dir / 'broken.psk', 'nonsense')
    write(psk_dir / 'gone.psk', keys.generate_psk())
    write(psk_dir / '.hidden.psk', keys.generate_psk())
    (psk_dir / 'notes.txt').write_text(u'not a PSK')
    states = dict((name, probe.psk_state(str(psk_dir / (name + '.psk')), name)) for name in ('b', 'c', 'broken', 'd'))
    assert states['b']['fingerprint'] == keys.psk_fingerprint(psk_b) and states['b']['valid'] is True
    assert states['c']['fingerprint'] == keys.psk_fingerprint(psk_c) and states['c']['mode'] == '640'
    assert states['broken']['exists'] is True and states['broken']['valid'] is False
    assert states['broken']['fingerprint'] is None and 'wrong length' in states['broken']['error']
    assert states['d'] == dict(exists=False, fingerprint=None, valid=False, mode=None, owner=None, group=None,
                               symlink=False, error=None)
    text = json.dumps(states)
    assert psk_b not in text and psk_c not in text
    assert probe.psk_extra(str(psk_dir), ['b', 'c', 'd']) == ['broken', 'gone']
    assert probe.psk_extra(str(tmp_path / 'none'), []) == []


# ---------------------------------------------------------------------------- config and options

def render_config(peers):
    """The role's wg-quick.conf.j2 rendered as the role renders it (trim_blocks).

    The variables of the template's present form (``node``) and of its earlier one are both given,
    so the test follows the template whichever it is.
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')), trim_blocks=True)
    site = dict(name='dublin', address='10.99.0.1', address6='fd99::1', port=51820)
    node = dict(site, interface='wg0', config_path='/etc/wireguard/wg0.conf', mtu=1420,
                addresses=['10.99.0.1/24', 'fd99::1/64'], pre_up=['nft -f /etc/wireguard/wgmesh-firewall.nft'],
                post_up=['wg set %i private-key /etc/wireguard/wg0.key'], post_down=[], peers=peers)
    return env.get_template('wg-quick.conf.j2').render(
        node=node, managed='Ansible managed', ansible_managed='Ansible managed', inventory_hostname='dublin',
        wireguard_mesh_network='10.99.0.0/24', wireguard_mesh_network6='fd99::/64', __wireguard_mesh_tunnel_mtu=1420,
        __wireguard_mesh_site=site, __wireguard_mesh_firewall_backend='nftables',
        __wireguard_mesh_firewall_file='/etc/wireguard/wgmesh-firewall.nft',
        __wireguard_mesh_key_path='/etc/wireguard/wg0.key', __wireguard_mesh_peers=peers)


def test_config_peers_from_the_rendered_config(tmp_path):
    frankfurt, newyork = keys.generate_keypair()[1], keys.generate_keypair()[1]
    psk = keys.generate_psk()
    peers = [dict(name='frankfurt', public_key=frankfurt, preshared_key_path='/etc/wireguard/psk/frankfurt.psk',
                  preshared_key=psk, endpoint='198.51.100.2:51820', allowed_ips=['10.99.0.2/32', '10.20.0.0/24'],
                  persistent_keepalive=25),
             dict(name='newyork', public_key=newyork, preshared_key_path='/etc/wireguard/psk/newyork.psk',
                  endpoint='', allowed_ips=['10.99.0.3/32'], persistent_keepalive=0)]
    path = tmp_path / 'wg0.conf'
    path.write_text(render_config(peers))
    assert '# frankfurt\nPublicKey = %s\n' % frankfurt in path.read_text()
    found = probe.config_peers(str(path))
    assert found == dict(frankfurt=frankfurt, newyork=newyork)
    assert psk not in json.dumps(found)
    path.write_text(u'[Interface]\n# not a peer\nPrivateKey = %s\n[Peer]\nPublicKey = %s\n[Peer]\n# bad\n'
                    u'PublicKey = short\n[peer]\n#  spaced  \npublickey=%s\n'
                    % (keys.generate_private_key(), frankfurt, newyork))
    assert probe.config_peers(str(path)) == dict(spaced=newyork)
    assert probe.config_peers(str(tmp_path / 'none.conf')) == {}


def test_parse_addresses_keeps_global_addresses_only():
    text = json.dumps([{'ifname': 'wg0', 'mtu': 1420, 'addr_info': [
        {'family': 'inet', 'local': '10.99.0.1', 'prefixlen': 24, 'scope': 'global'},
        {'family': 'inet6', 'local': 'fd99::1', 'prefixlen': 64, 'scope': 'global'},
        {'family': 'inet6', 'local': 'fe80::1', 'prefixlen': 64, 'scope': 'link'},
        {'family': 'inet', 'local': '10.99.0.9', 'prefixlen': 32, 'scope': 'host'},
        {'family': 'inet', 'local': '10.98.0.1', 'prefixlen': 24, 'scope': 'global'}]}])
    assert probe.parse_addresses(text) == ['10.98.0.1/24', '10.99.0.1/24', 'fd99::1/64']
    assert probe.parse_addresses('not json') == [] and probe.parse_addresses('') == []


def options(**changes):
    params = dict(interface='wg0', config_dir='/etc/wireguard', peers=[], files=[], units=[], services=[],
                  sysctls=[], scope='full')
    params.update(changes)
    return params


@pytest.mark.parametrize('changes,fragment', [
    (dict(interface='wg0\n'), "interface 'wg0\\n' is not a valid interface name"),
    (dict(interface='a' * 16), 'is not a valid interface name'),
    (dict(interface='..'), 'is not a valid interface name'),
    (dict(peers=['ok', 'a/b']), "peers[1] 'a/b' may only hold"),
    (dict(peers=['..']), "peers[0] '..' may only hold"),
    (dict(peers=['b\n']), "peers[0] 'b\\n' may only hold"),
    (dict(config_dir='etc/wireguard'), 'config_dir'),
    (dict(units=['../../shadow']), "units[0] '../../shadow' is not a systemd unit name"),
    (dict(services=['ok.service', 'a b']), "services[1] 'a b' is not a systemd unit name"),
    (dict(sysctls=['net..x']), "sysctls[0] 'net..x' is not a sysctl key"),
    (dict(sysctls=['../etc/passwd']), 'is not a sysctl key'),
])
def test_bad_options_are_refused(changes, fragment):
    problems = probe.check_options(options(**changes))
    assert len(problems) == 1 and fragment in problems[0]


def test_good_options_pass():
    assert probe.check_options(options(peers=['site-b', 'new_york.2'], files=['/etc/wireguard/wg0.conf', 'wg0.conf'],
                                       services=['prometheus-node-exporter.service'],
                                       units=['wg-quick@wg0.service', 'wireguard-mesh-textfile-wg0.timer'],
                                       sysctls=['net.ipv4.ip_forward', 'net.ipv4.conf.eth0/10.rp_filter'])) == []


def test_unit_states_from_one_systemctl_show():
    text = ('LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n'
            'LoadState=not-found\nActiveState=inactive\nUnitFileState=\n\n'
            'LoadState=loaded\nActiveState=failed\nUnitFileState=disabled\n')
    assert probe.parse_unit_states(text, ['a.service', 'b.service', 'c.service']) == {
        'a.service': {'enabled': 'enabled', 'active': 'active'},
        'b.service': {'enabled': 'not-found', 'active': 'inactive'},
        'c.service': {'enabled': 'disabled', 'active': 'failed'}}
    assert probe.parse_unit_states('', ['a.service']) == {'a.service': {'enabled': '', 'active': ''}}


class Commands(object):
    """run_command answering from a table (argv tuple -> (rc, stdout)); records what ran."""

    def __init__(self, answers):
        self.answers = answers
        self.ran = []

    def run_command(self, argv, **_kwargs):
        self.ran.append(tuple(argv))
        rc, out = self.answers.get(tuple(argv), (1, ''))
        return rc, out, ''


UFW_RULES = """*filter
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT
%s
COMMIT
"""


@pytest.mark.parametrize('tuples,expected', [
    # "wgmesh:wg0" hex-encoded, as ufw stores a rule's comment.
    (['### tuple ### allow udp 51820 0.0.0.0/0 any 0.0.0.0/0 in comment=77676d6573683a776730'], True),
    (['### tuple ### route:allow any any 0.0.0.0/0 any 0.0.0.0/0 out_wg0 comment=77676d6573683a776730'], True),
    # Another interface's tag, an admin's comment, a rule line (not a tuple) that names the tag.
    (['### tuple ### allow udp 51821 0.0.0.0/0 any 0.0.0.0/0 in comment=77676d6573683a776731'], False),
    (['### tuple ### allow udp 51820 0.0.0.0/0 any 0.0.0.0/0 in comment=61646d696e'], False),
    (['# comment=77676d6573683a776730'], False),
    ([], False),
], ids=['port', 'route', 'other-interface', 'admin-comment', 'not-a-tuple', 'none'])
def test_ufw_rules_of_the_role_are_found_by_their_tag(tmp_path, tuples, expected):
    rules, rules6 = tmp_path / 'user.rules', tmp_path / 'user6.rules'
    rules6.write_text(UFW_RULES % '\n'.join(tuples))
    assert probe.ufw_tagged('wg0', (str(rules), str(rules6))) is expected  # user.rules missing: skipped


NFT_CHAINS = ('/usr/sbin/nft', '-j', 'list', 'chains')


def _chain(family, table, name, policy, hook='forward'):
    return {'chain': {'family': family, 'table': table, 'name': name, 'handle': 1, 'type': 'filter', 'hook': hook,
                      'prio': 0, 'policy': policy}}


@pytest.mark.parametrize('items,expected', [
    # Docker on iptables-nft: FORWARD drops; the admin's own nft chains and accepting ones do not count.
    ([{'metainfo': {'json_schema_version': 1}}, _chain('ip', 'filter', 'INPUT', 'accept', 'input'),
      _chain('ip', 'filter', 'FORWARD', 'drop'), _chain('ip', 'filter', 'DOCKER-USER', None),
      _chain('ip6', 'filter', 'INPUT', 'drop', 'input'), _chain('inet', 'filter', 'input', 'drop', 'input'),
      _chain('ip', 'edge', 'FORWARD', 'drop')],
     ['ip filter FORWARD', 'ip6 filter INPUT']),
    ([], []),
], ids=['docker', 'empty'])
def test_iptables_chains_that_drop_by_policy(items, expected):
    answers = {NFT_CHAINS: (0, json.dumps({'nftables': items}))}
    assert probe.iptables_drop_chains(Commands(answers), {'nft': '/usr/sbin/nft'}) == expected


@pytest.mark.parametrize('answer', [(1, ''), (0, 'not json'), (0, '{"nftables": 3}'), (0, '[]')])
def test_iptables_chains_unreadable_count_as_none(answer):
    assert probe.iptables_drop_chains(Commands({NFT_CHAINS: answer}), {'nft': '/usr/sbin/nft'}) == []
    assert probe.iptables_drop_chains(Commands({}), {}) == []
