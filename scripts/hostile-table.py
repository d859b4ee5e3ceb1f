"""Write docs/hostile-values.md: every role variable x every hostile value -> what the preflight says.

The values go through the same function as the role's first step (plugin_utils/plan.py `mesh`,
which `site`, `validate`, `rotate` and the other playbooks run before any host is contacted), on
the guide's three sites, one variable of Dublin (or of the whole mesh) at a time.
tests/unit/plugins/plugin_utils/test_hostile_table.py checks that the file is current and that every
hostile value is refused.

    python3 scripts/hostile-table.py [--check]
"""

import argparse
import os
import sys


ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys  # noqa: E402
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import plan  # noqa: E402

ROLE = os.path.join(ROOT, 'roles', 'wireguard_mesh')
OUTPUT = os.path.join(ROOT, 'docs', 'hostile-values.md')
HOSTILE = [
    ('newline', 'x\ny'),
    ('trailing newline', 'x\n'),
    ('NUL', 'x\x00y'),
    ('escape sequence', '\x1b[31mx'),
    ('quote', "x'y"),
    ('semicolon', 'x;reboot'),
    ('$()', '$(reboot)'),
    ('backticks', '`reboot`'),
    ('space', 'x y'),
    ('unicode', u'x\u00e9'),
    ('right-to-left override', u'x\u202ey'),
    ('very long', 'x' * 5000),
]
# Variables that are not text a host sees: what is done with them.
NOT_SITE_TEXT = {
    'wireguard_mesh_rotate_sites': 'site names, compared with the inventory: an unknown name stops `rotate`',
    'wireguard_mesh_rotate_psk_pairs': 'site names, compared with the inventory: an unknown pair stops `rotate_psk`',
    'wireguard_mesh_render_dir': 'a directory on the controller (`render` only), written by Ansible, never a shell',
    'wireguard_mesh_verify_report': 'a file on the controller (`verify` only), written by Ansible, never a shell',
    'wireguard_mesh_group': 'the name of an inventory group, looked up on the controller: a name that is not a '
                            'group with hosts stops every playbook (the group has no hosts)',
}
# A fixed key, so that the file is the same on every run (a public key is public).
KEY = keys.public_key_from_private('YHMzK0F1ZWlkc0p2a0xwY0FhZkNyZXZ0Y2N6b0ZQSEE=')


def sites():
    return {
        'dublin': {'wireguard_mesh_address': '10.99.0.1', 'wireguard_mesh_endpoint': '203.0.113.10',
                   'wireguard_mesh_lan_cidrs': ['10.10.0.0/24']},
        'frankfurt': {'wireguard_mesh_address': '10.99.0.2', 'wireguard_mesh_endpoint': '198.51.100.20',
                      'wireguard_mesh_lan_cidrs': ['10.20.0.0/24']},
        'newyork': {'wireguard_mesh_address': '10.99.0.3', 'wireguard_mesh_endpoint': '192.0.2.30',
                    'wireguard_mesh_lan_cidrs': ['10.30.0.0/24'], 'wireguard_mesh_public_key': KEY},
    }


def as_type(entry, value):
    if entry.get('type') == 'list':
        return [['dublin', value]] if entry.get('elements') == 'list' else [value]
    return value


def problems(spec, defaults, variable=None, value=None):
    hostvars = sites()
    play = dict((var, defaults.get(var)) for var in plan.mesh_var_names() + ['wireguard_mesh_group'])
    play['wireguard_mesh_network'] = '10.99.0.0/24'
    if variable in play:
        play[variable] = value
    elif variable:
        hostvars['dublin'][variable] = value
    return plan.mesh(sorted(hostvars), hostvars, play, defaults, spec)['problems']


def verdict(variable, entry, value, spec, defaults):
    """The first problem; 'trimmed' when the inventory's surrounding white space (a YAML block's
    trailing newline) was removed and what is left is valid; None when accepted."""
    found = problems(spec, defaults, variable, as_type(entry, value))
    if found:
        return found[0]
    if value != value.strip() and value.strip().isprintable():
        return 'trimmed'
    return None


def table():
    spec = plan.load_yaml(os.path.join(ROLE, 'meta', 'argument_specs.yml'))['argument_specs']['main']['options']
    defaults = plan.load_yaml(os.path.join(ROLE, 'defaults', 'main.yml'))
    base = problems(spec, defaults)
    if base:
        raise SystemExit('the base inventory itself is refused: %s' % base)
    results = {}
    for variable in sorted(spec):
        if variable in NOT_SITE_TEXT:
            continue
        results[variable] = [(kind, verdict(variable, spec[variable], value, spec, defaults)) for kind, value in HOSTILE]
    return results


def markdown(results):
    kinds = [kind for kind, _value in HOSTILE]
    lines = [
        '# Hostile values: what the preflight says',
        '',
        'Written by `scripts/hostile-table.py` (checked by `tests/unit/plugins/plugin_utils/test_hostile_table.py`).',
        'Each role variable of `meta/argument_specs.yml` gets each value below, on the guide\'s three sites',
        '(Dublin\'s variable, or the mesh-wide one), and goes through the first step of every playbook',
        '(`plugin_utils/plan.py` `mesh`), before any host is contacted. "refused" means the run stops there',
        'with the message shown for that variable (the first value\'s message; the others are alike).',
        '"trimmed": text fields lose surrounding white space (a YAML block\'s trailing newline) before',
        'they are checked; what is left was valid.',
        '',
        'Values: ' + ', '.join('%s `%s`' % (kind, ascii(value) if len(value) < 20 else 'x' * 5 + '... (5000)')
                               for kind, value in HOSTILE) + '.',
        '',
        '| variable | ' + ' | '.join(kinds) + ' |',
        '|---|' + '---|' * len(kinds),
    ]
    for variable, verdicts in results.items():
        lines.append('| `%s` | ' % variable + ' | '.join(
            '**accepted**' if not message else message if message == 'trimmed' else 'refused'
            for _kind, message in verdicts) + ' |')
    lines += ['', '## Messages (for a newline and for a semicolon in the middle)', '']
    for variable, verdicts in results.items():
        messages = dict(verdicts)
        lines.append('- `%s`:' % variable)
        lines += ['  - %s' % messages[kind].replace('|', '\\|') for kind in ('newline', 'semicolon')]
    lines += ['', '## Not host text', '']
    lines += ['- `%s`: %s.' % (variable, why) for variable, why in sorted(NOT_SITE_TEXT.items())]
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when docs/hostile-values.md is not current')
    args = parser.parse_args()
    text = markdown(table())
    if args.check:
        with open(OUTPUT) as handle:
            return 0 if handle.read() == text else 1
    with open(OUTPUT, 'w') as handle:
        handle.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
