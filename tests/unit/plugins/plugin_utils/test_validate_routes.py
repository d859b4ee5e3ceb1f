# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventories whose routes cannot work: an endpoint that the sites route into the tunnel."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.validate import validate


def sites(dublin_endpoint, newyork_endpoint='198.51.100.30'):
    return [
        {'name': 'dublin', 'address': '10.99.0.1', 'address6': 'fd99::1', 'endpoint': dublin_endpoint, 'port': 51820,
         'lan_cidrs': ['10.10.0.0/24'], 'public_key': '', 'underlay_mtu': 1500},
        {'name': 'frankfurt', 'address': '10.99.0.2', 'address6': 'fd99::2', 'endpoint': '198.51.100.20', 'port': 51820,
         'lan_cidrs': ['10.20.0.0/16', '10.20.5.0/24', 'fd20::/64'], 'public_key': '', 'underlay_mtu': 1500},
        {'name': 'newyork', 'address': '10.99.0.3', 'address6': 'fd99::3', 'endpoint': newyork_endpoint, 'port': 51820,
         'lan_cidrs': ['10.30.0.0/24'], 'public_key': '', 'underlay_mtu': 1500},
    ]


def problems(*args):
    return validate(sites(*args), '10.99.0.0/24', 'fd99::/64')


@pytest.mark.parametrize('endpoint,where', [
    ('10.99.0.200', 'the tunnel network 10.99.0.0/24'),
    ('fd99::77', 'the tunnel network fd99::/64'),
    ('10.20.0.9', "10.20.0.0/16, a LAN of site 'frankfurt'"),
    ('10.20.5.9', "10.20.5.0/24, a LAN of site 'frankfurt'"),
    ('fd20::1', "fd20::/64, a LAN of site 'frankfurt'"),
    ('10.10.0.1', 'its own LAN 10.10.0.0/24'),
])
def test_an_endpoint_the_sites_route_into_the_tunnel_is_refused(endpoint, where):
    found = problems(endpoint)
    assert found == ["site 'dublin': wireguard_mesh_endpoint %s is inside %s: the sites route that range into the "
                     "tunnel, so WireGuard's own packets to this endpoint would loop into the tunnel. Give the address "
                     "the other sites reach it at over the underlay (its public address), outside every LAN and the "
                     "tunnel network." % (endpoint, where)]


@pytest.mark.parametrize('endpoint', ['198.51.100.10', '10.21.0.1', '10.99.1.1', 'fd98::1', 'vpn.example.com', ''])
def test_endpoints_outside_every_route_pass(endpoint):
    assert problems(endpoint) == []


def test_every_site_with_such_an_endpoint_is_named_once():
    found = sorted(problems('10.30.0.7', '10.10.0.7'))
    assert len(found) == 2 and found[0].startswith("site 'dublin': wireguard_mesh_endpoint 10.30.0.7 is inside "
                                                   "10.30.0.0/24, a LAN of site 'newyork'")
    assert found[1].startswith("site 'newyork': wireguard_mesh_endpoint 10.10.0.7 is inside 10.10.0.0/24, a LAN of "
                               "site 'dublin'")
