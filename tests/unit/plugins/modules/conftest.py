# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module tests (helpers live in module_harness.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.modules.module_harness import WgNode


@pytest.fixture
def wg_node():
    """Factory: ``wg_node('a')`` -> a started :class:`WgNode` in its own namespace."""
    nodes = []

    def make(suffix='a'):
        # wireguard-go's control socket /var/run/wireguard/<iface>.sock is not per namespace,
        # so every userspace interface needs a name of its own.
        name = 'wgm%d%s' % (os.getpid() % 100000, suffix)
        node = WgNode(name, iface=name)
        nodes.append(node)
        return node.start()

    yield make
    for node in reversed(nodes):
        node.stop()
