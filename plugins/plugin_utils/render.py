# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's templates, rendered on the controller from a node plan.

The templates in ``roles/wireguard_mesh/templates/`` only lay out data the plan computed
(``node``); they hold no logic and read no Ansible variable. Plain Jinja2 renders them here,
so the plan knows each file's content and checksum before any site is contacted, a re-run
skips every file already in place, and the offline render (``playbooks/render.yml``) writes
the very same configuration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

try:
    import jinja2
except ImportError:  # pragma: no cover - ansible-core depends on Jinja2
    jinja2 = None

# The header Ansible's template module wrote (ansible_managed): kept, so files rendered by
# earlier versions of the role compare equal.
MANAGED = 'Ansible managed'


class Renderer(object):
    """Renders the templates of one directory with ``node`` (and ``managed``) as the only variables."""

    def __init__(self, template_dir):
        if jinja2 is None:
            raise ValueError('the Python package Jinja2 is required on the controller')
        self.template_dir = template_dir
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(template_dir),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def render(self, name, node):
        try:
            return self._env.get_template(name).render(node=node, managed=MANAGED)
        except jinja2.TemplateNotFound:
            raise ValueError('template %s not found in %s' % (name, self.template_dir))
        except jinja2.UndefinedError as exc:
            raise ValueError('template %s: %s (the node plan lacks it)' % (name, exc))

    def role_file(self, name):
        """Content of a static file of the role (its ``files/`` next to ``templates/``)."""
        path = os.path.join(os.path.dirname(self.template_dir), 'files', name)
        with open(path) as handle:
            return handle.read()


def role_renderer(role_path):
    return Renderer(os.path.join(role_path, 'templates'))


def sha1(text):
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


def file_state(content, mode, owner='root', group='root'):
    """The state string wg_probe reports for a file with this content: "<sha1> <mode> <owner> <group>"."""
    return '%s %s %s %s' % (sha1(content), mode.lstrip('0') or '0', owner, group)
