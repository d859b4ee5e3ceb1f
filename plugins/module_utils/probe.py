# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of the wg_probe module: one read-only look at everything the role decides on.

Nothing is changed. The private key and the PSK files are read in memory only to derive the
public key and the PSK fingerprints, then dropped. File states use the strings of
``sha1sum`` and ``stat -c '%a %U %G'`` because the controller compares rendered checksums
with them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import grp
import hashlib
import ipaddress
import json
import os
import pwd
import re
import shlex
import stat
import sys
import time

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.module_utils import wg
from ansible_collections.wgmesh.wireguard.plugins.module_utils.osrelease import read_os
from ansible_collections.wgmesh.wireguard.plugins.module_utils.firewall_tag import role_tag
from ansible_collections.wgmesh.wireguard.plugins.module_utils.psk import NAME_RE, PSK_SUFFIX, psk_path
from ansible_collections.wgmesh.wireguard.plugins.module_utils.secretfile import SecretFileError, read_secret

ARGUMENT_SPEC = dict(
    interface=dict(type='str', default='wg0'),
    config_dir=dict(type='path', default='/etc/wireguard'),
    peers=dict(type='list', elements='str', default=[]),
    files=dict(type='list', elements='path', default=[]),
    units=dict(type='list', elements='str', default=[]),
    services=dict(type='list', elements='str', default=[]),
    sysctls=dict(type='list', elements='str', default=[]),
    scope=dict(type='str', default='full', choices=['full', 'keys']),
)

SYSTEMD_DIR = '/etc/systemd/system'
PROC_SYS = '/proc/sys'
SYS_MODULE_WIREGUARD = '/sys/module/wireguard'
UNIT_MARKER = '# wgmesh.wireguard: written by the role'
PROBE_LINK = 'wgmesh-probe'
NFT_SCRIPT = 'wgmesh-firewall-nft.py'
UFW_RULE_FILES = ('/etc/ufw/user.rules', '/etc/ufw/user6.rules')

# Result key -> command looked up on PATH.
TOOLS = (('wg', 'wg'), ('wg_quick', 'wg-quick'), ('wireguard_go', 'wireguard-go'), ('nft', 'nft'),
         ('iptables', 'iptables'), ('ufw', 'ufw'), ('firewall_cmd', 'firewall-cmd'))
UNIT_RE = re.compile(r'[A-Za-z0-9:_.@\\-]+')
# Dotted like sysctl(8); a "/" in a component stands for a dot in the name (net.ipv4.conf.eth0/10.rp_filter).
SYSCTL_RE = re.compile(r'[A-Za-z0-9_=+:@-]+(?:[./][A-Za-z0-9_=+:@-]+)*')
C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}


def check_options(params):
    """Problems with the option values, as messages."""
    problems = []
    try:
        wg.check_interface(params['interface'])
    except ValueError as exc:
        problems.append(str(exc))
    if not os.path.isabs(params['config_dir']):
        problems.append('config_dir %r must be an absolute path' % (params['config_dir'],))
    for index, name in enumerate(params['peers']):
        if not NAME_RE.fullmatch(name) or name in ('.', '..'):
            problems.append('peers[%d] %r may only hold letters, digits, "_", "." and "-" (it names the file '
                            '<name>.psk): use the peer site name' % (index, name))
    for option in ('units', 'services'):
        for index, unit in enumerate(params[option]):
            if not UNIT_RE.fullmatch(unit) or unit in ('.', '..'):
                problems.append('%s[%d] %r is not a systemd unit name (e.g. wg-quick@wg0.service)'
                                % (option, index, unit))
    for index, key in enumerate(params['sysctls']):
        if not SYSCTL_RE.fullmatch(key):
            problems.append('sysctls[%d] %r is not a sysctl key (e.g. net.ipv4.ip_forward)' % (index, key))
    return problems


# ---------------------------------------------------------------------------- files

def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'UNKNOWN'  # what stat -c %U prints


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return 'UNKNOWN'


def file_state(path):
    """``'<sha1> <mode> <owner> <group>'`` of a regular file, ``'absent'``, ``'symlink'`` or ``'unreadable: ...'``.

    The file is opened without following a symlink, so the state describes exactly what was read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            return 'symlink'
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return 'absent'
        return 'unreadable: %s' % exc.strerror
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return 'absent'  # like the shell probe's test -f
    with os.fdopen(fd, 'rb') as handle:
        digest = hashlib.sha1()
        try:
            for chunk in iter(lambda: handle.read(65536), b''):
                digest.update(chunk)
        except (IOError, OSError) as exc:
            return 'unreadable: %s' % exc.strerror
    return '%s %o %s %s' % (digest.hexdigest(), stat.S_IMODE(st.st_mode), _user(st.st_uid), _group(st.st_gid))


def path_state(path):
    """``{exists, mode, owner, group, symlink, error}`` of a path, following a symlink as its readers do."""
    state = dict(exists=False, mode=None, owner=None, group=None, symlink=os.path.islink(path), error=None)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            state.update(exists=None, error='cannot stat %s: %s' % (path, exc.strerror))
        return state
    state.update(exists=True, mode='%o' % stat.S_IMODE(st.st_mode), owner=_user(st.st_uid), group=_group(st.st_gid))
    return state


def unit_is_ours(unit, directory=SYSTEMD_DIR):
    """Whether ``<directory>/<unit>`` exists and carries the role's marker line."""
    try:
        with open(os.path.join(directory, unit), 'rb') as handle:
            text = handle.read(1048576).decode('utf-8', 'replace')
    except (IOError, OSError):
        return False
    return any(line.startswith(UNIT_MARKER) for line in text.splitlines())


def sysctl_path(key, root=PROC_SYS):
    return os.path.join(root, *[part.replace('/', '.') for part in key.split('.')])


def read_sysctl(key, root=PROC_SYS):
    """Live value of a sysctl key as ``sysctl -n`` prints it, or None when it does not exist."""
    try:
        with open(sysctl_path(key, root), 'rb') as handle:
            return handle.read(65536).decode('utf-8', 'replace').strip()
    except (IOError, OSError):
        return None


# ---------------------------------------------------------------------------- keys

def _public_part(path, what, derive):
    """``derive(content)`` of the secret in ``path`` (a public key, a fingerprint): (value, error)."""
    content = None
    try:
        content = read_secret(path, what)
        return (derive(content) if content is not None else None), None
    except (SecretFileError, ValueError) as exc:
        return None, str(exc)
    finally:
        del content


def key_state(path):
    """State of the private key file: its public key, never the key."""
    state = path_state(path)
    state.update(public_key=None, staged=os.path.lexists(path + '.next'), previous=os.path.lexists(path + '.prev'))
    if state['exists']:
        state['public_key'], error = _public_part(path, 'private key file', lambda content: keys.public_key_from_private(
            content, what='private key file %s' % path))
        state['error'] = error or state['error']
    state.update(path=path, ok=bool(state['public_key']) and not state['symlink'] and state['mode'] == '600'
                 and state['owner'] == 'root' and state['group'] == 'root')
    return state


def psk_state(path, name):
    """State of one PSK file: its fingerprint, never the PSK."""
    state = path_state(path)
    state.update(fingerprint=None, valid=False)
    if state['exists']:
        state['fingerprint'], error = _public_part(path, 'PSK file of peer %s' % name, lambda content: keys.psk_fingerprint(
            content, what='PSK file %s' % path))
        state['error'] = error or state['error']
        state['valid'] = state['fingerprint'] is not None
    return state


def psk_extra(directory, names):
    """Sorted names of the ``*.psk`` files in ``directory`` that are not in ``names``."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    listed = set(names)
    return sorted(e[:-len(PSK_SUFFIX)] for e in entries
                  if e.endswith(PSK_SUFFIX) and not e.startswith('.') and e[:-len(PSK_SUFFIX)] not in listed
                  and os.path.isfile(os.path.join(directory, e)))


def config_peers(path):
    """``{site name: public key}`` of the ``[Peer]`` sections the role wrote (``# <name>`` first)."""
    try:
        with open(path, 'rb') as handle:
            text = handle.read(4194304).decode('utf-8', 'replace')
    except (IOError, OSError):
        return {}
    peers = {}
    in_peer, name = False, None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith('['):
            in_peer, name = line.lower() == '[peer]', None
        elif in_peer and line.startswith('#'):
            name = name or line[1:].strip()
        elif in_peer and name:
            option, sep, value = line.partition('=')
            if sep and option.strip().lower() == 'publickey':
                try:
                    keys.validate_key(value)
                except ValueError:
                    continue
                peers[name] = value.strip()
    return peers


# ---------------------------------------------------------------------------- commands

def _stdout(module, argv, **kwargs):
    rc, out, _err = module.run_command(argv, **kwargs)
    return rc, (out or '').strip()


def kernel_wireguard(module, ip_bin):
    """Whether the kernel has WireGuard (module loaded, or a link of that type can be made)."""
    if os.path.isdir(SYS_MODULE_WIREGUARD):
        return True
    if not ip_bin:
        return False
    if module.run_command([ip_bin, 'link', 'add', PROBE_LINK, 'type', 'wireguard'])[0] != 0:
        return False
    module.run_command([ip_bin, 'link', 'del', PROBE_LINK])
    return True


def parse_unit_states(text, units):
    """``{unit: {enabled, active}}`` from ``systemctl show -p LoadState,UnitFileState,ActiveState``
    of ``units`` (one block per unit, in order). ``enabled`` is the unit file state, or
    ``not-found`` for a unit that does not exist."""
    blocks = text.strip().split('\n\n') if text.strip() else []
    states = {}
    for unit, block in zip(units, blocks):
        fields = dict(line.partition('=')[::2] for line in block.splitlines())
        enabled = fields.get('UnitFileState') or ('not-found' if fields.get('LoadState') == 'not-found' else '')
        states[unit] = dict(enabled=enabled, active=fields.get('ActiveState', ''))
    for unit in units:
        states.setdefault(unit, dict(enabled='', active=''))
    return states


def services(module, bins, interface, units=()):
    """``service``, ``services``, ``firewalld``, ``ufw`` and ``selinux`` of the result. One
    systemctl call for every unit."""
    systemctl = bins.get('systemctl')
    service = 'wg-quick@%s.service' % interface
    names = [service, 'firewalld.service'] + [unit for unit in units if unit not in (service, 'firewalld.service')]
    found = dict((unit, dict(enabled='', active='')) for unit in names)
    if systemctl:
        rc, text = _stdout(module, [systemctl, 'show', '-p', 'LoadState,UnitFileState,ActiveState', '--'] + names,
                           environ_update=C_LOCALE)
        if rc == 0 and text:
            found = parse_unit_states(text, names)
        else:  # no running systemd (a chroot, a container without it): what the unit files say
            found = dict((unit, dict(enabled=_stdout(module, [systemctl, 'is-enabled', unit])[1],
                                     active=_stdout(module, [systemctl, 'is-active', unit])[1])) for unit in names)
    state = dict(service=found[service], services=dict((unit, found[unit]) for unit in units),
                 firewalld=found['firewalld.service']['active'] if systemctl else '', ufw=False, selinux=False)
    # Without ufw its rule files (a package removed, not purged) load nowhere.
    state['ufw_tagged'] = bool(bins.get('ufw')) and ufw_tagged(interface)
    if bins.get('ufw'):
        out = _stdout(module, [bins['ufw'], 'status'], environ_update=C_LOCALE)[1]
        state['ufw'] = any(line.startswith('Status: active') for line in out.splitlines())
    if bins.get('selinuxenabled'):
        state['selinux'] = module.run_command([bins['selinuxenabled']])[0] == 0
    return state


def ufw_tagged(interface, rule_files=UFW_RULE_FILES):
    """Whether ufw holds rules the role added for the interface (their comment is its tag, which
    ufw stores hex-encoded): a site that leaves ufw has them to remove."""
    needle = 'comment=' + binascii.hexlify(role_tag(interface).encode()).decode()
    for path in rule_files:
        try:
            with open(path) as handle:
                if any(line.startswith('### tuple ###') and line.rstrip().endswith(needle) for line in handle):
                    return True
        except (IOError, OSError):
            continue
    return False


def parse_addresses(json_text):
    """Sorted ``addr/prefix`` of global scope from ``ip -j addr show`` (link-local dropped)."""
    try:
        links = json.loads(json_text or '[]')
    except ValueError:
        return []
    found = set()
    for link in links if isinstance(links, list) else []:
        for info in link.get('addr_info') or []:
            if info.get('scope') != 'global' or info.get('family') not in ('inet', 'inet6'):
                continue
            try:
                if ipaddress.ip_address(info['local']).is_link_local:
                    continue
                found.add('%s/%d' % (info['local'], int(info['prefixlen'])))
            except (KeyError, ValueError, TypeError):
                continue
    return sorted(found)


def live_psk_fingerprints(psks):
    """{peer public key: fingerprint} of the PSKs a live interface uses (for a mesh built by hand,
    whose PSK files the role makes from the interface); never a PSK."""
    found = {}
    for public_key, psk in psks.items():
        if psk:
            try:
                found[public_key] = keys.psk_fingerprint(psk)
            except ValueError:
                continue
    return found


# A wg-quick config written by hand (the guide's): PostUp rules that accept the interface's
# traffic in iptables' filter table, which the role's firewall replaces.
_TAKEOVER_CHAINS = ('FORWARD', 'INPUT')


def _takeover_rule(argv, interface):
    """The deletion of a PostUp ``iptables -A|-I FORWARD|INPUT ... -i|-o IFACE ... -j ACCEPT``, else None."""
    if len(argv) < 5 or os.path.basename(argv[0]) not in ('iptables', 'ip6tables') or argv[1] not in ('-A', '-I'):
        return None
    chain, spec = argv[2], argv[3:]
    if chain not in _TAKEOVER_CHAINS:
        return None
    if argv[1] == '-I' and spec and spec[0].isdigit():
        spec = spec[1:]
    names_interface = any(spec[i] in ('-i', '-o') and spec[i + 1] == interface for i in range(len(spec) - 1))
    if not names_interface or spec[-2:] != ['-j', 'ACCEPT'] or any(part.startswith('-t') for part in spec):
        return None
    return [os.path.basename(argv[0]), '-D', chain] + spec


def hand_config(path, interface):
    """What the role takes over from a config written by hand (or by the offline render): whether it
    holds keys (then no diff may show it) and the deletions of its PostUp forwarding rules.
    ``None`` when the file is missing or has neither, as the role's own config."""
    try:
        with open(path, 'rb') as handle:
            text = handle.read(4194304).decode('utf-8', 'replace')
    except (IOError, OSError):
        return None
    lines = [raw.strip() for raw in text.splitlines()]
    secrets, rules = False, []
    for line in lines:
        option, sep, value = line.partition('=')
        option = option.strip().lower()
        if sep and option in ('privatekey', 'presharedkey'):
            secrets = True
        elif sep and option == 'postup':
            try:
                argv = shlex.split(value.replace('%i', interface))
            except ValueError:
                continue
            rule = _takeover_rule(argv, interface)
            if rule and rule not in rules:
                rules.append(rule)
    del text, lines
    return {'secrets': secrets, 'forward_rules': rules} if secrets or rules else None


def live_interface(module, interface, bins):
    """The running interface: keys, port, MTU, addresses, peers (no secret)."""
    state = dict(exists=wg.interface_exists(interface), public_key=None, listen_port=None, mtu=None,
                 addresses=[], peers=[], psk_fingerprints={})
    if not state['exists']:
        return state
    try:
        with open(os.path.join('/sys/class/net', interface, 'mtu')) as handle:
            state['mtu'] = int(handle.read().strip())
    except (IOError, OSError, ValueError):
        pass
    if bins.get('wg'):
        psks = {}
        try:
            info, psks = wg.read_dump(module, interface, keep_psks=True)
        except wg.WgError:
            info = None  # not a WireGuard interface, or its daemon is gone: nothing to report
        if info is not None:
            state.update(public_key=info['interface']['public_key'], listen_port=info['interface']['listen_port'],
                         peers=sorted(peer['public_key'] for peer in info['peers']),
                         psk_fingerprints=live_psk_fingerprints(psks))
        psks.clear()
    if bins.get('ip'):
        rc, out = _stdout(module, [bins['ip'], '-j', 'addr', 'show', 'dev', interface])
        if rc == 0:
            state['addresses'] = parse_addresses(out)
    return state


# ---------------------------------------------------------------------------- entry point

def _system(module, params):
    """Everything of scope=full before the keys: distribution, tools, services, files, units, sysctls."""
    bins = dict((name, module.get_bin_path(command)) for name, command in TOOLS)
    for command in ('ip', 'systemctl', 'selinuxenabled'):
        bins[command] = module.get_bin_path(command)
    state = dict(os=read_os(), python=sys.executable, kernel=kernel_wireguard(module, bins['ip']),
                 tools=dict((name, bins[name] is not None) for name, _command in TOOLS))
    state.update(services(module, bins, params['interface'], params['services']))
    # A relative path is inside config_dir; the result names the full path.
    files = [os.path.join(params['config_dir'], path) for path in params['files']]
    state.update(files=dict((path, file_state(path)) for path in files),
                 units=[unit for unit in params['units'] if unit_is_ours(unit)],
                 sysctls=dict((key, read_sysctl(key)) for key in params['sysctls']),
                 nft_rules=nft_rules(module, params, bins), iptables_drop=iptables_drop_chains(module, bins))
    return state, bins


def iptables_drop_chains(module, bins):
    """The INPUT and FORWARD chains of iptables-nft (table filter, families ip and ip6) whose policy
    is drop, as nft names them ("ip filter FORWARD"): Docker's, or an iptables firewall's. Rules of
    the nftables backend cannot go there (iptables would no longer read its own chains)."""
    if not bins.get('nft'):
        return []
    rc, out = _stdout(module, [bins['nft'], '-j', 'list', 'chains'])
    try:
        items = json.loads(out)['nftables'] if rc == 0 and out else []
        chains = [item['chain'] for item in items if isinstance(item, dict) and isinstance(item.get('chain'), dict)]
    except (ValueError, KeyError, TypeError):
        return []
    return sorted('%s filter %s' % (chain['family'], chain['name']) for chain in chains
                  if chain.get('family') in ('ip', 'ip6') and chain.get('table') == 'filter'
                  and chain.get('name') in ('INPUT', 'FORWARD') and chain.get('policy') == 'drop')


def nft_rules(module, params, bins):
    """With the nftables backend and the interface up: 'live' when the role's table and its rules in
    the admin's chains are in the ruleset, 'missing' when not (an `nft -f` of the admin's ruleset
    flushed them, or the admin added a chain); None otherwise. The role's own script checks, so the probe and wg-quick agree."""
    script = os.path.join(params['config_dir'], NFT_SCRIPT)
    if not (bins.get('nft') and os.path.isfile(script) and wg.interface_exists(params['interface'])):
        return None
    return 'live' if module.run_command([sys.executable, script, 'check'])[0] == 0 else 'missing'


def run_probe(module):
    """Entry point of the wg_probe module."""
    params = module.params
    problems = check_options(params)
    if problems:
        module.fail_json(msg='; '.join(problems))
    interface, config_dir = params['interface'], params['config_dir']
    psk_dir = os.path.join(config_dir, 'psk')
    full = params['scope'] == 'full'
    result = dict(changed=False, now=int(time.time()))
    if full:
        system, bins = _system(module, params)
        result.update(system)
    result.update(key=key_state(os.path.join(config_dir, interface + '.key')),
                  psks=dict((name, psk_state(psk_path(psk_dir, name), name)) for name in params['peers']))
    if full:
        result.update(psk_extra=psk_extra(psk_dir, params['peers']), psk_dir=path_state(psk_dir),
                      config_dir_state=path_state(config_dir), interface=live_interface(module, interface, bins))
    result['config_peers'] = config_peers(os.path.join(config_dir, interface + '.conf'))
    if full:
        result['hand_config'] = hand_config(os.path.join(config_dir, interface + '.conf'), interface)
    return result
