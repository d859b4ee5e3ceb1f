# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of validate.py on what the sites route into the tunnel: LANs that overlap another
site's LAN or the tunnel network, and endpoints inside any of them. ``mesh`` is validate's
collector (its ``intervals``: (version, first, last, order, owner site or None, text), and its
``endpoints``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import parse_ip

_LAN_OVERLAP_WHY = ('a prefix is routed to one peer only, so one site would steal the other\'s traffic; '
                    'give every site its own, non-overlapping LANs')
_TUNNEL_LAN_WHY = 'tunnel addresses are routed per site; pick a LAN outside the tunnel network'


def _overlap_problem(inner, outer):
    """The problem of LAN (or tunnel network) ``inner`` inside or equal to ``outer`` of another owner."""
    version, first, last, _order, owner, text = inner
    equal = outer[1] == first and outer[2] == last
    netvar = 'wireguard_mesh_network' if version == 4 else 'wireguard_mesh_network6'
    if owner is None:  # the tunnel network inside (or equal to) a site's LAN
        return "site '%s': wireguard_mesh_lan_cidrs entry %s %s %s %s: %s." % (
            outer[4], outer[5], 'is equal to' if equal else 'contains', netvar, text, _TUNNEL_LAN_WHY)
    if outer[4] is None:
        return "site '%s': wireguard_mesh_lan_cidrs entry %s %s %s %s: %s." % (
            owner, text, 'is equal to' if equal else 'is inside', netvar, outer[5], _TUNNEL_LAN_WHY)
    if equal:
        return "site '%s': wireguard_mesh_lan_cidrs entry %s is also a LAN of site '%s': %s." % (
            owner, text, outer[4], _LAN_OVERLAP_WHY)
    return "site '%s': wireguard_mesh_lan_cidrs entry %s is inside %s, a LAN of site '%s': %s." % (
        owner, text, outer[5], outer[4], _LAN_OVERLAP_WHY)


def lan_overlaps(mesh):
    # CIDRs are nested or disjoint, so one sort and a stack of open intervals find every
    # LAN inside (or equal to) another site's LAN or the tunnel network.
    mesh.intervals.sort(key=lambda item: (item[0], item[1], -item[2], item[3]))
    stack = []
    for item in mesh.intervals:
        while stack and (stack[-1][0] != item[0] or stack[-1][2] < item[1]):
            stack.pop()
        seen_owners = set()
        for outer in reversed(stack):
            if outer[4] == item[4] or outer[4] in seen_owners:
                continue
            seen_owners.add(outer[4])
            mesh.add(_overlap_problem(item, outer))
        stack.append(item)


def endpoints_in_routes(mesh):
    """An endpoint inside the tunnel network or a site's LAN: the other sites route that range into
    the tunnel, so WireGuard's own packets to the endpoint would loop into the tunnel itself.
    One sweep over the sorted LANs (nested or disjoint) and the sorted endpoint addresses."""
    points = sorted((ip[0], ip[1], name, ip[2]) for (host, _port), names in mesh.endpoints.items()
                    for ip in [parse_ip(host)] if ip is not None for name in names)
    intervals = sorted(mesh.intervals, key=lambda item: (item[0], item[1], -item[2], item[3]))
    stack, index = [], 0
    for version, value, name, host in points:
        while index < len(intervals) and (intervals[index][0], intervals[index][1]) <= (version, value):
            item = intervals[index]
            index += 1
            while stack and (stack[-1][0] != item[0] or stack[-1][2] < item[1]):
                stack.pop()
            stack.append(item)
        while stack and (stack[-1][0] != version or stack[-1][2] < value):
            stack.pop()
        if not stack:
            continue
        inner = stack[-1]
        where = ('the tunnel network %s' % inner[5] if inner[4] is None else
                 'its own LAN %s' % inner[5] if inner[4] == name else "%s, a LAN of site '%s'" % (inner[5], inner[4]))
        mesh.add("site '%s': wireguard_mesh_endpoint %s is inside %s: the sites route that range into the tunnel, "
                 "so WireGuard's own packets to this endpoint would loop into the tunnel. Give the address the other "
                 "sites reach it at over the underlay (its public address), outside every LAN and the tunnel network."
                 % (name, host, where))
