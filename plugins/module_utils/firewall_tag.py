# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tag the role puts on the rules it adds to a firewall it shares with the admin (a comment
in nftables and ufw), so that it finds and removes exactly its own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def role_tag(interface):
    return 'wgmesh:%s' % interface
