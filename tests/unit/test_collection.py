"""The collection builds and installs offline, documents every plugin, and its playbooks
resolve by FQCN from the installed copy and by path from a checkout. Only the controller
runs anything here: the example inventory's documentation addresses are never contacted."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
from ansible_collections.wgmesh.wireguard.tests.unit.checkout import needs_checkout

pytestmark = needs_checkout

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
MODULES = ["wg_keypair", "wg_psk", "wg_peer", "wg_info"]
FILTERS = ["mesh_sites", "mesh_peers", "mesh_pairs", "mesh_mtu", "mesh_validate",
           "psk_plan", "psk_writes", "psk_peers", "stale_peers"]


def run(args, cwd, **env):
    full_env = dict(os.environ, PATH="%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
                    ANSIBLE_NOCOLOR="1", **env)
    proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("collection")
    rc, out = run(["ansible-galaxy", "collection", "build", "--output-path", str(work), str(REPO)], cwd=work)
    assert rc == 0, out
    tarball = next(work.glob("wgmesh-wireguard-*.tar.gz"))
    with tarfile.open(str(tarball)) as archive:
        members = archive.getnames()
    # No ansible.cfg (whose collections path holds the checkout): the dependencies are resolved,
    # offline, from the collections the `ansible` package bundles.
    rc, out = run(["ansible-galaxy", "collection", "install", "--offline", "--force", "-p", str(work / "collections"),
                   str(tarball)], cwd=work, ANSIBLE_CONFIG=str(work / "none.cfg"),
                  ANSIBLE_COLLECTIONS_PATH=str(work / "collections"))
    assert rc == 0, out
    root = work / "collections" / "ansible_collections" / "wgmesh" / "wireguard"
    assert (root / "plugins" / "modules" / "wg_peer.py").is_file()
    assert not (root / ".venv").exists() and not (root / "lab").exists()
    # A clean working directory with no ansible.cfg: only the installed copy can answer.
    return {"cwd": work, "members": members, "install_log": out, "root": root,
            "env": {"ANSIBLE_COLLECTIONS_PATH": str(work / "collections"), "ANSIBLE_CONFIG": str(work / "none.cfg")}}


def test_tarball_holds_what_users_need_and_nothing_of_the_lab(installed):
    members = installed["members"]
    for needed in ["LICENSE", "README.md", "requirements.yml", "meta/runtime.yml", "changelogs/changelog.yaml",
                   "roles/wireguard_mesh/meta/argument_specs.yml", "playbooks/site.yml", "inventories/example/hosts.yml",
                   "docs/architecture.md", "plugins/modules/wg_peer.py", "plugins/action/mesh_plan.py", "CHANGELOG.rst",
                   "meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"]:
        assert needed in members, needed
    development = ("molecule/", "tests/", "scripts/", "benchmarks/", "lab/", "inventories/lab", ".config/", ".ansible/",
                   "changelogs/fragments/", "Makefile", "requirements.txt", "requirements-docs.txt", "ansible.cfg",
                   "requirements-oldest.txt", "requirements-ee.txt", "execution-environment.yml")
    assert [m for m in members if m.startswith(development) or m in development or "__pycache__" in m] == []
    assert "GNU GENERAL PUBLIC LICENSE" in (installed["root"] / "LICENSE").read_text()
    manifest = json.loads((installed["root"] / "MANIFEST.json").read_text())["collection_info"]
    assert manifest["dependencies"] == {"community.general": ">=6.0.0"}
    assert "'community.general:" in installed["install_log"]


@pytest.mark.parametrize("module", MODULES)
def test_module_documented(installed, module):
    rc, out = run(["ansible-doc", "wgmesh.wireguard." + module], cwd=installed["cwd"], **installed["env"])
    assert rc == 0, out
    assert "EXAMPLES" in out and "RETURN VALUES" in out


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documented(installed, name):
    rc, out = run(["ansible-doc", "-t", "filter", "wgmesh.wireguard." + name], cwd=installed["cwd"],
                  **installed["env"])
    assert rc == 0, out


def test_role_documented(installed):
    rc, out = run(["ansible-doc", "-t", "role", "wgmesh.wireguard.wireguard_mesh"], cwd=installed["cwd"],
                  **installed["env"])
    assert rc == 0, out
    assert "wireguard_mesh_lan_cidrs" in out


def test_installed_site_playbook_resolves(installed):
    rc, out = run(["ansible-playbook", "wgmesh.wireguard.site", "-i", str(REPO / "inventories" / "example"),
                   "--list-tasks"], cwd=installed["cwd"], **installed["env"])
    assert rc == 0, out
    assert "Apply the peers live (no restart), then wait for a good handshake with each" in out


def test_installed_validate_playbook_accepts_the_example_inventory(installed):
    rc, out = run(["ansible-playbook", "wgmesh.wireguard.validate", "-i", str(REPO / "inventories" / "example")],
                  cwd=installed["cwd"], **installed["env"])
    assert rc == 0, out


def test_checkout_site_playbook_resolves():
    rc, out = run(["ansible-playbook", "playbooks/site.yml", "-i", "inventories/example", "--syntax-check"],
                  cwd=REPO, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    assert rc == 0, out
