# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one plan of a run, computed on the controller in three steps (the mesh_plan action):

1. ``mesh``: the group's hostvars -> validated settings, sites, MTU, and every problem of
   the inventory (so a bad one is refused before any site is contacted), plus what the
   probe must report (``watch``).
2. ``keys``: every site's probe -> the mesh's public keys (a site that was not reached keeps
   the key its peers hold), which sites were reached, and which PSKs must be read.
3. ``node`` (per site, see node.py): the site's peers, files, firewall, packages and steps.

PSK contents never enter a plan: ``psk_writes`` runs in its own no_log task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model, psk_plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import monitoring, refresh
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.firewall import role_files
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.node import SYSCTL_PATH, relay_redirects_keys
from ansible_collections.wgmesh.wireguard.plugins.inventory.sites import is_sites_data_file
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.validate import validate

SITE_DEFAULT_KEYS = ('port', 'lan_cidrs', 'lan_probes', 'endpoint', 'address6', 'underlay_mtu', 'relay')
# The services whose state the probe reports (node_exporter's name differs per distribution).
WATCHED_SERVICES = ('prometheus-node-exporter.service', 'node_exporter.service')
SYSCTLS = ('net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter',
           'net.ipv6.conf.all.forwarding', 'net.ipv4.conf.all.send_redirects', 'net.ipv4.conf.default.send_redirects')


# Paths that reach a shell (wg-quick's PostUp, which it evals) or a systemd unit: plain absolute
# paths only, so no value needs quoting and none can run a command.
SAFE_PATH_RE = re.compile(r'/(?:[A-Za-z0-9_.@+-]+/?)*')
LISTEN_ADDRESS_RE = re.compile(r'(?:[A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}')
NODE_PATHS = ('wireguard_mesh_config_dir', 'wireguard_mesh_monitoring_textfile_dir',
              'wireguard_mesh_monitoring_exporter_binary')
# Values passed to modules (a package manager, get_url, firewalld) or written into XML: the forms
# those accept, without quotes, shell characters, white space or non-ASCII.
_URL = r'(?:https?|ftp|file)://[A-Za-z0-9._~:/?#\[\]@!&()*+,=%-]{1,2000}'
PACKAGE_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+:~=-]{0,199}|' + _URL + r'|/(?:[A-Za-z0-9_.@+~-]+/?)+')
URL_RE = re.compile(_URL)
CHECKSUM_RE = re.compile(r'(?:md5|sha1|sha224|sha256|sha384|sha512):(?:[0-9A-Fa-f]{32,128}|' + _URL + ')')
ZONE_RE = re.compile(r'[A-Za-z0-9_-]{1,17}')
FORMS = (
    ('wireguard_mesh_wireguard_go_package', PACKAGE_RE, 'a package name (e.g. wireguard-go), or the URL or path of a .deb/.rpm'),
    ('wireguard_mesh_monitoring_exporter_package', PACKAGE_RE, 'a package name, or the URL or path of a .deb/.rpm'),
    ('wireguard_mesh_monitoring_exporter_url', URL_RE, 'an http(s), ftp or file URL, with any quote, space or ; '
                                                       'percent-encoded'),
    ('wireguard_mesh_monitoring_exporter_checksum', CHECKSUM_RE, 'ALGORITHM:HEX such as sha256:9f86d0..., or '
                                                                 'ALGORITHM:URL of a checksum file'),
    ('wireguard_mesh_firewalld_zone', ZONE_RE, 'a firewalld zone name: 1 to 17 letters, digits, _ or - (e.g. internal)'),
)


_CONVERSION_RE = re.compile(r"argument '(\w+)' is of type \w+ and we were unable to convert to (bool|int|float)"
                            r"(?:: .*?(?:The value (.*) is not a valid boolean|\"(.*)\" cannot be converted).*)?$", re.S)
_TYPE_ADVICE = {'bool': 'is not a boolean: use true or false', 'int': 'is not an integer',
                'float': 'is not a number'}


def _readable(error):
    """The validator's conversion errors in the words of the other messages (its list of valid
    booleans is a set, printed in a different order on every run)."""
    match = _CONVERSION_RE.match(error)
    if not match:
        return _escaped(error.rstrip('.'))
    name, kind, value_a, value_b = match.groups()
    value = value_a or value_b
    return _escaped('%s %s%s' % (name, (value + ' ') if value else '', _TYPE_ADVICE[kind]))


def sites_source_hints(sources):
    """Why a mesh group read from the guide's sites file can be empty: Ansible hands such a file to
    its yaml plugin (which skips it with a warning) unless the wgmesh.wireguard.sites plugin is enabled."""
    return ["inventory source %s is in the guide's sites format: Ansible reads it only with the inventory "
            "plugin wgmesh.wireguard.sites enabled (ANSIBLE_INVENTORY_ENABLED=wgmesh.wireguard.sites,auto,yaml,ini "
            "or enable_plugins in the [inventory] section of ansible.cfg), or through a config file with "
            "'plugin: wgmesh.wireguard.sites' and 'path: %s' (see inventories/guide-sites.yml)."
            % (source, os.path.basename(source))
            for source in sources if isinstance(source, str) and is_sites_data_file(source)]


def _escaped(text):
    """Control characters of a message (the validator quotes values raw) as escapes, like repr()."""
    return re.sub(r'[\x00-\x1f\x7f]', lambda m: repr(m.group(0))[1:-1], text)


def _shown(value):
    """A value in a message: escaped (no raw control character reaches a log), at most 60 characters."""
    return repr(value) if len(value) <= 60 else repr(value[:60]) + '... (%d characters)' % len(value)


def unsafe_option_problems(site, options):
    """Values that would reach a shell, a unit or a file name unquoted: refused, with what to do."""
    problems = []
    for name, value in sorted(options.items()):
        if isinstance(value, str) and re.search(r'[\x00-\x1f\x7f]', value):
            problems.append("site '%s': %s holds a control character (newline, tab, NUL...): remove it."
                            % (site, name))
    for name in NODE_PATHS:
        value = options.get(name)
        if value and (not SAFE_PATH_RE.fullmatch(value) or '/../' in value + '/' or '/./' in value + '/'):
            problems.append("site '%s': %s %r is not a plain absolute path: use letters, digits and _ . @ + - "
                            "between slashes, no spaces, quotes, '..' or shell characters (it is used in wg-quick's "
                            "PostUp and in systemd units)." % (site, name, value))
    for name, form, what in FORMS:
        value = options.get(name)
        if value and isinstance(value, str) and not form.fullmatch(value):
            problems.append("site '%s': %s %s is not %s." % (site, name, _shown(value), what))
    address = options.get('wireguard_mesh_monitoring_exporter_address')
    if address and not LISTEN_ADDRESS_RE.fullmatch(address):
        problems.append("site '%s': wireguard_mesh_monitoring_exporter_address %r is not [host]:port: use e.g. "
                        "':9586', '10.99.0.1:9586' or '[fd99::1]:9586'." % (site, address))
    return problems


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def os_vars_files(role_path, osinfo):
    """The distribution's vars files that exist: vars/<family>.yml, vars/<distribution>.yml,
    vars/<distribution>_<major>.yml (as include_vars would take them, later ones winning)."""
    names = [osinfo.get('family'), osinfo.get('distribution'),
             '%s_%s' % (osinfo.get('distribution'), osinfo.get('major'))]
    found = []
    for name in names:
        if name and name + '.yml' not in found and os.path.isfile(os.path.join(role_path, 'vars', name + '.yml')):
            found.append(name + '.yml')
    return found


def os_vars(role_path, osinfo):
    """vars/main.yml (what any distribution gets), then the distribution's own files, per variable."""
    merged = load_yaml(os.path.join(role_path, 'vars', 'main.yml'))
    for name in os_vars_files(role_path, osinfo):
        merged.update(load_yaml(os.path.join(role_path, 'vars', name)))
    return merged


def mesh_var_names():
    return [var for _key, var in model.MESH_SETTINGS]


def node_options(spec, values):
    """The role's options of one site, checked and converted by meta/argument_specs.yml.

    ``spec``: the ``options`` of the entry point; ``values``: the site's variables. Returns
    (options, problems): options holds every option of the spec (defaults filled in).
    """
    validator = ArgumentSpecValidator(spec)
    result = validator.validate(dict((k, v) for k, v in values.items() if k in spec))
    return result.validated_parameters, list(result.error_messages)


def _site_option_problems(names, hostvars, role_defaults, spec):
    """Problems of the per-site options that the mesh model does not check (firewall, monitoring, ...)."""
    checked = set(model.SITE_VARS.values()) | set(mesh_var_names()) | set(['wireguard_mesh_group'])
    optional = dict((name, dict(entry, required=False)) for name, entry in spec.items() if name not in checked)
    problems = []
    for name in names:
        values = dict((var, hostvars[name][var] if var in hostvars[name] else role_defaults.get(var))
                      for var in optional)
        options, errors = node_options(optional, values)
        problems += ["site '%s': %s (see ansible-doc -t role wgmesh.wireguard.wireguard_mesh)." % (name, _readable(error))
                     for error in errors]
        if not errors:
            problems += (unsafe_option_problems(name, options) + monitoring.option_problems(name, options)
                         + refresh.option_problems(name, options))
    return problems


def watch(interface):
    """What the probe reports: the role's files (relative paths are inside the config dir),
    its units, the state of its timers and services (and node_exporter's) and the sysctls."""
    units = monitoring.all_units(interface) + refresh.units(interface)
    files = (['%s.conf' % interface] + role_files(interface)
             + ['%s.peers.names' % interface, SYSCTL_PATH, monitoring.TEXTFILE_SCRIPT, refresh.SCRIPT]
             + ['/etc/systemd/system/' + unit for unit in units])
    services = [unit for unit in units if unit.endswith('.timer')] + [monitoring.EXPORTER_UNIT]
    return {'files': files, 'units': units, 'services': services + list(WATCHED_SERVICES), 'sysctls': list(SYSCTLS) + relay_redirects_keys(interface)}


def mesh(names, hostvars, play_values, role_defaults, spec):
    """Step 1. ``play_values``: the mesh-wide variables as this play sees them (a site without one
    gets it); ``role_defaults``: defaults/main.yml; ``spec``: the options of the role's main entry point."""
    names = list(names or [])
    settings = model.settings(names, hostvars, dict((var, play_values.get(var)) for var in mesh_var_names()))
    defaults = dict((key, role_defaults.get(model.SITE_VARS[key])) for key in SITE_DEFAULT_KEYS)
    sites = model.sites(names, hostvars, defaults)
    problems = list(settings.pop('problems'))
    problems += validate(sites, settings['network'], settings['network6'], settings['interface'], settings['mtu'],
                         play_values.get('wireguard_mesh_group'), settings['keepalive'])
    problems += _site_option_problems(names, hostvars, role_defaults, spec)
    result = {'settings': settings, 'sites': sites, 'site_names': [site['name'] for site in sites],
              'problems': problems}
    if not problems:
        settings['keepalive'] = int(settings['keepalive'])
        result['mtu'] = model.mtu(sites, settings['mtu'])
        relays = model.relays(sites)
        result['relayed'] = [{'sites': list(pair), 'relay': relay} for pair, relay in sorted(relays.items())]
        result['relayed_peers'] = dict((site, sorted(others)) for site, others in model.relayed_by_site(relays).items())
        result['relay_notes'] = ["sites '%s' and '%s' have no endpoint: their traffic goes through '%s' (wireguard_mesh_relay), "
                                 "which decrypts and re-encrypts it; the pair has no tunnel or PSK of its own." % (a, b, relay)
                                 for (a, b), relay in sorted(relays.items())]
        result['watch'] = watch(settings['interface'])
    return result


def _learned_keys(unreached, probes):
    """Keys of sites that were not reached, as the reached sites' configs name them: used only
    when every reached site that lists the site agrees."""
    learned, problems = {}, []
    for name in unreached:
        seen = {}
        for other, probe in probes.items():
            key = (probe.get('config_peers') or {}).get(name)
            if key:
                seen.setdefault(key, []).append(other)
        if len(seen) == 1:
            learned[name] = list(seen)[0]
        elif len(seen) > 1:
            problems.append("site '%s' was not reached and the other sites' configs name different public keys for it "
                            "(%s): reach it, or remove it from the inventory to decommission it."
                            % (name, '; '.join('%s on %s' % (k[:8] + '...', model.quote_names(v)) for k, v in seen.items())))
    return learned, problems


def tunnel_pairs(names, relayed=None):
    """The pairs of ``names`` with a tunnel (and a PSK) of their own: all but the ``relayed`` ones
    (``mesh``'s list of {sites, relay})."""
    skip = set(tuple(entry['sites']) for entry in relayed or [])
    return [pair for pair in model.pairs(names) if tuple(pair) not in skip]


def keys(names, probes, keypairs=None, relayed=None):
    """Step 2. ``probes``: site -> wg_probe result (None, failed or missing: not reached);
    ``keypairs``: site -> wg_keypair result for the sites that made their key this run;
    ``relayed``: the mesh's relayed pairs (they have no PSK)."""
    keypairs = keypairs or {}
    reached = dict((name, probes[name]) for name in names if _ok(probes.get(name)))
    public_keys = {}
    for name, probe in reached.items():
        made = keypairs.get(name) or {}
        public_keys[name] = made.get('public_key') or (probe.get('key') or {}).get('public_key')
    unreached = [name for name in names if name not in reached]
    learned, problems = _learned_keys(unreached, reached)
    public_keys.update(learned)
    owners = {}
    for name in names:
        if public_keys.get(name):
            owners.setdefault(public_keys[name], []).append(name)
    problems += ['sites %s use the same public key: every site needs its own key pair; remove the key file of all '
                 'but one of them (wg_keypair makes a new one) and run again.' % model.quote_names(sorted(owners[key]))
                 for key in owners if len(owners[key]) > 1]
    reports = dict((name, probe.get('psks') or {}) for name, probe in reached.items())
    pairs = [pair for pair in tunnel_pairs(names, relayed) if pair[0] in reached and pair[1] in reached]
    adopt = adopted_psks(pairs, reports, reached, public_keys)
    reports = with_adopted(reports, adopt)
    return {
        'public_keys': dict((name, key) for name, key in public_keys.items() if key),
        'reached': sorted(reached),
        'unreached': unreached,
        'learned': sorted(learned),
        'unknown': [name for name in names if not public_keys.get(name)],
        'problems': problems,
        'psk_read': psk_plan.psk_plan(pairs, reports)['read'],
        'psk_todo': _psk_todo(pairs, reports),
        'psk_adopt': adopt,
    }


def adopted_psks(pairs, reports, probes, public_keys):
    """{site: {peer: peer's public key}} of the pairs with no PSK file at either end whose live
    interfaces use the same PSK with each other (a mesh built by hand): each end makes its file
    from its interface, so the PSK stays and never passes through the controller."""
    adopt = {}
    for a, b in pairs:
        if (reports[a].get(b) or {}).get('fingerprint') or (reports[b].get(a) or {}).get('fingerprint'):
            continue
        live_a = ((probes[a].get('interface') or {}).get('psk_fingerprints') or {}).get(public_keys.get(b))
        live_b = ((probes[b].get('interface') or {}).get('psk_fingerprints') or {}).get(public_keys.get(a))
        if live_a and live_a == live_b:
            adopt.setdefault(a, {})[b] = public_keys[b]
            adopt.setdefault(b, {})[a] = public_keys[a]
    return adopt


def with_adopted(reports, adopt):
    """The PSK reports with the adopted pairs counted as agreeing (they need no fresh PSK)."""
    merged = dict((site, dict(report)) for site, report in reports.items())
    for site, peers in adopt.items():
        for peer in peers:
            merged[site][peer] = {'fingerprint': 'adopted:' + '+'.join(sorted((site, peer)))}
    return merged


def _psk_todo(pairs, reports):
    for a, b in pairs:
        fa = (reports[a].get(b) or {}).get('fingerprint')
        fb = (reports[b].get(a) or {}).get('fingerprint')
        if not fa or fa != fb:
            return True
    return False


def psk_files(names, probes, reads, play_hosts, adopt=None, relayed=None):
    """Step 2b (no_log): what wg_psk gets on each reached site: every peer of the mesh, with the
    PSK where the site must write one (a fresh PSK for a new pair, the other end's PSK where this
    end lacks it or holds another). ``outside``: the sites outside the play that must write."""
    reached = dict((name, probes[name]) for name in names if _ok(probes.get(name)))
    adopt = adopt or {}
    reports = with_adopted(dict((name, probe.get('psks') or {}) for name, probe in reached.items()), adopt)
    pairs = tunnel_pairs(names, relayed)
    writes = psk_plan.psk_writes([pair for pair in pairs if pair[0] in reached and pair[1] in reached], reports, reads)
    partners = {}
    for a, b in pairs:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    peers = {}
    for site in reached:
        contents = dict((item['name'], item['psk']) for item in writes.get(site, []))
        peers[site] = [psk_plan.psk_peer(name, contents, adopt.get(site) or {}) for name in names
                       if name in partners.get(site, ())]
    return {'psk_peers': peers, 'outside': sorted(site for site in writes if site not in play_hosts)}


def _ok(result):
    return isinstance(result, dict) and bool(result) and not result.get('failed') and not result.get('unreachable') \
        and not result.get('skipped') and 'key' in result
