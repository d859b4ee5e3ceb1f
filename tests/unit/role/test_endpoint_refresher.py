# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint refresher the role installs (files/wireguard-mesh-endpoints.py), run against a
stand-in `wg` that prints a dump and logs what it is asked to set."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles" / "wireguard_mesh" / "files" / "wireguard-mesh-endpoints.py"

FAKE_WG = r"""#!/bin/sh
echo "$*" >> "$WG_CALLS"
[ "$1" = set ] && [ -n "$WG_SET_FAILS" ] && exit 1
if [ "$1" = show ]; then
  [ "$2" = wg0 ] || exit 1
  printf 'PRIVATE\tPUBLIC\t51820\toff\n'
  cat "$WG_DUMP"
fi
"""

CONFIG = """[Interface]
Address = 10.99.0.1/24
ListenPort = 51820

[Peer]
# frankfurt
PublicKey = KF
{frankfurt_line}
AllowedIPs = 10.99.0.2/32

[Peer]
# newyork
PublicKey = KN
Endpoint = 10.249.0.13:51820
AllowedIPs = 10.99.0.3/32

[Peer]
# tokyo
PublicKey = KT
Endpoint = [fd00::13]:51820
AllowedIPs = 10.99.0.4/32
"""


def localhost_endpoints(port):
    return set(("[%s]:%d" if ":" in info[4][0] else "%s:%d") % (info[4][0], port)
               for info in socket.getaddrinfo("localhost", port, 0, socket.SOCK_DGRAM))


@pytest.fixture
def refresher(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "wg").write_text(FAKE_WG)
    (bindir / "wg").chmod(0o755)
    calls = tmp_path / "calls"
    dump = tmp_path / "dump"
    config = tmp_path / "wg0.conf"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), WG_CALLS=str(calls), WG_DUMP=str(dump))

    def run(frankfurt_live, handshake_age=None, frankfurt="localhost:51820", interface="wg0", as_comment=True,
            line=None, set_fails=False):
        env["WG_SET_FAILS"] = "1" if set_fails else ""
        line = line or ("# wgmesh-endpoint = %s" if as_comment else "Endpoint = %s") % frankfurt
        config.write_text(CONFIG.format(frankfurt_line=line))
        latest = 0 if handshake_age is None else int(time.time()) - handshake_age
        dump.write_text("KF\t(none)\t%s\t10.99.0.2/32\t%d\t0\t0\t25\n"
                        "KN\t(none)\t10.249.0.13:51820\t10.99.0.3/32\t0\t0\t0\t25\n"
                        "KT\t(none)\t[fd00::13]:51820\t10.99.0.4/32\t0\t0\t0\t25\n" % (frankfurt_live, latest))
        if calls.exists():
            calls.unlink()
        proc = subprocess.run([sys.executable, str(SCRIPT), interface, str(config)], env=env,
                              capture_output=True, text=True, check=False)
        sets = [line.split() for line in calls.read_text().splitlines() if line.startswith("set ")] \
            if calls.exists() else []
        return proc, sets
    return run


@pytest.mark.parametrize("handshake_age", [None, 181, 3600], ids=["never", "lapsed", "hour-old"])
@pytest.mark.parametrize("as_comment", [True, False], ids=["role-comment", "endpoint-line"])
def test_a_moved_name_of_a_peer_without_a_live_session_is_set(refresher, handshake_age, as_comment):
    proc, sets = refresher("10.249.0.12:51820", handshake_age, as_comment=as_comment)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(sets) == 1
    assert sets[0][:5] == ["set", "wg0", "peer", "KF", "endpoint"]
    assert sets[0][5] in localhost_endpoints(51820)
    assert "localhost moved: endpoint 10.249.0.12:51820 -> %s" % sets[0][5] in proc.stdout


def test_a_peer_with_a_live_session_is_left_where_it_is(refresher):
    """Its endpoint may be the peer's new address, learned from its packets before DNS has it."""
    proc, sets = refresher("10.249.0.12:51820", handshake_age=30)
    assert proc.returncode == 0 and sets == [] and proc.stdout == ""


def test_a_peer_already_at_one_of_the_names_addresses_is_not_set(refresher):
    current = sorted(localhost_endpoints(51820))[-1]
    proc, sets = refresher(current, handshake_age=None)
    assert proc.returncode == 0 and sets == [] and proc.stdout == ""


def test_a_peer_without_an_endpoint_gets_the_names(refresher):
    proc, sets = refresher("(none)", handshake_age=None)
    assert proc.returncode == 0 and len(sets) == 1 and "endpoint unset ->" in proc.stdout


def test_a_name_that_does_not_resolve_is_reported_and_left(refresher):
    proc, sets = refresher("10.249.0.12:51820", None, frankfurt="no-such-site.invalid:51820")
    assert proc.returncode == 1 and sets == []
    assert "cannot resolve no-such-site.invalid" in proc.stdout and "stays 10.249.0.12:51820" in proc.stdout


@pytest.mark.parametrize("as_comment", [True, False], ids=["role-comment", "endpoint-line"])
def test_address_endpoints_are_never_resolved_or_set(refresher, as_comment):
    proc, sets = refresher("10.249.0.12:51820", None, frankfurt="10.249.0.12:51820", as_comment=as_comment)
    assert proc.returncode == 0 and sets == [] and proc.stdout == ""


@pytest.mark.parametrize("line", ["# Endpoint = localhost:51820", "#wgmesh-endpoints = localhost:51820",
                                  "PersistentKeepalive = 25 # Endpoint = localhost:51820"])
def test_other_comments_are_not_endpoints(refresher, line):
    proc, sets = refresher("10.249.0.12:51820", None, line=line)
    assert proc.returncode == 0 and sets == [] and proc.stdout == ""


def test_an_interface_that_is_not_up_is_no_error(refresher):
    proc, sets = refresher("10.249.0.12:51820", None, interface="wg1")
    assert proc.returncode == 0 and sets == [] and "wg1 is not up" in proc.stdout


def test_wrong_arguments_print_the_usage():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "python3 wireguard-mesh-endpoints INTERFACE CONFIG" in proc.stderr


def test_a_peer_wg_cannot_set_is_reported_and_fails_the_run(refresher):
    proc, sets = refresher("10.249.0.12:51820", None, set_fails=True)
    assert proc.returncode == 1 and len(sets) == 1 and "wg could not set its endpoint" in proc.stdout
