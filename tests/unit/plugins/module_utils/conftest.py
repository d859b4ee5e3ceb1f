# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.wgmesh.wireguard`` importable from the checkout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', '.collections')
if os.path.isdir(COLLECTIONS) and os.path.abspath(COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(COLLECTIONS))
