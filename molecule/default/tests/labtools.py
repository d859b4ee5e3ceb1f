"""What the lab tests share: the repository, an environment for podman and ansible-playbook,
and ways to run both against the lab."""

import os
import pathlib
import subprocess

ROOT = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")).resolve()
INVENTORY = str(ROOT / "inventories" / "lab")
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "lab" / "containers.conf"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
# Plain output for the recap checks (molecule forces colour), and the converge log (checked
# for secrets) kept to the converge.
ENV.pop("ANSIBLE_FORCE_COLOR", None)
ENV.pop("ANSIBLE_LOG_PATH", None)
ENV["ANSIBLE_NOCOLOR"] = "1"


def podman(*args):
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, check=False)


def run_playbook(name, *args):
    """ansible-playbook wgmesh.wireguard.NAME on the lab inventory (more -i may follow)."""
    return subprocess.run(["ansible-playbook", "wgmesh.wireguard.%s" % name, "-i", INVENTORY, *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)


def site_playbook(*args):
    """The site playbook, which must succeed; its output."""
    proc = run_playbook("site", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout
