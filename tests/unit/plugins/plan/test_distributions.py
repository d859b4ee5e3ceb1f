# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-distribution behaviour of the role, through the plan: for each distribution's os-release
(as wg_probe reads it and names it like Ansible's facts) and what its probe reports, the vars
files the plan loads, the firewall backend, the packages and where wireguard-go comes from,
and what a site that leaves a backend or a monitoring mode loses."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree

import pytest

from ansible_collections.wgmesh.wireguard.plugins.module_utils.osrelease import os_names
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import plan
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils.firewall import FirewallError

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import ROLE, converged_probe, fresh_probe, mesh, node_of, options

# ID, ID_LIKE and VERSION_ID of /etc/os-release on each.
OS_RELEASE = {
    "rhel9": {"id": "rhel", "id_like": "fedora", "version_id": "9.4"},
    "rocky9": {"id": "rocky", "id_like": "rhel centos fedora", "version_id": "9.4"},
    "alma9": {"id": "almalinux", "id_like": "rhel centos fedora", "version_id": "9.4"},
    "debian12": {"id": "debian", "id_like": "", "version_id": "12"},
    "debian13": {"id": "debian", "id_like": "", "version_id": "13"},
    "ubuntu2404": {"id": "ubuntu", "id_like": "debian", "version_id": "24.04"},
    "oracle9": {"id": "ol", "id_like": "fedora", "version_id": "9.4"},
    "mint22": {"id": "linuxmint", "id_like": "ubuntu debian", "version_id": "22"},
}
# What the probe reports of the firewall on a stock install of each.
STOCK = {
    "rhel9": {"firewalld": "active", "ufw": False, "nft": True, "iptables": True, "selinux": True},
    "debian12": {"firewalld": "inactive", "ufw": False, "nft": True, "iptables": False, "selinux": False},
    "ubuntu2404": {"firewalld": "inactive", "ufw": True, "nft": True, "iptables": True, "selinux": False},
}
STOCK.update(rocky9=STOCK["rhel9"], alma9=STOCK["rhel9"], oracle9=STOCK["rhel9"], debian13=STOCK["debian12"],
             mint22=STOCK["debian12"])
VARS_FILES = [
    ("rhel9", ["RedHat.yml"]), ("rocky9", ["RedHat.yml"]), ("alma9", ["RedHat.yml"]),
    ("debian12", ["Debian.yml"]), ("debian13", ["Debian.yml"]), ("ubuntu2404", ["Debian.yml", "Ubuntu.yml"]),
    ("oracle9", ["RedHat.yml"]), ("mint22", ["Debian.yml"]),
]
# (case, distribution, probe changes, expected backend)
CASES = [
    ("rhel9", "rhel9", {}, "firewalld"),
    ("rocky9", "rocky9", {}, "firewalld"),
    ("alma9", "alma9", {}, "firewalld"),
    ("debian12", "debian12", {}, "nftables"),
    ("debian13", "debian13", {}, "nftables"),
    ("ubuntu2404", "ubuntu2404", {}, "ufw"),
    ("ubuntu2404-ufw-inactive", "ubuntu2404", {"ufw": False}, "nftables"),
    ("ubuntu2404-both", "ubuntu2404", {"firewalld": "active"}, "ufw"),
    ("rocky9-both", "rocky9", {"ufw": True}, "firewalld"),
    ("alma9-firewalld-stopped", "alma9", {"firewalld": "inactive"}, "nftables"),
    ("debian12-firewalld", "debian12", {"firewalld": "active"}, "firewalld"),
    ("debian13-iptables", "debian13", {"nft": False, "iptables": True}, "iptables"),
    ("debian12-bare", "debian12", {"nft": False}, "none"),
]
PACKAGE_OF_WIREGUARD_GO = {"rhel9": "", "rocky9": "", "alma9": "", "debian12": "wireguard-go",
                           "debian13": "wireguard-go", "ubuntu2404": "wireguard-go", "mint22": "wireguard-go"}


def osinfo(name):
    release = OS_RELEASE[name]
    return dict(release, **os_names(release["id"], release["id_like"], release["version_id"]))


def probe_of(name, changes=None, kernel=True, **extra):
    stock = dict(STOCK[name], **(changes or {}))
    base = fresh_probe("dublin", os=osinfo(name), kernel=kernel, firewalld=stock["firewalld"], ufw=stock["ufw"],
                       selinux=stock["selinux"])
    base["tools"].update(nft=stock["nft"], iptables=stock["iptables"], ufw=stock["ufw"])
    base.update(extra)
    return base


@pytest.fixture(scope="module")
def lab():
    return mesh()


@pytest.mark.parametrize("name,expected", VARS_FILES)
def test_vars_files_loaded_per_distribution(name, expected):
    assert plan.os_vars_files(ROLE, osinfo(name)) == expected


@pytest.mark.parametrize("name,case_os,changes,backend", CASES, ids=[case[0] for case in CASES])
def test_firewall_backend_per_distribution(lab, name, case_os, changes, backend):
    node = node_of("dublin", lab, probe_of(case_os, changes))
    assert node["firewall"]["backend"] == backend


@pytest.mark.parametrize("name", sorted(PACKAGE_OF_WIREGUARD_GO))
def test_wireguard_go_source_selinux_and_packages_per_distribution(lab, name):
    osvars = plan.os_vars(ROLE, osinfo(name))
    assert osvars["__wireguard_mesh_packages"]["wireguard_go"] == PACKAGE_OF_WIREGUARD_GO[name]
    node = node_of("dublin", lab, probe_of(name))
    assert ("selinux" in node["steps"]) is (osinfo(name)["family"] == "RedHat")
    # A stock node with the kernel module lacks only wireguard-tools (and no firewall tool).
    assert node["packages"] == ["wireguard-tools"]
    assert node["package_manager"] == ("dnf" if osinfo(name)["family"] == "RedHat" else "apt")


def test_unknown_distributions_fall_back_to_their_id_like_family(lab):
    oracle = node_of("dublin", lab, probe_of("oracle9"))
    assert oracle["firewall"]["backend"] == "firewalld" and "selinux" in oracle["steps"]
    mint = node_of("dublin", lab, probe_of("mint22"))
    assert mint["firewall"]["backend"] == "nftables"


@pytest.mark.parametrize("name", ["debian12", "debian13", "ubuntu2404"])
def test_without_kernel_module_debian_family_installs_wireguard_go_from_its_archive(lab, name):
    assert node_of("dublin", lab, probe_of(name, kernel=False))["packages"] == ["wireguard-tools", "wireguard-go"]


def test_without_kernel_module_rhel_uses_the_wireguard_go_package_you_name(lab):
    node = node_of("dublin", lab, probe_of("rocky9", kernel=False),
                   options(wireguard_mesh_wireguard_go_package="/srv/rpms/wireguard-go.rpm"))
    assert node["packages"] == ["wireguard-tools", "/srv/rpms/wireguard-go.rpm"]


NFT_FILE, SH_FILE = "/etc/wireguard/wgmesh-firewall.nft", "/etc/wireguard/wgmesh-firewall.sh"
PY_FILE = "/etc/wireguard/wgmesh-firewall-nft.py"
DROPIN = "/etc/systemd/system/nftables.service.d/wgmesh-wg0.conf"
STATE = "0123456789abcdef0123456789abcdef01234567 700 root root"
LEFTOVER_CASES = [
    ("nft-stays", [NFT_FILE, PY_FILE], "auto", {}, []),
    ("first-run", [], "iptables", {}, []),
    ("sh-left-by-iptables", [NFT_FILE, SH_FILE], "nftables", {}, [SH_FILE]),
    ("to-iptables", [NFT_FILE, PY_FILE, DROPIN], "iptables", {"iptables": True}, [NFT_FILE, PY_FILE, DROPIN]),
    ("to-none", [NFT_FILE, PY_FILE, DROPIN, SH_FILE], "none", {}, [NFT_FILE, PY_FILE, DROPIN, SH_FILE]),
    ("to-ufw", [NFT_FILE], "auto", {"ufw": True}, [NFT_FILE]),
    ("to-firewalld", [SH_FILE], "auto", {"firewalld": "active"}, [SH_FILE]),
]


@pytest.mark.parametrize("name,present,firewall,changes,expected", LEFTOVER_CASES, ids=[c[0] for c in LEFTOVER_CASES])
def test_files_of_a_backend_the_site_left_are_removed(lab, name, present, firewall, changes, expected):
    files = dict((path, STATE if path in present else "absent") for path in (NFT_FILE, PY_FILE, DROPIN, SH_FILE))
    node = node_of("dublin", lab, probe_of("debian12", changes, files=files),
                   options(wireguard_mesh_firewall=firewall))
    assert sorted(node["firewall"]["leftovers"]) == sorted(expected)
    assert ("firewall" in node["steps"]) is bool(expected or node["firewall"]["file"])


@pytest.mark.parametrize("nft_rules,backend,load", [
    ("live", "nftables", False), ("missing", "nftables", True), (None, "nftables", False),
    ("missing", "iptables", False),
])
def test_rules_gone_from_the_live_ruleset_are_loaded_again(lab, nft_rules, backend, load):
    """A reload of nftables.service flushes the role's rules; the next run loads them again, and
    only then."""
    converged = node_of("dublin", lab, probe_of("debian12", {"iptables": True}),
                        options(wireguard_mesh_firewall=backend))
    files = dict((item["path"], item["state"]) for item in converged["writes"])
    node = node_of("dublin", lab, probe_of("debian12", {"iptables": True}, files=files, nft_rules=nft_rules),
                   options(wireguard_mesh_firewall=backend))
    assert not node["firewall"]["files_written"]
    assert node["firewall"]["load"] is load and ("firewall" in node["steps"]) is load
    if load:
        assert node["firewall"]["load_argv"] == ["python3", PY_FILE, "up"]


TIMER, WRITER, EXPORTER = ("wireguard-mesh-textfile-wg0.timer", "wireguard-mesh-textfile-wg0.service",
                           "wireguard-exporter.service")
MONITORING_CASES = [
    ("none-before-and-now", [], "none", []),
    ("textfile-stays", [TIMER, WRITER], "textfile", []),
    ("textfile-to-none", [WRITER, TIMER], "none", [TIMER, WRITER]),
    ("textfile-to-exporter", [TIMER, WRITER], "exporter", [TIMER, WRITER]),
    ("exporter-to-textfile", [EXPORTER], "textfile", [EXPORTER]),
]


@pytest.mark.parametrize("name,present,mode,expected", MONITORING_CASES, ids=[c[0] for c in MONITORING_CASES])
def test_units_of_a_monitoring_mode_left_are_removed_timer_first(lab, name, present, mode, expected):
    extra = {"wireguard_mesh_monitoring": mode}
    if mode == "exporter":
        extra["wireguard_mesh_monitoring_exporter_package"] = "wireguard-exporter"
    node = node_of("dublin", lab, converged_probe("dublin", lab, units=present), options(**extra))
    assert node["monitoring"]["leftovers"] == expected
    assert ("monitoring_leftovers" in node["steps"]) is bool(expected)


FIREWALLD = {"zone": "/etc/firewalld/zones/wgmesh.xml", "tunnel": "/etc/firewalld/policies/wgmesh-tunnel.xml",
             "host": "/etc/firewalld/policies/wgmesh-host.xml", "port": "/etc/firewalld/policies/wgmesh-port.xml",
             "forward": "/etc/firewalld/policies/wgmesh-forward.xml", "ipset": "/etc/firewalld/ipsets/wgmesh-peers.xml"}


def firewalld_objects(lab, **changes):
    node = node_of("dublin", lab, probe_of("rhel9"), options(**changes))
    writes = dict((item["path"], item["content"]) for item in node["writes"] if item["path"].startswith("/etc/firewalld/"))
    assert sorted(writes) == sorted(FIREWALLD.values())  # files of the role's own only: no zone of the admin's
    return node, dict((name, ElementTree.fromstring(writes[path])) for name, path in FIREWALLD.items())


@pytest.mark.parametrize("zone,ingress", [("", "ANY"), ("wan", "wan")])
def test_firewalld_objects_of_the_role_come_before_every_zone(lab, zone, ingress):
    node, xml = firewalld_objects(lab, wireguard_mesh_firewalld_zone=zone)
    assert "firewall" in node["steps"] and node["firewall"]["firewalld_reload"]
    assert [e.get("name") for e in xml["zone"].iter("interface")] == ["wg0"] and xml["zone"].get("target") == "ACCEPT"
    # Below 0: before the zones; the tunnel's own traffic is accepted before the anti-spoofing drop.
    priority = dict((name, int(xml[name].get("priority"))) for name in ("tunnel", "host", "port", "forward"))
    assert all(value < 0 for value in priority.values()) and priority["tunnel"] < priority["host"]
    assert [e.get("name") for e in xml["tunnel"].iter("ingress-zone")] == ["wgmesh"]
    assert [e.get("address") for e in xml["host"].iter("destination")] == ["10.99.0.1"]
    assert [e.get("name") for e in xml["port"].iter("ingress-zone")] == [ingress]
    assert [(e.get("port"), e.get("protocol")) for e in xml["port"].iter("port")] == [("51820", "udp")]
    assert [e.get("name") for e in xml["forward"].iter("egress-zone")] == ["wgmesh"]


def test_firewalld_port_only_from_the_peer_set_when_restricted(lab):
    _node, xml = firewalld_objects(lab, wireguard_mesh_firewall_restrict_sources=True)
    (rule,) = list(xml["port"].iter("rule"))
    assert rule.find("source").get("ipset") == "wgmesh-peers" and rule.find("accept") is not None
    assert sorted(e.text for e in xml["ipset"].iter("entry")) == ["10.249.0.12", "10.249.0.13"]


@pytest.mark.parametrize("name,firewall,why", [
    ("rhel9", "auto", "the restriction would drop them"), ("ubuntu2404", "auto", "the restriction would drop them"),
    ("ubuntu2404", "iptables", "ip6tables gets no rule, nothing restricts them")])
def test_restricted_sources_with_ipv6_peers_need_the_nftables_backend(name, firewall, why):
    """These backends' rules name IPv4 sources only (nftables has a set of each family)."""
    v6 = mesh(frankfurt={"wireguard_mesh_endpoint": "fd77:249::12"}, newyork={"wireguard_mesh_endpoint": "fd77:249::13"})
    with pytest.raises(FirewallError, match=r"site 'dublin': wireguard_mesh_firewall_restrict_sources with the \w+ backend "
                                            r"restricts IPv4 sources only, and peers have IPv6 endpoints "
                                            r"\(fd77:249::12, fd77:249::13\): %s" % why):
        node_of("dublin", v6, probe_of(name), options(wireguard_mesh_firewall=firewall,
                                                      wireguard_mesh_firewall_restrict_sources=True))
    node = node_of("dublin", v6, probe_of(name), options(wireguard_mesh_firewall="nftables",
                                                         wireguard_mesh_firewall_restrict_sources=True))
    rules = [item["content"] for item in node["writes"] if item["path"].endswith(".nft")][0]
    assert "elements = { fd77:249::12, fd77:249::13 }" in rules


@pytest.mark.parametrize("firewalld,present,reload", [
    ("active", list(FIREWALLD.values()), True),
    ("inactive", list(FIREWALLD.values()), False),  # firewalld loads the files it finds when it starts
    ("active", [], False),
    ("active", ["/etc/firewalld/policies/wgmesh.xml"], True),  # the first design's policy
])
def test_a_site_that_leaves_firewalld_loses_the_roles_objects(lab, firewalld, present, reload):
    files = dict((path, STATE) for path in present)
    node = node_of("dublin", lab, probe_of("debian12", {"firewalld": firewalld}, files=files),
                   options(wireguard_mesh_firewall="nftables"))
    assert sorted(p for p in node["firewall"]["leftovers"] if p.startswith("/etc/firewalld/")) == sorted(present)
    assert node["firewall"]["firewalld_reload"] is reload


@pytest.mark.parametrize("firewall,tagged,expected", [
    ("none", True, True), ("nftables", True, True), ("none", False, False), ("ufw", True, False),
])
def test_a_site_that_leaves_ufw_loses_the_roles_rules(lab, firewall, tagged, expected):
    node = node_of("dublin", lab, probe_of("ubuntu2404", ufw_tagged=tagged), options(wireguard_mesh_firewall=firewall))
    assert node["firewall"]["ufw_leftovers"] is expected
    assert ("firewall" in node["steps"]) is (expected or node["firewall"]["backend"] == "nftables")


@pytest.mark.parametrize("choice,tools,expected", [
    ("auto", {"iptables": True}, "iptables"),
    ("auto", {"iptables": False}, "refused"),
    ("nftables", {"iptables": True}, "refused"),
    ("iptables", {"iptables": True}, "iptables"),
    ("none", {"iptables": True}, "none"),
])
def test_iptables_chains_at_policy_drop_need_the_iptables_backend(lab, choice, tools, expected):
    """Docker's FORWARD drop (iptables-nft) would drop the mesh behind any nftables rule of the role."""
    probe = probe_of("debian12", dict(tools), iptables_drop=["ip filter FORWARD"])
    if expected == "refused":
        refusal = r"site 'dublin': iptables chains with policy drop \(ip filter FORWARD.*wireguard_mesh_firewall to iptables"
        with pytest.raises(FirewallError, match=refusal):
            node_of("dublin", lab, probe, options(wireguard_mesh_firewall=choice))
    else:
        assert node_of("dublin", lab, probe, options(wireguard_mesh_firewall=choice))["firewall"]["backend"] == expected
