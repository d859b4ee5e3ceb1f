# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""stdout callback: only the one-line summary of playbooks/health.yml, and errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: health_line
type: stdout
short_description: Print only the one-line summary of the wgmesh.wireguard.health playbook
description:
  - For cron and systemd timers. Prints the result of the tasks named C(Health summary) (the
    summary line of C(wgmesh.wireguard.health)) on stdout, and one line per unreachable host or
    failed task on stderr; nothing else. The exit code is ansible-playbook's own (non-zero when
    any pair is stale or missing).
  - Use with C(ANSIBLE_STDOUT_CALLBACK=wgmesh.wireguard.health_line) and C(-e wireguard_mesh_health_summary=true).
author:
  - wgmesh maintainers (@wgmesh)
version_added: 0.1.0
"""

from ansible.plugins.callback import CallbackBase

SUMMARY_TASK = 'Health summary'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'wgmesh.wireguard.health_line'

    def _summary(self, result):
        if result._task.name != SUMMARY_TASK:
            return False
        self._display.display(str(result._result.get('msg', '')))
        return True

    def _one_line(self, result):
        msg = result._result.get('msg') or result._result.get('stderr') or 'failed'
        return ' '.join(str(msg).split())

    def v2_runner_on_ok(self, result):
        self._summary(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._summary(result) or ignore_errors:
            return
        self._display.display('wgmesh health: %s: task "%s" failed: %s' % (
            result._host.get_name(), result._task.name, self._one_line(result)), stderr=True)

    def v2_runner_on_unreachable(self, result):
        self._display.display('wgmesh health: %s unreachable: %s' % (
            result._host.get_name(), self._one_line(result)), stderr=True)
