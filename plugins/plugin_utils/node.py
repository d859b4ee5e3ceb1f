# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One site's node plan: what the site must hold, compared with what its probe found.

``node_plan`` is a pure function of the mesh (``plan.mesh``), the mesh's public keys
(``plan.keys``), the site's own probe (the wg_probe module), the role's options as the site
sees them and its distribution's data (``vars/<OS>.yml``). It returns everything the role's
tasks need for that site: the peers for wg_peer, each file's content and whether it must be
written, the firewall backend and its rules, the packages to install, and ``steps``: the
converge steps that have work to do, in the order the role runs them. A re-run of a
converged site has no steps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import shlex

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.firewall import NFT_DROPIN, firewall_plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.monitoring import monitoring_plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.psk_plan import psk_peer
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.refresh import post_up as refresh_post_up, refresh_plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.render import file_state

SYSCTL_PATH = '/etc/sysctl.d/99-wireguard.conf'
TOOLS = ('wg', 'wg_quick', 'wireguard_go')
# The converge steps, in the order tasks/converge.yml runs them.
STEPS = ('install', 'psk', 'files', 'selinux', 'sysctl', 'firewall', 'ufw', 'takeover',
         'monitoring_leftovers', 'monitoring', 'service', 'restart', 'mtu', 'refresh_leftovers', 'refresh')


class NodeError(ValueError):
    """The site cannot be converged as configured; the message says what to do."""


def paths(options, interface):
    config_dir = options['wireguard_mesh_config_dir'].rstrip('/') or '/'
    return {
        'config_dir': config_dir,
        'key': os.path.join(config_dir, interface + '.key'),
        'psk_dir': os.path.join(config_dir, 'psk'),
        'config': os.path.join(config_dir, interface + '.conf'),
        'names': os.path.join(config_dir, interface + '.peers.names'),
    }


def _addresses(site, settings):
    prefix = settings['network'].split('/')[1]
    out = ['%s/%s' % (site['address'], prefix)]
    if site.get('address6'):
        out.append('%s/%s' % (ipaddress.ip_address(site['address6']), settings['network6'].split('/')[1]))
    return out


def _packages(probe, backend, options, os_vars, site):
    """The packages this site lacks; NodeError when it cannot get WireGuard at all."""
    tools = probe.get('tools') or {}
    packages = os_vars['__wireguard_mesh_packages']
    needed = ['wg', 'wg_quick']
    if not probe.get('kernel'):
        go_package = options['wireguard_mesh_wireguard_go_package'] or packages.get('wireguard_go') or ''
        osinfo = probe.get('os') or {}
        if options['wireguard_mesh_userspace'] != 'auto':
            raise NodeError(
                "site '%s': the kernel has no WireGuard module and wireguard_mesh_userspace is 'never'. Load or "
                "install the wireguard kernel module (Linux 5.6+ ships it), or set wireguard_mesh_userspace: auto "
                "to use wireguard-go." % site)
        if not tools.get('wireguard_go') and not go_package:
            raise NodeError(
                "site '%s' (%s %s): the kernel has no WireGuard module and the distribution packages no "
                "wireguard-go. Load the module (modprobe wireguard; RHEL 9 kernels ship it), or set "
                "wireguard_mesh_wireguard_go_package to a wireguard-go package from a repository you enabled, or "
                "to the path or URL of an RPM you trust." % (site, osinfo.get('distribution'), osinfo.get('version_id')))
        needed.append('wireguard_go')
    tool = {'nftables': 'nft', 'iptables': 'iptables'}.get(backend)
    if tool:
        needed.append(tool)
    names = []
    for item in needed:
        if tools.get(item):
            continue
        name = options['wireguard_mesh_wireguard_go_package'] if item == 'wireguard_go' else ''
        name = name or packages.get(item)
        if name and name not in names:
            names.append(name)
    return names


def is_relay(mesh, site):
    return any(entry['relay'] == site for entry in mesh.get('relayed') or [])


def relay_redirects_keys(interface):
    """The interface's own send_redirects key (none for a name with a dot, which sysctl keys cannot spell)."""
    return [] if '.' in interface else ['net.ipv4.conf.%s.send_redirects' % interface]


def _sysctls(settings, relay=False):
    values = [('net.ipv4.ip_forward', '1'), ('net.ipv4.conf.all.rp_filter', '1'),
              ('net.ipv4.conf.default.rp_filter', '1')]
    if relay:
        # A relay sends the relayed pairs' packets back into the interface they came from: with
        # redirects on, the kernel "redirects" each sender and in doing so refreshes the per-host
        # ICMP rate limit, so its time-exceeded and unreachable errors to them are dropped
        # (traceroute and verify's first hop see nothing). A device sends redirects if its own
        # setting or all's says so; default covers the interface wg-quick creates.
        values += [('net.ipv4.conf.all.send_redirects', '0'), ('net.ipv4.conf.default.send_redirects', '0')]
    if settings.get('network6'):
        values.append(('net.ipv6.conf.all.forwarding', '1'))
    return [{'key': key, 'value': value} for key, value in values]


# A key is 32 bytes in base64: 42 free characters, one of 16 (the last 4 bits are zero), '='.
PEER_KEY_LINE = '^PublicKey = [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$'


def config_file_check(interface):
    """The validate command of the wg-quick config: wg-quick's own parser (it only accepts a
    file named <interface>.conf), then every peer's PublicKey must be a valid key."""
    return ("/bin/sh -c 'd=$(mktemp -d) && cp \"$1\" \"$d/%s.conf\" && wg-quick strip \"$d/%s.conf\" >\"$d/s\"; "
            "rc=$?; if [ $rc = 0 ] && grep -iE \"^[[:space:]]*publickey\" \"$d/s\" | grep -qvE \"%s\"; then "
            "echo \"a [Peer] has no valid PublicKey\" >&2; rc=1; fi; rm -rf \"$d\"; exit $rc' wgmesh %%s"
            % (interface, interface, PEER_KEY_LINE))


def included_peers(site, peers, public_keys, probe, reached):
    """The peers this site can have now: a known public key, and a PSK at this end after the run.

    A pair's PSK is written this run only when both ends were reached; a peer whose PSK this
    end lacks while the other end is down is left for a later run (wg-quick would fail on the
    missing file). Returns (peers, left out with the reason).
    """
    psks = probe.get('psks') or {}
    kept, left = [], []
    for peer in peers:
        name = peer['name']
        if not public_keys.get(name):
            left.append({'name': name, 'why': 'its public key is unknown (never deployed, and not reached)'})
        elif not (psks.get(name) or {}).get('valid') and not (site in reached and name in reached):
            left.append({'name': name, 'why': 'the pair has no preshared key yet and the site was not reached'})
        else:
            kept.append(peer)
    return kept, left


def _tunnel_addresses(entry):
    addresses = [entry['address']]
    if entry.get('address6'):
        addresses.append(str(ipaddress.ip_address(entry['address6'])))
    return addresses


def tunnel_pings(mesh, answering):
    """The tunnel addresses of the peers that answer: both of a dual-stack peer, so that the
    IPv6 tunnel is checked too where no IPv6 LAN is."""
    by_name = dict((entry['name'], entry) for entry in mesh['sites'])
    return [address for peer in answering for address in _tunnel_addresses(by_name[peer['name']])]


def relayed_sites(mesh, site, peers, reached):
    """The sites this site reaches through a relay: {name, relay, relay_key, addresses, checked}.
    ``checked``: the site, its relay and the relay's peer entry here are all there this run."""
    relayed = (mesh.get('relayed_peers') or {}).get(site) or []
    if not relayed:
        return []
    by_name = dict((entry['name'], entry) for entry in mesh['sites'])
    relay_of = dict((other, entry['relay']) for entry in mesh.get('relayed') or [] for other in entry['sites']
                    if site in entry['sites'] and other != site)
    keys = dict((peer['name'], peer['public_key']) for peer in peers)
    return [{'name': name, 'relay': relay_of[name], 'relay_key': keys.get(relay_of[name]),
             'addresses': _tunnel_addresses(by_name[name]),
             'checked': name in reached and relay_of[name] in reached and relay_of[name] in keys}
            for name in relayed]


def verify_peers(mesh, peers, relayed):
    """Every other site as verify judges it: a peer with its own tunnel addresses (a relay's entry
    also holds the sites it carries), and a relayed site with its relay's handshake (``via``)."""
    by_name = dict((entry['name'], entry) for entry in mesh['sites'])
    rows = [{'name': peer['name'], 'public_key': peer['public_key'],
             'addresses': _tunnel_addresses(by_name[peer['name']])} for peer in peers]
    rows += [{'name': entry['name'], 'public_key': entry['relay_key'], 'addresses': entry['addresses'],
              'via': entry['relay']} for entry in relayed]
    return sorted(rows, key=lambda row: row['name'])


def lan_checks(mesh, answering, relayed=()):
    """What verify checks towards each LAN of the peers that answer: the first hop must be the
    peer's tunnel address of the LAN's family (for a relayed site: its relay's), and its probe
    hosts on that LAN must answer."""
    by_name = dict((entry['name'], entry) for entry in mesh['sites'])
    checks = []
    targets = [(peer['name'], peer['name']) for peer in answering]
    targets += [(entry['name'], entry['relay']) for entry in relayed if entry['checked']]
    for name, hop_site in targets:
        entry = by_name[name]
        hop_entry = by_name[hop_site]
        hops = {4: hop_entry['address'], 6: (entry.get('address6') and hop_entry.get('address6')) or None}
        for lan in entry.get('lan_cidrs') or []:
            network = ipaddress.ip_network(lan, strict=False)
            if hops[network.version]:
                check = {'name': name, 'lan': str(network), 'hop': hops[network.version],
                         'probes': [probe for probe in entry.get('lan_probes') or []
                                    if ipaddress.ip_address(probe) in network]}
                if hop_site != name:
                    check['via'] = hop_site
                checks.append(check)
    return checks


def _interface_differs(probe, node):
    """Whether the live interface's address or port differs: only a restart changes them."""
    live = probe.get('interface') or {}
    if not live.get('exists'):
        return False
    return sorted(live.get('addresses') or []) != sorted(node['addresses']) or live.get('listen_port') != node['port']


def _mtu_differs(probe, node):
    live = probe.get('interface') or {}
    return bool(live.get('exists')) and live.get('mtu') != node['mtu']


def _psk_needs_work(probe, peer_names, writes, adopted=()):
    psks = probe.get('psks') or {}
    if any(not (psks.get(name) or {}).get('exists') for name in adopted):
        return True
    for name in peer_names:
        state = psks.get(name) or {}
        if state.get('exists') and (state.get('mode') != '600' or state.get('owner') != 'root'
                                    or state.get('group') != 'root' or state.get('symlink')):
            return True
    return bool(writes or probe.get('psk_extra'))


def node_plan(site, mesh, keys, probe, options, os_vars, renderer, psk_writes=()):
    """The node plan of ``site`` (see the module docstring); NodeError when it cannot be converged."""
    settings = mesh['settings']
    interface = settings['interface']
    site_entry = _site(mesh, site)
    where = paths(options, interface)
    all_peers = model.peers(mesh['sites'], site, keys['public_keys'], settings['keepalive'], where['psk_dir'])
    adopted = (keys.get('psk_adopt') or {}).get(site) or {}
    reached = set(keys['reached'])
    peers, left_out = included_peers(site, all_peers, keys['public_keys'], probe, reached)
    answering = [peer for peer in peers if peer['name'] in reached]
    relayed = relayed_sites(mesh, site, peers, reached)
    node = {
        'name': site,
        'interface': interface,
        'address': site_entry['address'],
        'address6': str(ipaddress.ip_address(site_entry['address6'])) if site_entry.get('address6') else '',
        'addresses': _addresses(site_entry, settings),
        'port': site_entry['port'],
        'mtu': mesh['mtu'],
        'paths': where,
        'config_path': where['config'],
        'peers': peers,
        'peers_left_out': left_out,
        'psk_peers': [psk_peer(peer['name'], {}, adopted) for peer in all_peers],
        'psk_restore_from': interface if adopted else '',
        'relayed': relayed,
        'verify_peers': verify_peers(mesh, peers, relayed),
        'ping': tunnel_pings(mesh, answering) + [address for entry in relayed if entry['checked']
                                                 for address in entry['addresses']],
        # Sites not reached this run stay peers (with the key their peers hold) but are not checked.
        'unreached_peers': sorted(peer['name'] for peer in peers if peer['name'] not in reached),
        'lan_checks': lan_checks(mesh, answering, relayed),
        'own_lans': list(site_entry.get('lan_cidrs') or []),
        'sysctls': _sysctls(settings, is_relay(mesh, site)),
        'service': 'wg-quick@%s.service' % interface,
    }
    node['firewall'] = firewall_plan(site, probe, options, os_vars, node)
    node['packages'] = _packages(probe, node['firewall']['backend'], options, os_vars, site)
    node['pre_up'] = node['firewall']['pre_up']
    node['post_up'] = (['wg set %%i peer %s preshared-key %s' % (peer['public_key'], shlex.quote(peer['preshared_key_path']))
                        for peer in peers]
                       + ['wg set %%i private-key %s' % shlex.quote(where['key'])])
    node['post_down'] = node['firewall']['post_down']
    node['monitoring'] = monitoring_plan(probe, options, os_vars, node, renderer.role_file('wireguard-mesh-textfile.sh'))
    node['refresh'] = refresh_plan(probe, options, node, renderer.role_file('wireguard-mesh-endpoints.py'))
    node['post_up'] += refresh_post_up(node['refresh'])
    files = [_file(renderer, 'wg-quick.conf.j2', node, where['config'], '0600', config_file_check(interface)),
             _file(renderer, 'sysctl.conf.j2', node, SYSCTL_PATH, '0644')]
    files += [_file(renderer, template, node, path, mode, check)
              for template, path, mode, check in (node['firewall']['files'] + node['monitoring']['files']
                                                  + node['refresh']['files'])]
    files += [dict(item, state=file_state(item['content'], item['mode']))
              for item in node['monitoring']['copies'] + node['refresh']['copies']]
    node['config_file'] = files[0]
    present = probe.get('files') or {}
    node['writes'] = [item for item in files if present.get(item['path']) != item['state']]
    node['files'] = dict((item['path'], item['state']) for item in files)
    written = set(item['path'] for item in node['writes'])
    monitoring = node['monitoring']
    monitoring['units_written'] = bool(written & set(os.path.join('/etc/systemd/system', u) for u in monitoring['units']))
    monitoring['restart'] = [unit for unit in monitoring['start']
                             if unit == 'wireguard-exporter.service' and written & set(monitoring['paths'])]
    node['refresh']['units_written'] = bool(written & set(node['refresh']['paths']))
    live_sysctls = probe.get('sysctls') or {}
    node['sysctl_apply'] = [item for item in node['sysctls'] if live_sysctls.get(item['key']) != item['value']]
    # An interface made before the relay's default changed keeps its own setting: set it live (the
    # sysctl file cannot name it, it does not exist at boot).
    if is_relay(mesh, site):
        node['sysctl_apply'] += [{'key': key, 'value': '0'} for key in relay_redirects_keys(interface)
                                 if live_sysctls.get(key) not in (None, '0')]
    service = probe.get('service') or {}
    node['start'] = service.get('enabled') != 'enabled' or service.get('active') != 'active'
    node['restart'] = not node['start'] and _interface_differs(probe, node)
    # The MTU is set live (ip link), so that a mesh built by hand is taken over without a restart.
    node['mtu_apply'] = not node['start'] and not node['restart'] and _mtu_differs(probe, node)
    hand = probe.get('hand_config') or {}
    node['takeover_rules'] = list(hand.get('forward_rules') or [])
    if hand.get('secrets'):
        node['config_file']['hide_diff'] = True
    node['fresh_all'] = node['start'] or node['restart']
    # A started or restarted interface has only new sessions: every peer needs a new handshake.
    node['fresh'] = [peer['name'] for peer in answering] if node['fresh_all'] else []
    node['package_manager'] = os_vars.get('__wireguard_mesh_package_manager') or ''
    if node['packages'] and node['package_manager'] not in ('apt', 'dnf'):
        osinfo = probe.get('os') or {}
        raise NodeError("site '%s' (%s %s) lacks %s; the role installs packages with apt or dnf only: install them "
                        "and run again." % (site, osinfo.get('distribution'), osinfo.get('version_id'),
                                            ', '.join(node['packages'])))
    node['directories'] = _secret_directories(site, probe, where) + _directories(node['writes'], node)
    node['firewall']['files_written'] = bool(written & set(entry[1] for entry in node['firewall']['files']))
    node['firewall']['dropin_written'] = NFT_DROPIN.format(interface=interface) in written
    node['firewall']['load'] = bool(node['firewall']['load_argv']) and (node['firewall']['rules_gone']
                                                                        or node['firewall']['files_written'])
    node['firewall']['firewalld_reload'] = node['firewall']['firewalld_files_gone'] or (
        node['firewall']['backend'] == 'firewalld' and node['firewall']['files_written'])
    node['steps'] = _steps(node, probe, written, psk_writes, [peer['name'] for peer in all_peers], adopted)
    return node


def _site(mesh, name):
    for entry in mesh['sites']:
        if entry['name'] == name:
            return entry
    raise NodeError("site '%s' is not a site of the mesh" % name)


def _file(renderer, template, node, path, mode, check=None):
    content = renderer.render(template, node)
    item = {'path': path, 'content': content, 'mode': mode, 'state': file_state(content, mode)}
    if check:
        item['validate'] = check
    return item


def _secret_directories(site, probe, where):
    """The config and PSK directories whose owner or mode the probe found wrong: made root 0700
    again (never trusted: anyone who can write there can swap the key)."""
    fixes = []
    for path, state in ((where['config_dir'], probe.get('config_dir_state')), (where['psk_dir'], probe.get('psk_dir'))):
        if not state or not state.get('exists'):
            continue
        if state.get('symlink'):
            raise NodeError("site '%s': %s is a symlink: the role keeps keys only in a real directory owned by root. "
                            "Replace the link by the directory it points to, or set wireguard_mesh_config_dir to it."
                            % (site, path))
        if (state.get('mode'), state.get('owner'), state.get('group')) != ('700', 'root', 'root'):
            was = '%s %s:%s' % (state.get('mode'), state.get('owner'), state.get('group'))
            fixes.append({'path': path, 'mode': '0700', 'was': was})
    return fixes


def _directories(writes, node):
    """Directories the role creates when it writes a file into them (they may not exist yet)."""
    wanted = {'/etc/firewalld/zones': '0750', '/etc/firewalld/policies': '0750', '/etc/firewalld/ipsets': '0750',
              os.path.dirname(NFT_DROPIN): '0755', node['monitoring']['textfile_dir']: '0755'}
    dirs = []
    for item in writes:
        parent = os.path.dirname(item['path'])
        if parent in wanted and parent not in [entry['path'] for entry in dirs]:
            dirs.append({'path': parent, 'mode': wanted[parent]})
    return dirs


def _steps(node, probe, written, psk_writes, peer_names, adopted):
    firewall = node['firewall']
    monitoring = node['monitoring']
    todo = {
        'install': bool(node['packages']),
        'psk': _psk_needs_work(probe, peer_names, psk_writes, adopted),
        'files': bool(written) or bool(node['directories']),
        'selinux': bool(probe.get('selinux')),
        'sysctl': bool(node['sysctl_apply']),
        'firewall': (bool(firewall['leftovers']) or firewall['load'] or firewall['ufw_leftovers']
                     or firewall['firewalld_reload']),
        'ufw': firewall['backend'] == 'ufw',
        'monitoring_leftovers': bool(monitoring['leftovers']),
        'monitoring': monitoring['mode'] != 'none' and (bool(written & set(monitoring['paths']))
                                                        or bool(monitoring['inactive'])),
        'service': node['start'],
        'restart': node['restart'],
        'mtu': node['mtu_apply'],
        'takeover': bool(node['takeover_rules']),
        'refresh_leftovers': bool(node['refresh']['leftovers']),
        'refresh': bool(node['refresh']['units']) and (bool(written & set(node['refresh']['paths']))
                                                       or bool(node['refresh']['inactive'])),
    }
    return [step for step in STEPS if todo[step]]
