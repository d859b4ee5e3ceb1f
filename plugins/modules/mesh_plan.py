#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_plan
short_description: The plan of a WireGuard mesh run, computed on the controller
version_added: 0.2.0
description:
  - The controller's part of the role C(wgmesh.wireguard.wireguard_mesh) (an action plugin; it contacts no
    site). The role calls it in four steps; each step's result is the input of the next tasks.
  - V(mesh) reads the sites of the inventory group O(ignore:wireguard_mesh_group) from their hostvars (the
    role's defaults fill in what a site does not set; mesh-wide settings a site does not set come from the
    play) and validates them. It fails listing every problem, each naming the site, the variable, why and
    what to do, before any site is contacted. Per-site options (firewall, monitoring, ...) are checked
    against the role's C(meta/argument_specs.yml). It returns the settings, the sites, the tunnel MTU, and
    what the probe (M(wgmesh.wireguard.wg_probe)) must report.
  - V(keys) reads every site's probe and returns the mesh's public keys (a site that was not reached keeps
    the key its peers' configs name), the sites reached, and the PSKs that must be read. Only public data.
  - V(psk) returns the PSK files each reached site must write (fresh PSKs for new pairs). It handles
    secrets - set C(no_log) on the task, and clear the registered variable after use.
  - V(node) returns one site's node plan - its peers, the content and state of every file the role
    writes, the firewall backend and rules, the packages it lacks, and the converge steps with work to do.
    A converged site has no steps.
  - V(peers) returns, for the sites O(sites) (typically sites outside the play), their peers as
    M(wgmesh.wireguard.wg_peer) takes them, with the public keys O(public_keys) (used by rotation).
  - V(render) writes every site's C(wg-quick) config into O(dest) on the controller, with keys inline
    (offline mode, C(playbooks/render.yml)). Keys and PSKs made there stay there, 0600.
author:
  - wgmesh maintainers (@wgmesh)
options:
  step:
    description: The step of the plan.
    type: str
    choices: [mesh, keys, psk, node, peers, render]
    default: mesh
  mesh:
    description: The result of step V(mesh) (for V(keys), V(psk), V(node)).
    type: dict
  keys:
    description: The result of step V(keys) (for V(node)).
    type: dict
  sites:
    description: For V(peers). The sites whose peers are returned.
    type: list
    elements: str
  public_keys:
    description: For V(peers). Site name to the public key its peers must use.
    type: dict
  dest:
    description: For V(render). The directory the configs are written into (created 0700).
    type: path
    default: rendered
  outside:
    description:
      - For V(keys) and V(psk). The registered result of the probe loop delegated to the sites of the mesh
        outside the play (C(--limit)), loop variable C(__wireguard_mesh_other).
    type: dict
  adopt:
    description:
      - For V(psk). The V(keys) step's RV(psk_adopt) - pairs whose PSK each end takes from its live interface.
    type: dict
  reads:
    description:
      - For V(psk). The registered result of the PSK read loop (M(wgmesh.wireguard.wg_psk) with
        C(return_content), loop variable C(__wireguard_mesh_reader)).
    type: dict
  probe_var:
    description: Name of the variable holding each site's M(wgmesh.wireguard.wg_probe) result.
    type: str
    default: __wireguard_mesh_probe
  keypair_var:
    description: Name of the variable holding each site's M(wgmesh.wireguard.wg_keypair) result, where it ran.
    type: str
    default: __wireguard_mesh_keypair
  psk_var:
    description: For V(node). Name of the variable holding the result of step V(psk).
    type: str
    default: __wireguard_mesh_psk
attributes:
  check_mode:
    support: full
    description: Computes the same plan; it never changes anything.
  diff_mode:
    support: none
    description: It changes nothing on the sites; the role's tasks that apply the plan show the diffs.
  action:
    support: full
    description: Runs on the controller only.
notes:
  - Used by the role; the steps read the role's C(meta/argument_specs.yml), C(defaults/main.yml),
    C(vars/) and C(templates/) through C(role_path).
seealso:
  - module: wgmesh.wireguard.wg_probe
"""

EXAMPLES = r"""
- name: Plan the mesh from the inventory (nothing is contacted until it is valid)
  wgmesh.wireguard.mesh_plan:
    step: mesh
  register: mesh
  run_once: true
"""

RETURN = r"""
settings:
  description: Step V(mesh). Mesh-wide settings as every site sees them.
  returned: step mesh
  type: dict
  sample: {"network": "10.99.0.0/24", "network6": "", "interface": "wg0", "keepalive": 25, "mtu": 0}
sites:
  description: Step V(mesh). One dict per site (name, address, address6, endpoint, port, lan_cidrs, public_key, underlay_mtu).
  returned: step mesh
  type: list
  elements: dict
site_names:
  description: Step V(mesh). The sites, in inventory order.
  returned: step mesh
  type: list
  elements: str
mtu:
  description: Step V(mesh). The tunnel MTU.
  returned: step mesh
  type: int
  sample: 1420
watch:
  description: Step V(mesh). The files, units, services and sysctls the probe reports.
  returned: step mesh
  type: dict
problems:
  description: Steps V(mesh) and V(keys). Every problem found (the step fails when there is one).
  returned: always
  type: list
  elements: str
public_keys:
  description: Step V(keys). Site name to public key.
  returned: step keys
  type: dict
reached:
  description: Step V(keys). The sites whose probe answered.
  returned: step keys
  type: list
  elements: str
unreached:
  description: Step V(keys). The sites of the mesh whose probe did not answer.
  returned: step keys
  type: list
  elements: str
unknown:
  description: Step V(keys). The sites whose public key is not known (no key yet, or not reached and named by no peer).
  returned: step keys
  type: list
  elements: str
psk_adopt:
  description:
    - Step V(keys). Site to {peer - peer's public key} of the pairs without PSK files whose live interfaces
      use the same PSK (a mesh built by hand) - each end writes its file from its interface.
  returned: step keys
  type: dict
psk_peers:
  description:
    - Step V(psk). Site name to what M(wgmesh.wireguard.wg_psk) gets there - every peer, with C(psk) where the
      site must write it. Secret.
  returned: step psk
  type: dict
outside:
  description: Step V(psk). The sites outside the play that must write a PSK.
  returned: step psk
  type: list
  elements: str
steps:
  description: Step V(node). The converge steps with work to do, in order.
  returned: step node
  type: list
  elements: str
  sample: [files, restart]
peers:
  description: Step V(node). The peers of the site, as M(wgmesh.wireguard.wg_peer) takes them.
  returned: step node
  type: list
  elements: dict
dest:
  description: Step V(render). The directory, as an absolute path.
  returned: step render
  type: str
written:
  description: Step V(render). The sites whose config this run wrote or rewrote.
  returned: step render
  type: list
  elements: str
writes:
  description: Step V(node). The files that differ from the plan - path, content, mode and the command that checks them.
  returned: step node
  type: list
  elements: dict
"""
