# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoints: ``host:port`` / ``[v6]:port`` text, split and formatted, and the check of an endpoint host.

Shared by the nodes (live state of ``wg show``), the inventory plugin (the guide's
``endpoint`` field) and the mesh model, so all three read an endpoint the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.wgmesh.wireguard.plugins.module_utils.addresses import parse_ip

_PORT_RE = re.compile(r'[0-9]+')
_PORT_NUMBER_RE = re.compile(r'0*[0-9]{1,5}')
_DOTTED_RE = re.compile(r'[0-9.]+')
_DNS_LABEL_RE = re.compile(r'[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?')
DNS_NAME_MAX = 253


class EndpointError(ValueError):
    """Endpoint text that cannot be used; the message says why."""


def _partition(text):
    """(host, port text or None) of 'host', 'host:port', '[v6]', '[v6]:port' or a bare IPv6 address.

    None when brackets are misplaced. The port text is not checked here.
    """
    if text.startswith('['):
        host, sep, rest = text[1:].partition(']')
        if not sep or (rest and not rest.startswith(':')) or '[' in host:
            return None
        return host, (rest[1:] if rest else None)
    if '[' in text or ']' in text:
        return None
    if text.count(':') == 1:
        return tuple(text.split(':'))
    return text, None


def split_endpoint(endpoint, port_required=True):
    """(host, port) of 'host:port' or '[v6]:port'; EndpointError with a clear message.

    ``port_required=False`` also takes 'host', '[v6]' and a bare IPv6 address (port None),
    and empty text ('', None), as the guide's sites file writes them.
    """
    if endpoint is not None and not isinstance(endpoint, str):
        raise EndpointError('endpoint %r must be text such as "host:port", not %s'
                            % (endpoint, type(endpoint).__name__))
    text = (endpoint or '').strip()
    if not text and not port_required:
        return '', None
    parts = _partition(text)
    if parts is None and text.startswith('['):
        raise EndpointError('endpoint %r: an IPv6 endpoint is written "[address]:port"' % (endpoint,))
    host, port = parts or ('', None)
    if host and port is None and not port_required:
        return host, None
    if host and port is None and host.count(':') > 1:
        raise EndpointError('endpoint %r: write an IPv6 endpoint as "[address]:port"' % (endpoint,))
    if not host or port is None:
        raise EndpointError('endpoint %r must be "host:port" or "[IPv6]:port"' % (endpoint,))
    if not _PORT_NUMBER_RE.fullmatch(port) or not 0 < int(port) < 65536:
        raise EndpointError('endpoint %r: the port must be a number from 1 to 65535' % (endpoint,))
    return host, int(port)


def format_endpoint(host, port):
    """'host:port', or '[v6]:port' for an IPv6 address (as ``wg show`` prints it)."""
    if ':' in host:
        return '[%s]:%d' % (host, port)
    return '%s:%d' % (host, port)


def _names_a_port(text):
    parts = _partition(text)
    return parts is not None and parts[1] is not None and bool(_PORT_RE.fullmatch(parts[1])) \
        and (bool(parts[0]) or text.startswith('['))


def endpoint_host(text):
    """(kind, canonical host) of an endpoint host without port: kind 'ipv4', 'ipv6' or 'dns'.

    EndpointError(reason) otherwise; the reason is a phrase ("includes a port: ...").
    """
    if not isinstance(text, str):
        raise EndpointError('is not a string but a %s' % type(text).__name__)
    if text != text.strip():
        raise EndpointError('has surrounding white space: remove it')
    if text.startswith('['):
        if _names_a_port(text):
            raise EndpointError('includes a port: set the address only and put the port in wireguard_mesh_port')
        raise EndpointError('has brackets: write the IPv6 address without them')
    ip = parse_ip(text)
    if ip is not None:
        return ('ipv4' if ip[0] == 4 else 'ipv6'), ip[2]
    if ':' in text:
        if _names_a_port(text):
            raise EndpointError('includes a port: set the address only and put the port in wireguard_mesh_port')
        raise EndpointError('is not an IP address or a DNS name')
    if _DOTTED_RE.fullmatch(text):
        raise EndpointError('is not a valid IPv4 address')
    host = text[:-1] if text.endswith('.') else text
    if not host or len(host) > DNS_NAME_MAX or not all(_DNS_LABEL_RE.fullmatch(label) for label in host.split('.')):
        raise EndpointError('is not an IP address or a DNS name')
    return 'dns', host.lower()
