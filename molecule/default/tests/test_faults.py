"""Faults on the lab's real containers: a site stopped before the run, a site whose SSH fails,
a site killed once its config is written (at the start of the live apply), a PSK rotation that
one end cannot write. After each, on the other sites: wg0.conf passes `wg-quick strip` and
names every peer with a valid public key (none removed, none empty), `wg-quick down && up`
gives a working mesh, and the next full run converges."""

import pathlib
import re
import subprocess

import pytest
import yaml

import test_rotation as rot
from labtools import ENV, INVENTORY, ROOT, podman, run_playbook

DUBLIN, FRANKFURT, NEWYORK = rot.SITES
KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
# Every PSK file of a site against the PSK its interface uses for that peer; prints no secret.
PSK_FILES_MATCH_LIVE = (
    "grep -o 'peer [^ ]* preshared-key [^ ]*' /etc/wireguard/wg0.conf | while read -r _ key _ path; do "
    "live=$(wg show wg0 preshared-keys | awk -v k=\"$key\" '$1 == k {print $2}'); "
    "if [ -n \"$live\" ] && [ \"$live\" = \"$(cat \"$path\")\" ]; then echo \"same $path\"; else echo \"differs $path\"; fi; "
    "done")


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    missing = [site for site in rot.SITES if podman("container", "exists", site).returncode != 0]
    if missing:
        pytest.skip("lab is not up (missing %s)" % ", ".join(missing))


def frankfurt_with_another_lan(tmp_path):
    """An inventory change that the running sites must converge on: frankfurt gets a second LAN."""
    source = pathlib.Path(INVENTORY)
    hosts = yaml.safe_load((source / "hosts.yml" if source.is_dir() else source).read_text())
    lans = hosts["wireguard_mesh"]["hosts"][FRANKFURT]["wireguard_mesh_lan_cidrs"]
    path = tmp_path / "another-lan.yml"
    path.write_text(yaml.safe_dump({"wireguard_mesh": {"hosts": {FRANKFURT: {
        "wireguard_mesh_lan_cidrs": lans + ["10.32.0.0/24"]}}}}))
    return str(path)


def assert_config_sound(site, keys):
    """wg0.conf passes wg-quick's own parser and names exactly the other sites' keys, live too."""
    strip = podman("exec", site, "sh", "-c", "wg-quick strip wg0 >/dev/null")
    assert strip.returncode == 0, "%s: wg-quick strip fails: %s" % (site, strip.stderr)
    config = rot.on(site, "cat /etc/wireguard/wg0.conf")
    listed = re.findall(r"^PublicKey\s*=\s*(.*)$", config, re.M)
    with_psk = re.findall(r"wg set %i peer (\S*) preshared-key", config)
    wanted = sorted(keys[other] for other in rot.SITES if other != site)
    assert sorted(listed) == wanted and sorted(with_psk) == wanted, "%s: %s" % (site, config)
    assert all(KEY.fullmatch(key) for key in listed)
    assert sorted(rot.on(site, "wg show wg0 peers").split()) == wanted


def down_up_answers(site, peers):
    proc = podman("exec", site, "sh", "-c", "wg-quick down wg0 && wg-quick up wg0")
    assert proc.returncode == 0, proc.stderr
    rot.wait_for(lambda: all(rot.tunnel_ping(site, peer) for peer in peers), 30,
                 "%s answers %s after wg-quick down && up" % (site, ", ".join(peers)))


def converges_again():
    proc = run_playbook("site")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    rot.wait_for(rot.mesh_answers, 60, "every pair answers after the next full run")


def streamed_playbook(args, on_task, action):
    """Run a playbook, call action() when a task whose name holds on_task starts; its output."""
    env = dict(ENV, ANSIBLE_DISPLAY_SKIPPED_HOSTS="true")
    proc = subprocess.Popen(["ansible-playbook", "-i", INVENTORY, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    done = False
    for line in proc.stdout:
        lines.append(line)
        if not done and line.startswith("TASK [") and on_task in line:
            action()
            done = True
    proc.wait(timeout=600)
    assert done, "no task named %r ran" % on_task
    return proc.returncode, "".join(lines)


def test_site_stopped_before_the_run_is_converged_around(tmp_path):
    keys = rot.public_keys()
    assert podman("stop", "-t", "2", NEWYORK).returncode == 0
    try:
        proc = run_playbook("site", "-i", frankfurt_with_another_lan(tmp_path))
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "Not reached: %s" % NEWYORK in out, out[-3000:]
        assert "10.32.0.0/24" in rot.on(DUBLIN, "cat /etc/wireguard/wg0.conf")
        for site in (DUBLIN, FRANKFURT):
            assert_config_sound(site, keys)
        down_up_answers(DUBLIN, [FRANKFURT])
    finally:
        assert podman("start", NEWYORK).returncode == 0
    rot.wait_for(lambda: rot.tunnel_ping(DUBLIN, NEWYORK), 90, "the restarted site answers through the tunnel")
    converges_again()


def test_site_whose_ssh_fails_keeps_its_tunnels(tmp_path):
    keys = rot.public_keys()
    stop_ssh = "systemctl stop ssh.service ssh.socket 2>/dev/null; pkill -KILL -x sshd; true"
    assert podman("exec", NEWYORK, "sh", "-c", stop_ssh).returncode == 0
    try:
        proc = run_playbook("site", "-i", frankfurt_with_another_lan(tmp_path))
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "Not reached: %s" % NEWYORK in out, out[-3000:]
        for site in (DUBLIN, FRANKFURT):
            assert_config_sound(site, keys)
        assert_config_sound(NEWYORK, keys)
        assert rot.tunnel_ping(DUBLIN, NEWYORK) and rot.tunnel_ping(NEWYORK, FRANKFURT)
        down_up_answers(FRANKFURT, [DUBLIN, NEWYORK])
    finally:
        assert podman("exec", NEWYORK, "systemctl", "start", "ssh.service").returncode == 0
    converges_again()


def test_site_killed_between_its_config_and_the_live_apply(tmp_path):
    keys = rot.public_keys()
    try:
        rc, out = streamed_playbook(["wgmesh.wireguard.site", "-i", frankfurt_with_another_lan(tmp_path)],
                                    "Apply the peers live", lambda: podman("kill", NEWYORK))
        assert rc != 0 and re.search(r"fatal: \[%s\]" % NEWYORK, out), out[-3000:]
        assert "10.32.0.0/24" in rot.on(DUBLIN, "cat /etc/wireguard/wg0.conf"), out[-3000:]
        for site in (DUBLIN, FRANKFURT):
            assert_config_sound(site, keys)
        down_up_answers(DUBLIN, [FRANKFURT])
    finally:
        assert podman("start", NEWYORK).returncode == 0
    # The killed site starts from what it had on disk, old or new, whole either way.
    rot.wait_for(lambda: rot.tunnel_ping(NEWYORK, DUBLIN) and rot.tunnel_ping(NEWYORK, FRANKFURT), 90,
                 "the killed site comes back from its config on disk")
    assert_config_sound(NEWYORK, keys)
    converges_again()


def test_psk_rotation_that_one_end_cannot_write_changes_nothing():
    before = rot.psk_digests()
    # A read-only PSK directory on one site (as after a disk error), set before the run.
    read_only = ("mount --bind /etc/wireguard/psk /etc/wireguard/psk && "
                 "mount -o remount,bind,ro /etc/wireguard/psk")
    assert podman("exec", "--privileged", NEWYORK, "sh", "-c", read_only).returncode == 0
    try:
        proc = run_playbook("rotate_psk")
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "stopped before any PSK went live" in out, out[-3000:]
        assert "write PSK files - site '%s' failed" % NEWYORK in out, out[-3000:]
        assert "The PSK files of %s, %s hold the live PSKs again" % (DUBLIN, FRANKFURT) in out, out[-3000:]
        assert rot.psk_digests() == before
        for site in rot.SITES:
            checks = rot.on(site, PSK_FILES_MATCH_LIVE).split("\n")
            assert len([c for c in checks if c.startswith("same ")]) == 2, (site, checks)
        down_up_answers(DUBLIN, [FRANKFURT, NEWYORK])
    finally:
        assert podman("exec", "--privileged", NEWYORK, "umount", "/etc/wireguard/psk").returncode == 0
    rot.wait_for(rot.mesh_answers, 60, "every pair answers with the PSKs it kept")


def test_verify_and_psk_rotation_go_on_around_a_stopped_site():
    before = rot.psk_digests()
    assert podman("stop", "-t", "2", NEWYORK).returncode == 0
    try:
        verify = run_playbook("verify")
        rotate = run_playbook("rotate_psk")
    finally:
        assert podman("start", NEWYORK).returncode == 0
    out = verify.stdout + verify.stderr
    assert verify.returncode != 0 and "Not reached: %s" % NEWYORK in out, out[-3000:]
    assert re.search(r"%s\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0" % DUBLIN, out), out[-3000:]
    out = rotate.stdout + rotate.stderr
    assert rotate.returncode != 0, out[-3000:]
    assert ("Not rotated, a site did not answer (both ends keep their PSK): %s + %s, %s + %s"
            % (DUBLIN, NEWYORK, FRANKFURT, NEWYORK)) in out, out[-3000:]
    after = rot.psk_digests()
    assert after[DUBLIN][FRANKFURT + ".psk"] != before[DUBLIN][FRANKFURT + ".psk"]
    assert after[DUBLIN][NEWYORK + ".psk"] == before[DUBLIN][NEWYORK + ".psk"]
    assert after[NEWYORK] == before[NEWYORK]
    rot.wait_for(rot.mesh_answers, 90, "the restarted site answers every peer with the PSKs it kept")
