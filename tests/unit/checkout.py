# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests that run Ansible's command-line tools on the checkout (ansible-playbook, ansible-inventory,
ansible-galaxy, the repository's scripts) need its .collections link and the ansible package's
collections. `ansible-test units` runs on a copy of the collection without either; `make unit`
runs these tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

needs_checkout = pytest.mark.skipif(
    not os.path.isdir(os.path.join(REPO, '.collections')),
    reason="runs Ansible's CLI on the checkout (its .collections link, the ansible package's collections): "
           "ansible-test units runs on a copy without them; make unit runs this test")
