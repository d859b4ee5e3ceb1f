"""Per-distribution behaviour of the role, through the role itself: for each distribution's facts
and what its probe reports, ansible-playbook runs the role's own vars loading (tasks/vars.yml:
vars/<os_family>.yml, vars/<distribution>.yml, ...) and then renders the role's selection of
the firewall backend, packages and wireguard-go source (vars/main.yml). Each distribution's
facts are set by a test-only action (as setup would set them); the hosts are local and nothing
runs on this machine but the controller."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]

# ansible_facts as setup's distribution subset reports them on each distribution.
FACTS = {
    "rhel9": {"os_family": "RedHat", "distribution": "RedHat", "distribution_major_version": "9",
              "distribution_version": "9.4"},
    "rocky9": {"os_family": "RedHat", "distribution": "Rocky", "distribution_major_version": "9",
               "distribution_version": "9.4"},
    "alma9": {"os_family": "RedHat", "distribution": "AlmaLinux", "distribution_major_version": "9",
              "distribution_version": "9.4"},
    "debian12": {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "12",
                 "distribution_version": "12.8"},
    "debian13": {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "13",
                 "distribution_version": "13.1"},
    "ubuntu2404": {"os_family": "Debian", "distribution": "Ubuntu", "distribution_major_version": "24",
                   "distribution_version": "24.04"},
}
# What the role's probe (templates/probe.sh.j2) reports on a stock install of each.
STOCK = {
    "rhel9": {"firewalld": "active", "ufw": False, "nft": True, "iptables": True, "selinux": True},
    "debian12": {"firewalld": "inactive", "ufw": False, "nft": True, "iptables": False, "selinux": False},
    "ubuntu2404": {"firewalld": "inactive", "ufw": True, "nft": True, "iptables": True, "selinux": False},
}
STOCK.update(rocky9=STOCK["rhel9"], alma9=STOCK["rhel9"], debian13=STOCK["debian12"])

# (case, distribution, probe changes, expected backend)
CASES = [
    ("rhel9", "rhel9", {}, "firewalld"),
    ("rocky9", "rocky9", {}, "firewalld"),
    ("alma9", "alma9", {}, "firewalld"),
    ("debian12", "debian12", {}, "nftables"),
    ("debian13", "debian13", {}, "nftables"),
    ("ubuntu2404", "ubuntu2404", {}, "ufw"),
    # Ubuntu with ufw inactive: nftables (nft is installed).
    ("ubuntu2404-ufw-inactive", "ubuntu2404", {"ufw": False}, "nftables"),
    # Both managers active: each distribution's own wins.
    ("ubuntu2404-both", "ubuntu2404", {"firewalld": "active"}, "ufw"),
    ("rocky9-both", "rocky9", {"ufw": True}, "firewalld"),
    # RHEL with firewalld stopped: nftables; Debian running firewalld (molecule/firewalld): firewalld.
    ("alma9-firewalld-stopped", "alma9", {"firewalld": "inactive"}, "nftables"),
    ("debian12-firewalld", "debian12", {"firewalld": "active"}, "firewalld"),
    # A minimal Debian with only iptables, and one with neither.
    ("debian13-iptables", "debian13", {"nft": False, "iptables": True}, "iptables"),
    ("debian12-bare", "debian12", {"nft": False}, "none"),
]
PACKAGE_OF_WIREGUARD_GO = {"rhel9": "", "rocky9": "", "alma9": "", "debian12": "wireguard-go",
                           "debian13": "wireguard-go", "ubuntu2404": "wireguard-go"}

# A test-only action plugin: returns the given facts as facts, as setup does.
FAKE_FACTS = """
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {"changed": False, "ansible_facts": dict(self._task.args["facts"])}
"""

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: This distribution's facts
      fake_facts:
        facts: "{{ distribution_facts }}"
    - name: The role's own loading of the distribution's variables
      ansible.builtin.include_role:
        name: wgmesh.wireguard.wireguard_mesh
        tasks_from: vars.yml
        public: true
    - name: What the role chose
      ansible.builtin.debug:
        msg:
          backend: "{{ __wireguard_mesh_firewall_backend }}"
          managers: "{{ __wireguard_mesh_firewall_managers }}"
          wireguard_go: "{{ __wireguard_mesh_tool_packages.wireguard_go }}"
          missing: "{{ __wireguard_mesh_missing_packages }}"
          selinux: "{{ __wireguard_mesh_probe.selinux }}"
          firewall_leftovers: "{{ __wireguard_mesh_firewall_leftovers }}"
          monitoring_leftovers: "{{ __wireguard_mesh_monitoring_leftovers }}"
"""


# ID, ID_LIKE and VERSION_ID of /etc/os-release on each, as the probe reports them: the role
# reads the distribution from these when no facts were gathered (its default).
OS_RELEASE = {
    "rhel9": {"id": "rhel", "id_like": "fedora", "version_id": "9.4"},
    "rocky9": {"id": "rocky", "id_like": "rhel centos fedora", "version_id": "9.4"},
    "alma9": {"id": "almalinux", "id_like": "rhel centos fedora", "version_id": "9.4"},
    "debian12": {"id": "debian", "id_like": "", "version_id": "12"},
    "debian13": {"id": "debian", "id_like": "", "version_id": "13"},
    "ubuntu2404": {"id": "ubuntu", "id_like": "debian", "version_id": "24.04"},
}


def probe(case_os, changes, kernel=True):
    report = {"now": 1700000000, "kernel": kernel, "wg": False, "wg_quick": False, "wireguard_go": False,
              "enabled": "", "active": "", "files": {}, "monitoring_units": [],
              "os": OS_RELEASE[case_os]}
    report.update(STOCK[case_os], **changes)
    return json.dumps(report)


def run_role_vars(tmp_path, cases, extra_vars=None, facts=True):
    """Each case: (host name, distribution, probe changes, kernel module present[, host vars]).
    Without facts the role has only the probe's os-release fields, as in a run that gathers none."""
    (tmp_path / "action_plugins").mkdir()
    (tmp_path / "action_plugins" / "fake_facts.py").write_text(FAKE_FACTS)
    hosts = {case[0]: dict({"distribution_facts": FACTS[case[1]] if facts else {},
                            "__wireguard_mesh_probe_raw": {"stdout": probe(case[1], case[2], case[3])}},
                           **(case[4] if len(case) > 4 else {}))
             for case in cases}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    playbook = tmp_path / "choose.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_ACTION_PLUGINS=str(tmp_path / "action_plugins"), ANSIBLE_GATHERING="explicit",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOG_PATH="/dev/null")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(playbook)]
    for name, value in (extra_vars or {}).items():
        command += ["-e", json.dumps({name: value})]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    loaded = {name: [item["__wireguard_mesh_vars_file"] for item in result.get("results", [])
                     if not item.get("skipped")]
              for name, result in tasks[-2]["hosts"].items()}
    chosen = {name: result["msg"] for name, result in tasks[-1]["hosts"].items()}
    return loaded, chosen


@pytest.fixture(scope="module")
def chosen(tmp_path_factory):
    return run_role_vars(tmp_path_factory.mktemp("distvars"),
                         [case[:3] + (True,) for case in CASES])


@pytest.fixture(scope="module")
def chosen_from_os_release(tmp_path_factory):
    return run_role_vars(tmp_path_factory.mktemp("distvars_os_release"),
                         [case[:3] + (True,) for case in CASES], facts=False)


VARS_FILES = [
    ("rhel9", ["RedHat.yml"]), ("rocky9", ["RedHat.yml"]), ("alma9", ["RedHat.yml"]),
    ("debian12", ["Debian.yml"]), ("debian13", ["Debian.yml"]), ("ubuntu2404", ["Debian.yml", "Ubuntu.yml"]),
]


@pytest.mark.parametrize("name,expected", VARS_FILES)
def test_vars_files_loaded_per_distribution(chosen, name, expected):
    loaded = chosen[0]
    assert loaded[name] == expected


@pytest.mark.parametrize("name,expected", VARS_FILES)
def test_vars_files_from_os_release_alone_match_the_facts(chosen_from_os_release, name, expected):
    loaded = chosen_from_os_release[0]
    assert loaded[name] == expected


@pytest.mark.parametrize("name,case_os,changes,backend", CASES, ids=[case[0] for case in CASES])
def test_os_release_alone_chooses_as_the_facts_do(chosen, chosen_from_os_release, name, case_os, changes, backend):
    assert chosen_from_os_release[1][name] == chosen[1][name]
    assert chosen_from_os_release[1][name]["backend"] == backend


def test_unknown_distribution_falls_back_to_its_id_like_family(tmp_path):
    OS_RELEASE["oracle9"] = {"id": "ol", "id_like": "fedora", "version_id": "9.4"}
    OS_RELEASE["mint22"] = {"id": "linuxmint", "id_like": "ubuntu debian", "version_id": "22"}
    STOCK.update(oracle9=STOCK["rhel9"], mint22=STOCK["debian12"])
    FACTS.update(oracle9={}, mint22={})
    try:
        loaded, result = run_role_vars(tmp_path, [("oracle9", "oracle9", {}, True), ("mint22", "mint22", {}, True)],
                                       facts=False)
    finally:
        for name in ("oracle9", "mint22"):
            OS_RELEASE.pop(name), STOCK.pop(name), FACTS.pop(name)
    assert loaded == {"oracle9": ["RedHat.yml"], "mint22": ["Debian.yml"]}
    assert result["oracle9"]["backend"] == "firewalld" and result["oracle9"]["selinux"] is True
    assert result["mint22"]["backend"] == "nftables" and result["mint22"]["wireguard_go"] == "wireguard-go"


@pytest.mark.parametrize("name,case_os,changes,backend", CASES, ids=[case[0] for case in CASES])
def test_firewall_backend_per_distribution(chosen, name, case_os, changes, backend):
    result = chosen[1]
    assert result[name]["backend"] == backend, result[name]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_wireguard_go_source_and_selinux_per_distribution(chosen, name):
    result = chosen[1]
    assert result[name]["wireguard_go"] == PACKAGE_OF_WIREGUARD_GO[name]
    assert result[name]["selinux"] is (FACTS[name]["os_family"] == "RedHat")
    # A stock node with the kernel module lacks only wireguard-tools (and no firewall tool).
    assert result[name]["missing"] == ["wireguard-tools"]


def test_without_kernel_module_debian_family_installs_wireguard_go_from_its_archive(tmp_path):
    result = run_role_vars(tmp_path, [(name, name, {}, False) for name in ("debian12", "debian13", "ubuntu2404")])[1]
    for name in result:
        assert result[name]["missing"] == ["wireguard-tools", "wireguard-go"], name


def test_without_kernel_module_rhel_uses_the_wireguard_go_package_you_name(tmp_path):
    # Unset, the role refuses such a node in install.yml (no package is known): see the
    # assert 'Refuse a node without kernel WireGuard where no wireguard-go package is known'.
    result = run_role_vars(tmp_path, [("rocky9", "rocky9", {}, False)],
                           {"wireguard_mesh_wireguard_go_package": "/srv/rpms/wireguard-go.rpm"})[1]
    assert result["rocky9"]["wireguard_go"] == "/srv/rpms/wireguard-go.rpm"
    assert result["rocky9"]["missing"] == ["wireguard-tools", "/srv/rpms/wireguard-go.rpm"]


NFT_FILE, SH_FILE = "/etc/wireguard/wgmesh-firewall.nft", "/etc/wireguard/wgmesh-firewall.sh"
STATE = "0123456789abcdef0123456789abcdef01234567 700 root root"


LEFTOVER_CASES = [
    ("nft-stays", [NFT_FILE], "auto", {}, []),
    ("first-run", [], "iptables", {}, []),
    ("sh-left-by-iptables", [NFT_FILE, SH_FILE], "nftables", {}, [SH_FILE]),
    ("to-iptables", [NFT_FILE], "iptables", {"iptables": True}, [NFT_FILE]),
    ("to-none", [NFT_FILE, SH_FILE], "none", {}, [NFT_FILE, SH_FILE]),
    ("to-ufw", [NFT_FILE], "auto", {"ufw": True}, [NFT_FILE]),
    ("to-firewalld", [SH_FILE], "auto", {"firewalld": "active"}, [SH_FILE]),
]


@pytest.fixture(scope="module")
def leftovers(tmp_path_factory):
    cases = []
    for name, present, firewall, changes, _expected in LEFTOVER_CASES:
        files = dict((path, STATE if path in present else "absent") for path in (NFT_FILE, SH_FILE))
        cases.append((name, "debian12", dict(changes, files=files), True, {"wireguard_mesh_firewall": firewall}))
    result = run_role_vars(tmp_path_factory.mktemp("leftovers"), cases)[1]
    return dict((name, chosen["firewall_leftovers"]) for name, chosen in result.items())


@pytest.mark.parametrize("name,present,firewall,changes,expected", LEFTOVER_CASES, ids=[c[0] for c in LEFTOVER_CASES])
def test_files_of_a_backend_the_site_left_are_removed(leftovers, name, present, firewall, changes, expected):
    assert sorted(leftovers[name]) == sorted(expected)


TIMER, WRITER, EXPORTER = ("wireguard-mesh-textfile-wg0.timer", "wireguard-mesh-textfile-wg0.service",
                           "wireguard-exporter.service")
MONITORING_CASES = [
    ("none-before-and-now", [], "none", []),
    ("textfile-stays", [TIMER, WRITER], "textfile", []),
    ("textfile-to-none", [WRITER, TIMER], "none", [TIMER, WRITER]),
    ("textfile-to-exporter", [TIMER, WRITER], "exporter", [TIMER, WRITER]),
    ("exporter-to-textfile", [EXPORTER], "textfile", [EXPORTER]),
]


@pytest.fixture(scope="module")
def monitoring_leftovers(tmp_path_factory):
    cases = [(name, "debian12", {"monitoring_units": present}, True, {"wireguard_mesh_monitoring": mode})
             for name, present, mode, _expected in MONITORING_CASES]
    result = run_role_vars(tmp_path_factory.mktemp("monitoring"), cases)[1]
    return dict((name, chosen["monitoring_leftovers"]) for name, chosen in result.items())


@pytest.mark.parametrize("name,present,mode,expected", MONITORING_CASES, ids=[c[0] for c in MONITORING_CASES])
def test_units_of_a_monitoring_mode_left_are_removed_timer_first(monitoring_leftovers, name, present, mode, expected):
    assert monitoring_leftovers[name] == expected
