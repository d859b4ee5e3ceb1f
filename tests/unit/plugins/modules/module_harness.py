# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Harness for the module tests. Run the real modules (as Ansible runs them) and give them real WireGuard interfaces.

``run_module`` executes a module file with an ``ANSIBLE_MODULE_ARGS`` file, optionally inside a
network namespace. ``wg_node`` makes network namespaces holding a userspace WireGuard interface
(wireguard-go); everything is torn down after the test. All traffic stays inside those namespaces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import ansible
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
COLLECTIONS = os.path.join(REPO, '.collections')
MODULES = os.path.join(REPO, 'plugins', 'modules')
ANSIBLE = os.path.join(os.path.dirname(sys.executable), 'ansible')
try:
    import ansible.cli  # noqa: F401  pylint: disable=unused-import
    HAS_CLI = True
except ImportError:
    HAS_CLI = False
# `ansible-test units` runs the tests of modules with the target's view of ansible, its module_utils
# only: no CLI. `make unit` runs these tests with it.
needs_ansible_cli = pytest.mark.skipif(
    not HAS_CLI, reason='the ansible CLI is not importable here (ansible-test units gives module tests '
                        'ansible.module_utils only); make unit runs this test')
ANSIBLE_ARGV = [ANSIBLE] if os.path.exists(ANSIBLE) else [sys.executable, '-m', 'ansible.cli.adhoc']

if os.path.isdir(COLLECTIONS) and COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
# Where a module run as a program finds ansible_collections.wgmesh.wireguard and ansible: the
# checkout's .collections link, or the tree that holds this collection (ansible-test's copy);
# and the ansible package this test runs with.
MODULE_PATH = [COLLECTIONS if os.path.isdir(COLLECTIONS) else os.path.dirname(os.path.dirname(os.path.dirname(REPO))),
               os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))]


def missing_tools(*tools):
    """Skip reason naming the absent tools (or None)."""
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        return 'not installed: %s (apt-get install wireguard-tools wireguard-go iproute2)' % ', '.join(absent)
    return None


def needs_root_and(*tools):
    reason = missing_tools(*tools)
    if reason is None and os.geteuid() != 0:
        reason = 'needs root to create network namespaces'
    return pytest.mark.skipif(reason is not None, reason=reason or 'ok')


class ModuleResult(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError('module printed no JSON (rc=%d): %s %s'
                                 % (proc.returncode, proc.stdout, proc.stderr))

    def __getitem__(self, key):
        return self.json[key]

    def get(self, key, default=None):
        return self.json.get(key, default)

    @property
    def failed(self):
        return bool(self.json.get('failed'))


def run_module(name, args, check=False, diff=False, netns=None, pythonpath=None):
    """Run ``plugins/modules/<name>.py`` for real and return its parsed result."""
    payload = dict(args)
    payload['_ansible_check_mode'] = check
    payload['_ansible_diff'] = diff
    handle, path = tempfile.mkstemp(suffix='.json')
    try:
        with os.fdopen(handle, 'w') as f:
            json.dump({'ANSIBLE_MODULE_ARGS': payload}, f)
        argv = [sys.executable, os.path.join(MODULES, name + '.py'), path]
        if netns:
            argv = ['ip', 'netns', 'exec', netns] + argv
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(([pythonpath] if pythonpath else []) + MODULE_PATH))
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              universal_newlines=True, timeout=120, check=False)
    finally:
        os.unlink(path)
    return ModuleResult(proc)


def ansible_cli(*args, **kwargs):
    """Run the ``ansible`` ad-hoc CLI against localhost from the checkout."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_STDOUT_CALLBACK='default',
               ANSIBLE_COLLECTIONS_PATH=MODULE_PATH[0],
               PYTHONPATH=os.pathsep.join(MODULE_PATH[1:] + [os.environ.get('PYTHONPATH', '')]))
    env.update(kwargs.pop('env', {}))
    argv = ANSIBLE_ARGV + ['localhost', '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=%s' % kwargs.pop('python', '/usr/bin/python3')] + list(args)
    return subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                          universal_newlines=True, timeout=300, check=False)


def sh(*argv, **kwargs):
    netns = kwargs.pop('netns', None)
    if netns:
        argv = ('ip', 'netns', 'exec', netns) + argv
    check = kwargs.pop('check', True)
    proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (rc=%d): %s%s' % (' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


class WgNode(object):
    """A network namespace with one userspace WireGuard interface (wireguard-go)."""

    def __init__(self, ns, iface='wgt0'):
        self.ns = ns
        self.iface = iface
        self.proc = None

    def start(self):
        subprocess.run(['ip', 'netns', 'del', self.ns], stderr=subprocess.DEVNULL, check=False)
        sh('ip', 'netns', 'add', self.ns)
        sh('ip', 'link', 'set', 'lo', 'up', netns=self.ns)
        env = dict(os.environ, WG_PROCESS_FOREGROUND='1')
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', self.ns, 'wireguard-go', '-f', self.iface],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for dummy in range(100):
            if subprocess.run(['ip', 'netns', 'exec', self.ns, 'wg', 'show', self.iface], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError('wireguard-go did not create %s in %s' % (self.iface, self.ns))
        sh('ip', 'link', 'set', self.iface, 'up', netns=self.ns)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(['ip', 'netns', 'del', self.ns], stderr=subprocess.DEVNULL, check=False)

    def run(self, name, args, **kwargs):
        args = dict(args)
        args.setdefault('interface', self.iface)
        return run_module(name, args, netns=self.ns, **kwargs)

    def sh(self, *argv, **kwargs):
        return sh(*argv, netns=self.ns, **kwargs)

    def dump(self):
        return self.sh('wg', 'show', self.iface, 'dump')

    def routes(self, family='-4'):
        return self.sh('ip', family, 'route', 'show', 'dev', self.iface)
