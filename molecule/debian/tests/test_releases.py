"""The mixed mesh really mixes Debian releases, and each site got WireGuard from its own archive."""

import os

import pytest
import testinfra

LAB = os.environ.get("WGMESH_LAB", "wgmesh")
IMAGES = os.environ.get("WGMESH_LAB_IMAGES", "").split()
RELEASES = {"bookworm": "12", "trixie": "13"}
# Site i runs image i (lab/lab.sh, molecule.yml's WGMESH_LAB_IMAGES).
EXPECTED = {"%s-%s" % (LAB, name): RELEASES[image.rsplit(":", 1)[1]]
            for name, image in zip(("dublin", "frankfurt", "newyork"), IMAGES)}


def site(name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def test_the_mesh_mixes_debian_12_and_13():
    assert sorted(set(EXPECTED.values())) == ["12", "13"], IMAGES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_site_runs_its_release(name):
    host = site(name)
    assert host.system_info.distribution == "debian", name
    assert host.file("/etc/debian_version").content_string.split(".")[0].strip() == EXPECTED[name], name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wireguard_comes_from_the_debian_archive(name):
    host = site(name)
    # Without a kernel module (as on the build machine) wg-quick runs wireguard-go, also from Debian.
    userspace = not host.file("/sys/module/wireguard").exists
    for package in ("wireguard-tools",) + (("wireguard-go",) if userspace else ()):
        assert host.package(package).is_installed, (name, package)
        policy = host.check_output("apt-cache policy %s" % package)
        assert "deb.debian.org/debian %s/main" % {"12": "bookworm", "13": "trixie"}[EXPECTED[name]] in policy, (
            name, package, policy)
    if userspace:
        assert host.process.filter(comm="wireguard-go"), name
