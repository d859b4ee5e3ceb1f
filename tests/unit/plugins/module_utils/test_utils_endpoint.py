# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/endpoint.py: THE endpoint parser of the nodes, the inventory plugin and the mesh model."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils.endpoint import (
    EndpointError, endpoint_host, format_endpoint, split_endpoint,
)


@pytest.mark.parametrize('endpoint,expected', [
    ('192.0.2.1:51820', ('192.0.2.1', 51820)),
    ('[::1]:51820', ('::1', 51820)),
    ('[fd00::1]:1', ('fd00::1', 1)),
    ('vpn.example.org:443', ('vpn.example.org', 443)),
    (' vpn.example.org:443\n', ('vpn.example.org', 443)),
    ('192.0.2.1:065535', ('192.0.2.1', 65535)),
])
def test_split_endpoint(endpoint, expected):
    assert split_endpoint(endpoint) == expected


@pytest.mark.parametrize('endpoint,fragment', [
    ('192.0.2.1', 'must be "host:port"'),
    ('', 'must be "host:port"'),
    (None, 'must be "host:port"'),
    (':51820', 'must be "host:port"'),
    ('[]:51820', 'must be "host:port"'),
    ('a]b:51820', 'must be "host:port"'),
    ('::1:51820', '[address]:port'),
    ('[::1]', '[address]:port'),
    ('[::1]51820', '[address]:port'),
    ('[::1', '[address]:port'),
    ('192.0.2.1:0', 'port must be'),
    ('192.0.2.1:70000', 'port must be'),
    ('192.0.2.1:x', 'port must be'),
    ('192.0.2.1:', 'port must be'),
    ('192.0.2.1:+5', 'port must be'),
    ('192.0.2.1: 5', 'port must be'),
    (u'192.0.2.1:\u0665\u0661\u0668\u0662\u0660', 'port must be'),  # Arabic-Indic digits: int() takes them
    ('192.0.2.1:' + '9' * 5000, 'port must be'),  # longer than int() converts
    (51820, 'must be text such as "host:port", not int'),
])
def test_split_endpoint_errors(endpoint, fragment):
    with pytest.raises(EndpointError) as info:
        split_endpoint(endpoint)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize('endpoint,expected', [
    ('203.0.113.10', ('203.0.113.10', None)),
    ('203.0.113.10:51820', ('203.0.113.10', 51820)),
    ('2001:db8::1', ('2001:db8::1', None)),
    ('[2001:db8::1]', ('2001:db8::1', None)),
    ('[2001:db8::1]:51820', ('2001:db8::1', 51820)),
    ('', ('', None)),
    ('  ', ('', None)),
    (None, ('', None)),
])
def test_split_endpoint_port_optional(endpoint, expected):
    assert split_endpoint(endpoint, port_required=False) == expected


@pytest.mark.parametrize('endpoint', ['[]', '[]:1', 'host:0', 'host:x', '[::1]x', 'a[b'])
def test_split_endpoint_port_optional_still_refuses_malformed_text(endpoint):
    with pytest.raises(EndpointError):
        split_endpoint(endpoint, port_required=False)


def test_format_endpoint():
    assert format_endpoint('192.0.2.1', 51820) == '192.0.2.1:51820'
    assert format_endpoint('fd00::1', 1) == '[fd00::1]:1'
    assert format_endpoint('vpn.example.org', 443) == 'vpn.example.org:443'
    for text in ('192.0.2.1:51820', '[fd00::1]:1', 'vpn.example.org:443'):
        assert format_endpoint(*split_endpoint(text)) == text


@pytest.mark.parametrize('host,expected', [
    ('203.0.113.10', ('ipv4', '203.0.113.10')),
    ('2001:DB8:0::10', ('ipv6', '2001:db8::10')),
    ('::ffff:192.0.2.1', ('ipv6', '::ffff:192.0.2.1')),
    ('VPN.Example.com', ('dns', 'vpn.example.com')),
    ('vpn.example.com.', ('dns', 'vpn.example.com')),
    ('_srv.example.com', ('dns', '_srv.example.com')),
    ('a' * 63 + '.example.com', ('dns', 'a' * 63 + '.example.com')),
])
def test_endpoint_host(host, expected):
    assert endpoint_host(host) == expected


@pytest.mark.parametrize('host,reason', [
    (5, 'is not a string but a int'),
    (' 203.0.113.10', 'has surrounding white space: remove it'),
    ('vpn.example.com\n', 'has surrounding white space: remove it'),
    ('203.0.113.10:51820', 'includes a port: set the address only and put the port in wireguard_mesh_port'),
    ('vpn.example.com:0', 'includes a port'),
    ('[2001:db8::1]:51820', 'includes a port'),
    ('[2001:db8::1]', 'has brackets: write the IPv6 address without them'),
    ('203.0.113.300', 'is not a valid IPv4 address'),
    ('203.0.113', 'is not a valid IPv4 address'),
    ('010.0.113.1', 'is not a valid IPv4 address'),
    ('fe80::1%eth0', 'is not an IP address or a DNS name'),
    ('evil\n.example.com', 'is not an IP address or a DNS name'),
    ('evil\x00.example.com', 'is not an IP address or a DNS name'),
    ('a b.example.com', 'is not an IP address or a DNS name'),
    ('$(reboot).example.com', 'is not an IP address or a DNS name'),
    ('`reboot`', 'is not an IP address or a DNS name'),
    ('a;b', 'is not an IP address or a DNS name'),
    ('"vpn"', 'is not an IP address or a DNS name'),
    (u'vpn.\u00e9xample.com', 'is not an IP address or a DNS name'),
    ('-vpn.example.com', 'is not an IP address or a DNS name'),
    ('a' * 64 + '.example.com', 'is not an IP address or a DNS name'),
    ('.'.join(['a' * 60] * 5), 'is not an IP address or a DNS name'),
    ('vpn..example.com', 'is not an IP address or a DNS name'),
    ('.', 'is not a valid IPv4 address'),  # digits and dots only, as before
])
def test_endpoint_host_reasons(host, reason):
    with pytest.raises(EndpointError) as info:
        endpoint_host(host)
    assert str(info.value) == reason or str(info.value).startswith(reason)
