# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/validate.py refuses hostile text in every field a site or the mesh gives.

Each value is refused with exactly one problem that names the site (where there is one) and
the variable, says why and what to do, and shows the value escaped (no raw control character
reaches a log). A trailing newline must not slip through a ``^...$`` regex.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.validate import NAME_MAX, validate

KEY = keys.public_key_from_private(keys.generate_private_key())

HOSTILE = [
    ('newline', '\n'),
    ('carriage return', '\r'),
    ('NUL', '\x00'),
    ('escape sequence', '\x1b[31m'),
    ('tab', '\t'),
    ('space', ' x'),
    ('single quote', "'"),
    ('double quote', '"'),
    ('semicolon', ';reboot'),
    ('command substitution', '$(reboot)'),
    ('backticks', '`reboot`'),
    ('non-ASCII', u'\u00e9'),
    ('right-to-left override', u'\u202e'),
    ('Arabic-Indic digit', u'\u0661'),
]
WHERE = ['end', 'middle']


def guide():
    return [
        {'name': 'dublin', 'address': '10.99.0.1', 'address6': '', 'endpoint': 'vpn.example.com', 'port': 51820,
         'lan_cidrs': ['10.10.0.0/24'], 'public_key': KEY, 'underlay_mtu': 1500},
        {'name': 'frankfurt', 'address': '10.99.0.2', 'address6': '', 'endpoint': '198.51.100.20', 'port': 51820,
         'lan_cidrs': ['10.20.0.0/24'], 'public_key': '', 'underlay_mtu': 1500},
    ]


def inject(value, bad, where):
    if where == 'end':
        return value + bad
    middle = len(value) // 2
    return value[:middle] + bad + value[middle:]


# field -> (valid value, variable named, what to do); the name is checked separately (it is the site)
SITE_FIELDS = {
    'endpoint': ('vpn.example.com', 'wireguard_mesh_endpoint', 'give the public IP address or DNS name only'),
    'address': ('10.99.0.1', 'wireguard_mesh_address', 'give a plain address such as 10.99.0.1'),
    'lan': ('10.10.0.0/24', 'wireguard_mesh_lan_cidrs entry', 'write it as ADDRESS/PREFIX'),
    'public_key': (KEY, 'wireguard_mesh_public_key', "give the 44-character base64 key printed by 'wg pubkey'"),
}


def assert_one_clear_problem(problems, site, variable, advice):
    assert len(problems) == 1, problems
    problem = problems[0]
    if site:
        assert problem.startswith("site '%s': " % site), problem
    assert variable in problem and advice in problem and problem.endswith('.'), problem
    assert not any(c in problem for c in '\n\r\x00\x1b\t'), 'unescaped control character: %r' % problem


def set_field(sites, field, value):
    if field == 'lan':
        sites[0]['lan_cidrs'] = [value]
    else:
        sites[0][field] = value


@pytest.mark.parametrize('where', WHERE)
@pytest.mark.parametrize('kind, bad', HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize('field', sorted(SITE_FIELDS))
def test_hostile_site_field_is_refused(field, kind, bad, where):
    good, variable, advice = SITE_FIELDS[field]
    sites = guide()
    set_field(sites, field, inject(good, bad, where))
    assert_one_clear_problem(validate(sites, '10.99.0.0/24'), 'dublin', variable, advice)


@pytest.mark.parametrize('field, value', [
    ('endpoint', 'a' * 5000),
    ('endpoint', '.'.join(['a' * 63] * 5)),
    ('address', '1' * 5000),
    ('lan', '10.10.0.0/' + '2' * 5000),
    ('lan', '1' * 5000 + '/24'),
    ('public_key', 'A' * 5000),
])
def test_very_long_site_field_is_refused(field, value):
    good, variable, advice = SITE_FIELDS[field]
    sites = guide()
    set_field(sites, field, value)
    assert_one_clear_problem(validate(sites, '10.99.0.0/24'), 'dublin', variable, advice)


@pytest.mark.parametrize('where', WHERE)
@pytest.mark.parametrize('kind, bad', HOSTILE + [('slash', '/x'), ('dot-dot', '/../x')], ids=[h[0] for h in HOSTILE]
                         + ['slash', 'dot-dot'])
def test_hostile_site_name_is_refused(kind, bad, where):
    sites = guide()
    name = inject('dublin', bad, where)
    sites[0]['name'] = name
    problems = validate(sites, '10.99.0.0/24')
    assert_one_clear_problem(problems, None, 'the inventory hostname cannot be used as a file name',
                             "rename the host using only letters, digits, '_', '.' and '-'")
    assert problems[0].startswith('site %r: ' % name)


@pytest.mark.parametrize('name', ['.', '..'])
def test_dot_names_are_refused(name):
    sites = guide()
    sites[0]['name'] = name
    assert_one_clear_problem(validate(sites, '10.99.0.0/24'), name, 'the inventory hostname', 'rename the host')


def test_very_long_site_name_is_refused():
    sites = guide()
    sites[0]['name'] = 'd' * 5000
    problems = validate(sites, '10.99.0.0/24')
    assert problems == ["site '%s...': the inventory hostname is 5000 characters long: it names the site's PSK "
                        "files, and a file name has at most 255 bytes; rename the host to at most %d characters."
                        % ('d' * 40, NAME_MAX)]
    sites[0]['name'] = 'd' * NAME_MAX
    assert validate(sites, '10.99.0.0/24') == []


@pytest.mark.parametrize('where', WHERE)
@pytest.mark.parametrize('kind, bad', HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_interface_is_refused(kind, bad, where):
    interface = inject('wg0', bad, where)
    problems = validate(guide(), '10.99.0.0/24', interface=interface)
    assert_one_clear_problem(problems, None, 'wireguard_mesh_interface %r' % interface, 'use ')


def test_very_long_interface_is_refused():
    assert validate(guide(), '10.99.0.0/24', interface='w' * 5000) == [
        "wireguard_mesh_interface '%s' is 5000 characters long: wg-quick refuses names over 15 characters; use a "
        "short name such as wg0." % ('w' * 5000)]


def test_the_two_examples_of_the_brief():
    """A trailing newline used to pass the ^...$ regexes: both are now refused, the variable named."""
    assert validate(guide(), '10.99.0.0/24', interface='wg0\n') == [
        "wireguard_mesh_interface 'wg0\\n' contains characters wg-quick refuses: use only letters, digits and "
        "_=+.- (e.g. wg0)."]
    sites = guide()
    sites[0]['endpoint'] = 'evil\n.example.com'
    assert validate(sites, '10.99.0.0/24') == [
        "site 'dublin': wireguard_mesh_endpoint 'evil\\n.example.com' is not an IP address or a DNS name: give the "
        "public IP address or DNS name only (empty = behind NAT)."]


@pytest.mark.parametrize('field, value', [
    ('lan_cidrs', ['10.10.0.0/24\n']),
    ('public_key', KEY + '\n'),
    ('name', 'dublin\n'),
], ids=['lan_cidrs', 'public_key', 'name'])
def test_trailing_newline_no_longer_slips_through(field, value):
    sites = guide()
    sites[0][field] = value
    assert len(validate(sites, '10.99.0.0/24')) == 1


def test_hostvars_are_stripped_but_inner_text_is_kept():
    """mesh_sites strips surrounding white space of text fields; what is inside still has to be valid."""
    hostvars = {'dublin': {'wireguard_mesh_address': '10.99.0.1\n', 'wireguard_mesh_endpoint': ' vpn.example.com\n',
                           'wireguard_mesh_public_key': KEY + '\n'},
                'frankfurt': {'wireguard_mesh_address': '10.99.0.2', 'wireguard_mesh_endpoint': 'evil\n.example.com'}}
    sites = model.sites(['dublin', 'frankfurt'], hostvars)
    assert sites[0]['endpoint'] == 'vpn.example.com' and sites[0]['public_key'] == KEY
    assert validate(sites, '10.99.0.0/24') == [
        "site 'frankfurt': wireguard_mesh_endpoint 'evil\\n.example.com' is not an IP address or a DNS name: give "
        "the public IP address or DNS name only (empty = behind NAT)."]


@pytest.mark.parametrize('kind, bad', HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_text_after_a_prefix_or_in_an_unused_address6_is_shown_escaped(kind, bad):
    sites = guide()
    sites[0]['address'] = '10.99.0.1/24' + bad
    sites[1]['address6'] = 'fd99::2' + bad  # wireguard_mesh_network6 is not set
    problems = validate(sites, '10.99.0.0/24')
    assert len(problems) == 2, problems
    assert problems[0].startswith("site 'dublin': wireguard_mesh_address ") and 'give the plain address' in problems[0]
    assert problems[1].startswith("site 'frankfurt': wireguard_mesh_address6 ") and 'remove the address' in problems[1]
    assert not any(c in ''.join(problems) for c in '\n\r\x00\x1b\t')


@pytest.mark.parametrize('network', ['10.99.0.0/24\n', '10.99.0.0/24;x', u'10.99.0.0/2\u0664', 'x' * 5000])
def test_hostile_tunnel_network_is_refused(network):
    problems = validate(guide(), network)
    assert len(problems) == 1 and problems[0].startswith('wireguard_mesh_network %r is not a CIDR' % network)
