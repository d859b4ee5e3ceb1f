# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offline render (playbooks/render.yml): every site's wg-quick config in a local
directory, for sites Ansible does not manage.

The only place where keys are made on the controller: a site without a key in the directory
and without a public key in the inventory gets a private key there (<site>.key, 0600), one
PSK per pair is kept as <a>+<b>.psk (0600); re-runs reuse them. The configs come from the
role's own template, with the keys inline (PrivateKey, PresharedKey), and are 0600 in a 0700
directory. Returns only public data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys as wgkeys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model


class OfflineError(ValueError):
    """The render directory cannot be used; the message says what to do."""


def _read(path, what):
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except (IOError, OSError) as exc:
        raise OfflineError('cannot read %s %s: %s' % (what, path, exc.strerror))
    try:
        wgkeys.validate_key(value, '%s %s' % (what, path))
    except ValueError as exc:
        raise OfflineError('%s: fix or remove the file' % exc)
    return value


def _write(path, text):
    """0600 from the start, renamed into place: never readable by others, never half-written."""
    directory = os.path.dirname(path)
    handle, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, 'w') as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _key(directory, name, made):
    """The private key in <name>.key; made (and listed in ``made``) when absent."""
    path = os.path.join(directory, name)
    if os.path.exists(path):
        return _read(path, 'key file')
    value = wgkeys.generate_private_key() if name.endswith('.key') else wgkeys.generate_psk()
    _write(path, value + '\n')
    made.append(name)
    return value


def render(mesh, directory, renderer):
    """Write every site's config into ``directory``; returns {written, generated_keys, generated_psks}."""
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise OfflineError('render_dir %s exists and is not a directory: choose another path' % directory)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    os.chmod(directory, 0o700)
    settings = mesh['settings']
    made_keys, made_psks = [], []
    private, public = {}, {}
    for site in mesh['sites']:
        name = site['name']
        if site.get('public_key') and not os.path.exists(os.path.join(directory, name + '.key')):
            public[name] = site['public_key']
            continue
        private[name] = _key(directory, name + '.key', made_keys)
        public[name] = wgkeys.public_key_from_private(private[name])
        if site.get('public_key') and site['public_key'] != public[name]:
            raise OfflineError("site '%s': the private key %s.key in %s does not belong to the wireguard_mesh_public_key "
                               "of the inventory: remove the key file or fix the public key." % (name, name, directory))
    psks = dict(('+'.join(pair), _key(directory, '+'.join(pair) + '.psk', made_psks))
                for pair in model.direct_pairs(mesh['sites']))
    written = []
    for site in mesh['sites']:
        node = _node(site, mesh, public, private, psks, settings)
        text = renderer.render('wg-quick.conf.j2', node)
        path = os.path.join(directory, site['name'] + '.conf')
        if not os.path.exists(path) or open(path).read() != text:
            _write(path, text)
            written.append(site['name'])
    return {'written': written, 'generated_keys': sorted(n[:-4] for n in made_keys),
            'generated_psks': sorted(n[:-4] for n in made_psks)}


def _node(site, mesh, public, private, psks, settings):
    name = site['name']
    prefix = settings['network'].split('/')[1]
    addresses = ['%s/%s' % (site['address'], prefix)]
    if site.get('address6'):
        addresses.append('%s/%s' % (site['address6'], settings['network6'].split('/')[1]))
    peers = model.peers(mesh['sites'], name, public, settings['keepalive'])
    for peer in peers:
        peer['preshared_key'] = psks['+'.join(sorted([name, peer['name']]))]
    node = {'name': name, 'interface': settings['interface'], 'addresses': addresses, 'port': site['port'],
            'mtu': mesh['mtu'], 'pre_up': [], 'post_up': [], 'post_down': [], 'peers': peers,
            'config_path': '/etc/wireguard/%s.conf' % settings['interface'],
            'key_path': '/etc/wireguard/%s.key' % settings['interface'], 'offline': True}
    if name in private:
        node['private_key'] = private[name]
    else:
        node['post_up'] = ['wg set %%i private-key %s' % node['key_path']]
    if site.get('lan_cidrs'):
        up, down = forwarding(bool(site.get('address6')))
        node['post_up'] += up
        node['post_down'] += down
        node['forwarding'] = True
    return node


def forwarding(dual_stack):
    """The guide's forwarding between the tunnel and the site's LANs, as PostUp/PostDown commands:
    on at once, and accept rules inserted at the top of FORWARD (where a policy DROP, as Docker
    sets it, would stop them if appended) and removed at down."""
    tools = [('iptables', 'net.ipv4.ip_forward')] + ([('ip6tables', 'net.ipv6.conf.all.forwarding')] if dual_stack else [])
    up = ['sysctl -q -w %s=1' % key for _tool, key in tools]
    up += ['%s -I FORWARD 1 -%s %%i -j ACCEPT' % (tool, direction) for tool, _key in tools for direction in 'io']
    down = ['%s -D FORWARD -%s %%i -j ACCEPT' % (tool, direction) for tool, _key in tools for direction in 'io']
    return up, down
