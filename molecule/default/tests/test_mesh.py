"""Real-mesh checks for the lab's three sites (run by molecule's testinfra verifier)."""

import os
import re
import subprocess
import time

import pytest
import testinfra

# The lab's names and subnets (lab/lab.sh: WGMESH_LAB prefix, WGMESH_LAB_INDEX), so that other
# scenarios (molecule/debian, molecule/debian-docker) run these checks on their own sites.
LAB = os.environ.get("WGMESH_LAB", "wgmesh")
INDEX = int(os.environ.get("WGMESH_LAB_INDEX", "0"))
DUBLIN, FRANKFURT, NEWYORK = ("%s-%s" % (LAB, name) for name in ("dublin", "frankfurt", "newyork"))
SITES = {
    DUBLIN: ("10.99.0.1", "10.10.%d.10" % INDEX),
    FRANKFURT: ("10.99.0.2", "10.20.%d.10" % INDEX),
    NEWYORK: ("10.99.0.3", "10.30.%d.10" % INDEX),
}
PAIRS = [(a, b) for a in sorted(SITES) for b in sorted(SITES) if a < b]
CONTAINERS_CONF = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "lab", "containers.conf")
# The container engine of the scenario's driver (podman for the lab, docker for debian-docker).
ENGINE = os.environ.get("WGMESH_CONTAINER_ENGINE", "podman")


def site(name):
    return testinfra.get_host(
        "ansible://%s" % name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"]
    )


@pytest.fixture(scope="module")
def hosts():
    return {name: site(name) for name in SITES}


def podman(*args):
    env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)
    return subprocess.run([ENGINE, *args], env=env, capture_output=True, text=True, check=False)


def test_service_enabled_and_running(hosts):
    for name, host in hosts.items():
        service = host.service("wg-quick@wg0")
        assert service.is_enabled, name
        assert service.is_running, name


def test_modes_of_directory_keys_psks_and_config(hosts):
    for name, host in hosts.items():
        directory = host.file("/etc/wireguard")
        assert (directory.mode, directory.user) == (0o700, "root"), name
        psk_dir = host.file("/etc/wireguard/psk")
        assert psk_dir.mode == 0o700, name
        files = ["/etc/wireguard/wg0.key", "/etc/wireguard/wg0.conf"] + [
            "/etc/wireguard/psk/%s.psk" % other for other in SITES if other != name
        ]
        for path in files:
            f = host.file(path)
            assert f.exists, path
            assert (f.mode, f.user, f.group) == (0o600, "root", "root"), (name, path)


def test_config_holds_no_secret(hosts):
    for name, host in hosts.items():
        config = host.file("/etc/wireguard/wg0.conf").content_string
        assert not re.search(r"^\s*(PrivateKey|PresharedKey)\s*=", config, re.M), name


def test_every_peer_has_a_recent_handshake(hosts):
    now = time.time()
    for name, host in hosts.items():
        lines = host.check_output("wg show wg0 latest-handshakes").splitlines()
        assert len(lines) == len(SITES) - 1, name
        for line in lines:
            epoch = int(line.split()[1])
            assert epoch > 0 and now - epoch < 180, (name, line.split()[0])


def test_psks_equal_at_both_ends_and_distinct_across_pairs(hosts):
    fingerprints = {}
    for a, b in PAIRS:
        at_a = hosts[a].check_output("sha256sum < /etc/wireguard/psk/%s.psk" % b).split()[0]
        at_b = hosts[b].check_output("sha256sum < /etc/wireguard/psk/%s.psk" % a).split()[0]
        assert at_a == at_b, (a, b)
        fingerprints[(a, b)] = at_a
    assert len(set(fingerprints.values())) == len(PAIRS)


def test_full_ping_matrix_including_lan_hosts(hosts):
    failed = []
    for name, host in hosts.items():
        for other, addresses in SITES.items():
            if other == name:
                continue
            for address in addresses:
                if host.run("ping -c 1 -w 5 -q %s" % address).rc != 0:
                    failed.append((name, address))
    assert failed == []


def test_lan_host_reaches_lan_host_through_the_mesh():
    result = podman("exec", DUBLIN + "-lan", "ping", "-c", "2", "-w", "5", "-q", SITES[NEWYORK][1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_path_from_frankfurt_to_newyork_lan_is_direct(hosts):
    trace = hosts[FRANKFURT].check_output("traceroute -n -q 1 -w 2 -m 5 %s" % SITES[NEWYORK][1])
    hops = [line.split()[1] for line in trace.splitlines()[1:]]
    assert hops[0] == "10.99.0.3", trace
    assert "10.99.0.1" not in hops, trace


def test_no_secret_in_converge_log(hosts):
    log_path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log")
    with open(log_path) as handle:
        log = handle.read()
    assert DUBLIN in log  # the log is the converge's, not an empty file
    # Read through podman, not through ansible, so the reads themselves never reach the log.
    secrets = {}
    for name in hosts:
        secrets["%s private key" % name] = podman("exec", name, "cat", "/etc/wireguard/wg0.key").stdout.strip()
        for other in SITES:
            if other != name:
                secrets["%s psk for %s" % (name, other)] = podman(
                    "exec", name, "cat", "/etc/wireguard/psk/%s.psk" % other
                ).stdout.strip()
    unread = sorted(label for label, value in secrets.items() if not value)
    assert unread == []  # labels only: a failing assert must not print a secret
    leaked = sorted(label for label, value in secrets.items() if value and value in log)
    assert leaked == []


def test_restarted_site_comes_back_by_itself(hosts):
    result = podman("restart", "-t", "5", NEWYORK)
    assert result.returncode == 0, result.stderr
    deadline = time.time() + 90
    while time.time() < deadline:
        if podman("exec", DUBLIN, "ping", "-c", "1", "-w", "2", "-q", "10.99.0.3").returncode == 0:
            break
    else:
        pytest.fail("dublin did not reach newyork's tunnel address within 90 s of its restart")
    active = podman("exec", NEWYORK, "systemctl", "is-active", "wg-quick@wg0")
    assert active.stdout.strip() == "active"
