# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key rotation filters (documented in rotation_probe.yml next to this file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types


def _why(result):
    if not isinstance(result, dict) or not result:
        return 'did not answer (unreachable, or failed earlier in this run)'
    msg = (result.get('msg') or '').strip().splitlines()
    msg = (': ' + msg[0][:200]) if msg else ''
    if result.get('unreachable'):
        return 'is unreachable%s' % msg
    if result.get('failed'):
        return 'failed%s' % msg
    if result.get('skipped'):
        return 'was skipped'
    return None


def rotation_probe(names, results, interface='wg0'):
    """Live public keys of the sites and what stops a rotation.

    ``names``: the mesh's site names. ``results``: site name -> the wg_info result of that site
    (registered, so possibly unreachable or failed). Returns ``{"public_keys": {site: key},
    "problems": [text, ...]}``; a rotation may start only when ``problems`` is empty.
    """
    if isinstance(names, string_types) or not isinstance(results, dict):
        raise AnsibleFilterError('rotation_probe: expected a list of site names and a dict of wg_info results')
    public_keys = {}
    problems = []
    for name in names:
        result = results.get(name)
        why = _why(result)
        if why is None and not result.get('exists'):
            why = 'has no interface %s (not deployed or wg-quick@%s is down)' % (interface, interface)
        if why is None and not (result.get('interface') or {}).get('public_key'):
            why = 'has no private key on %s' % interface
        if why is not None:
            problems.append("site '%s' %s" % (name, why))
            continue
        public_keys[name] = result['interface']['public_key']
    seen = {}
    for name in sorted(public_keys):
        other = seen.setdefault(public_keys[name], name)
        if other != name:
            problems.append("sites '%s' and '%s' use the same public key" % (other, name))
    return {'public_keys': public_keys, 'problems': problems}


def _item_site(item, default):
    """The site a delegated loop item ran on (loop_var __wireguard_mesh_other, or a job item)."""
    for key in ('__wireguard_mesh_other', '__wireguard_mesh_rotate_job', 'item'):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, dict):
            value = value.get('__wireguard_mesh_other')
        if isinstance(value, string_types) and value:
            return value
    return default


def rotation_failures(steps):
    """Texts for the registered results that failed: ``steps`` is {step label: {site: result}}.

    The items of a registered loop (a result with ``results``, e.g. delegated to the sites
    outside the run) are reported under the site each ran on. Skipped results count as done.
    """
    if not isinstance(steps, dict):
        raise AnsibleFilterError('rotation_failures: expected {step: {site: result}}')
    out = []
    for label in steps:
        by_site = steps[label] or {}
        if not isinstance(by_site, dict):
            raise AnsibleFilterError('rotation_failures: step %r must map site names to results' % (label,))
        for site in sorted(by_site):
            result = by_site[site]
            if isinstance(result, dict) and isinstance(result.get('results'), list):
                items = [(_item_site(item, site), item) for item in result['results']]
            else:
                items = [(site, result)]
            for name, item in items:
                why = _why(item)
                if why is not None and why != 'was skipped':
                    out.append("%s - site '%s' %s" % (label, name, why))
    return out


class FilterModule(object):
    """wgmesh.wireguard key rotation filters."""

    def filters(self):
        return {'rotation_probe': rotation_probe, 'rotation_failures': rotation_failures}
