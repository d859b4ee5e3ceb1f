"""The RHEL 9 family and Ubuntu 24.04 mesh (molecule/registry, registry-docker): each site runs
its distribution, WireGuard is up with a handshake to every peer, every tunnel address answers,
files keep their modes and, where SELinux is enabled, /etc/wireguard keeps etc_t."""

import os
import time

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
SITES = sorted(RUNNER.get_hosts("wireguard_mesh"))


def site(name):
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def hostvar(name, key):
    return RUNNER.get_variables(name)[key]


@pytest.mark.parametrize("name", SITES)
def test_site_runs_its_distribution(name):
    distribution, version = hostvar(name, "expected_os")
    release = dict(line.split("=", 1) for line in site(name).file("/etc/os-release").content_string.splitlines()
                   if "=" in line)
    assert release["ID"].strip('"') == distribution
    assert release["VERSION_ID"].strip('"').startswith(version)


@pytest.mark.parametrize("name", SITES)
def test_service_keys_and_modes(name):
    host = site(name)
    assert host.service("wg-quick@wg0").is_enabled
    assert host.service("wg-quick@wg0").is_running
    assert (host.file("/etc/wireguard").mode, host.file("/etc/wireguard").user) == (0o700, "root")
    for path in ["/etc/wireguard/wg0.key", "/etc/wireguard/wg0.conf"]:
        assert host.file(path).mode == 0o600, path


@pytest.mark.parametrize("name", SITES)
def test_selinux_context_of_the_wireguard_directory(name):
    host = site(name)
    if host.run("selinuxenabled").rc != 0:
        pytest.skip("SELinux is not enabled on %s (containers normally see it disabled)" % name)
    for path in ["/etc/wireguard", "/etc/wireguard/wg0.key", "/etc/wireguard/wg0.conf"]:
        assert ":etc_t:" in host.check_output("ls -Zd %s" % path), path


def test_handshakes_and_tunnel_ping_matrix():
    now = time.time()
    failed = []
    for name in SITES:
        host = site(name)
        lines = host.check_output("wg show wg0 latest-handshakes").splitlines()
        assert len(lines) == len(SITES) - 1, name
        assert all(0 < now - int(line.split()[1]) < 180 for line in lines), (name, lines)
        for other in SITES:
            if other != name and host.run("ping -c 1 -w 5 -q %s" % hostvar(other, "wireguard_mesh_address")).rc:
                failed.append((name, other))
    assert failed == []
