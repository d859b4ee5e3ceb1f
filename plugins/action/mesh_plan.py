# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh_plan action (documented in plugins/modules/mesh_plan.py): the role's plan, on the
controller. The steps themselves are plain Python in plugins/plugin_utils/plan.py and node.py;
this file only reads the variables they need and turns their errors into a failed result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import connection_loader

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model, offline, plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.node import node_plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.model import plain
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.render import role_renderer

STEPS = ('mesh', 'keys', 'psk', 'node', 'peers', 'render')
PIPELINING_VARS = ('ansible_connection', 'ansible_pipelining', 'ansible_ssh_pipelining')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(('step', 'mesh', 'keys', 'outside', 'reads', 'adopt', 'sites', 'public_keys', 'dest', 'probe_var', 'keypair_var',
                             'psk_var'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        result['changed'] = False
        step = self._task.args.get('step', 'mesh')
        if step not in STEPS:
            return dict(result, failed=True, msg='step must be one of %s, got %r' % (', '.join(STEPS), step))
        role_path = task_vars.get('role_path')
        if not role_path:
            return dict(result, failed=True, msg='mesh_plan runs inside the role wgmesh.wireguard.wireguard_mesh')
        try:
            data = getattr(self, '_' + step)(task_vars, role_path)
        except (model.MeshError, ValueError, KeyError, OSError) as exc:
            return dict(result, failed=True, msg=str(exc))
        result.update(data)
        return result

    def _var(self, task_vars, name, default=None):
        return plain(self._templar.template(task_vars[name])) if name in task_vars else default

    def _spec(self, role_path):
        specs = plan.load_yaml(os.path.join(role_path, 'meta', 'argument_specs.yml'))
        return specs['argument_specs']['main']['options']

    def _mesh(self, task_vars, role_path):
        group = self._var(task_vars, 'wireguard_mesh_group', 'wireguard_mesh')
        names = list((task_vars.get('groups') or {}).get(group) or [])
        hostvars = task_vars['hostvars']
        spec = self._spec(role_path)
        wanted = set(spec)
        site_vars = dict((name, dict((var, plain(hostvars[name][var])) for var in wanted if var in hostvars[name]))
                         for name in names)
        play_values = dict((var, self._var(task_vars, var)) for var in plan.mesh_var_names() + ['wireguard_mesh_group'])
        mesh = plan.mesh(names, site_vars, play_values, plan.load_yaml(os.path.join(role_path, 'defaults', 'main.yml')), spec)
        problems = mesh.pop('problems')
        if not names:
            problems += plan.sites_source_hints(task_vars.get('ansible_inventory_sources') or [])
        if problems:
            return {'failed': True, 'problems': problems,
                    'msg': '\n'.join(['The mesh inventory has %d problem(s); no site was contacted:' % len(problems)]
                                     + ['- ' + problem for problem in problems])}
        first = dict((var, plain(hostvars[names[0]][var])) for var in PIPELINING_VARS
                     if names and var in hostvars[names[0]])
        warning = self._pipelining_warning(first)
        if warning:
            mesh['warnings'] = [warning]
        return mesh

    @staticmethod
    def _pipelining_warning(site_vars):
        """PSKs reach the sites as module arguments: with SSH pipelining over stdin, without it in a
        module file in the remote temporary directory (0700, removed after the task). ``site_vars``:
        the connection variables of the group's first site."""
        if site_vars.get('ansible_connection', 'ssh') not in ('ssh', 'ansible.builtin.ssh', 'smart'):
            return None
        try:
            connection_loader.get('ssh', class_only=True)  # loads the plugin's option definitions
            pipelining = C.config.get_config_value('pipelining', plugin_type='connection', plugin_name='ssh',
                                                   variables=site_vars)
        except (AnsibleError, KeyError, TypeError, ValueError):
            return None
        if pipelining:
            return None
        return ('wgmesh.wireguard: SSH pipelining is off, so the PSKs this run writes travel to the sites inside '
                "Ansible's module file in the remote temporary directory (mode 0700, removed after the task) instead "
                'of over the SSH session. Set pipelining = True under [ssh_connection] in ansible.cfg '
                '(or ANSIBLE_PIPELINING=True).')

    def _results_by_site(self, task_vars, var_name, names, outside):
        """site -> the registered result of ``var_name`` (play hosts), or of the ``outside`` loop."""
        hostvars = task_vars['hostvars']
        found = {}
        for name in names:
            if name in hostvars and var_name in hostvars[name]:
                found[name] = plain(hostvars[name][var_name])
        for item in (outside or {}).get('results') or []:
            site = item.get('__wireguard_mesh_other')
            if site:
                found[site] = item
        return found

    def _keys(self, task_vars, role_path):
        mesh = plain(self._task.args['mesh'])
        names = mesh['site_names']
        outside = plain(self._task.args.get('outside'))
        probes = self._results_by_site(task_vars, self._task.args.get('probe_var', '__wireguard_mesh_probe'),
                                       names, outside)
        keypairs = self._results_by_site(task_vars, self._task.args.get('keypair_var', '__wireguard_mesh_keypair'),
                                         names, None)
        result = plan.keys(names, probes, keypairs, mesh.get('relayed'))
        if result['problems']:
            result['failed'] = True
            result['msg'] = '\n'.join(['The mesh cannot be converged; nothing was changed:']
                                      + ['- ' + problem for problem in result['problems']])
        return result

    def _psk(self, task_vars, role_path):
        mesh = plain(self._task.args['mesh'])
        names = mesh['site_names']
        probes = self._results_by_site(task_vars, self._task.args.get('probe_var', '__wireguard_mesh_probe'),
                                       names, plain(self._task.args.get('outside')))
        reads = {}
        for item in (plain(self._task.args.get('reads')) or {}).get('results') or []:
            if item.get('__wireguard_mesh_reader'):
                reads[item['__wireguard_mesh_reader']] = item.get('contents') or {}
        return plan.psk_files(names, probes, reads, list(task_vars.get('ansible_play_hosts_all') or []),
                              plain(self._task.args.get('adopt')) or {}, mesh.get('relayed'))

    def _node(self, task_vars, role_path):
        mesh = plain(self._task.args['mesh'])
        keys = plain(self._task.args['keys'])
        site = task_vars['inventory_hostname']
        probe = self._var(task_vars, self._task.args.get('probe_var', '__wireguard_mesh_probe'))
        spec = dict((name, dict(entry, required=False)) for name, entry in self._spec(role_path).items())
        options, errors = plan.node_options(spec, dict((var, self._var(task_vars, var)) for var in spec if var in task_vars))
        if errors:
            raise ValueError("site '%s': %s" % (site, '; '.join(errors)))
        psk = task_vars.get(self._task.args.get('psk_var', '__wireguard_mesh_psk')) or {}
        writes = [item['name'] for item in ((psk.get('psk_peers') or {}).get(site) or []) if 'psk' in item]
        return node_plan(site, mesh, keys, probe, options, plan.os_vars(role_path, probe.get('os') or {}),
                         role_renderer(role_path), writes)

    def _peers(self, task_vars, role_path):
        """The peers of other sites (``sites``) with the given public keys: for delegation."""
        mesh = plain(self._task.args['mesh'])
        psk_dir = os.path.join(self._var(task_vars, 'wireguard_mesh_config_dir', '/etc/wireguard'), 'psk')
        peers = model.peers_by_site(mesh['sites'], plain(self._task.args.get('public_keys')) or {},
                                    mesh['settings']['keepalive'], psk_dir, plain(self._task.args.get('sites')) or [])
        return {'peers': peers}

    def _render(self, task_vars, role_path):
        """The offline render: every site's config into ``dest`` on the controller (keys inline)."""
        mesh = plain(self._task.args['mesh'])
        dest = os.path.abspath(os.path.expanduser(str(self._task.args.get('dest') or 'rendered')))
        if self._task.check_mode:
            return {'dest': dest, 'msg': 'check mode: nothing rendered'}
        done = offline.render(mesh, dest, role_renderer(role_path))
        warnings = []
        for kind, names in (('private', done['generated_keys']), ('preshared', done['generated_psks'])):
            if names:
                warnings.append('wgmesh.wireguard: generated %d %s key(s) on the controller for the offline render '
                                '(%s); they are kept 0600 in %s and reused on re-runs. Keys made on the controller '
                                'are only as safe as that directory.' % (len(names), kind, ', '.join(names), dest))
        return dict(done, dest=dest, changed=bool(done['written'] or warnings), warnings=warnings,
                    sites=mesh['site_names'])
