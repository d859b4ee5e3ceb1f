# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Monitoring: the shipped Prometheus rules (promtool test rules on synthetic series) and the
textfile writer the role installs (run against a stand-in `wg` that logs its arguments)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pathlib
import re
import shutil
import stat
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
RULES = ROOT / "files" / "prometheus" / "wireguard_mesh.rules.yml"
RULE_TESTS = sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))
WRITER = ROOT / "roles" / "wireguard_mesh" / "files" / "wireguard-mesh-textfile.sh"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool not found (Debian: apt-get install --no-install-recommends prometheus)"

FAKE_WG = r"""#!/bin/sh
echo "$*" >> "$WG_CALLS"
[ "$1" = show ] && [ "$2" = wg0 ] || exit 1
case $3 in
  public-key) echo DEVICEKEY;;
  latest-handshakes) printf 'KF\t1700000000\nKN\t0\nKX\t1700000100\n';;
  transfer) printf 'KF\t100\t200\nKN\t0\t0\nKX\t123456789012345678\t5\n';;
  allowed-ips) printf 'KF\t10.99.0.2/32 10.20.0.0/24\nKN\t(none)\nKX\t10.99.0.9/32\n';;
  endpoints) printf 'KF\t198.51.100.2:51820\nKN\t(none)\nKX\t[2001:db8::1]:51820\n';;
  *) echo SECRET-MATERIAL; exit 0;;
esac
"""


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_rules_are_valid():
    proc = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 4 rules found" in proc.stdout


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_tests(test_file):
    proc = subprocess.run([PROMTOOL, "test", "rules", test_file.name], cwd=test_file.parent,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_rule_tests_exist():
    assert RULE_TESTS


@pytest.fixture
def writer(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "wg").write_text(FAKE_WG)
    (bindir / "wg").chmod(0o755)
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    calls = tmp_path / "calls"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), WG_CALLS=str(calls))

    def run(interface="wg0", names="KF frankfurt\nKN newyork\n"):
        names_file = tmp_path / "wg0.peers.names"
        names_file.write_text("# comment\n" + names)
        proc = subprocess.run(["sh", str(WRITER), interface, str(names_file), str(textfile_dir)],
                              env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        out = textfile_dir / ("wireguard_mesh_%s.prom" % interface)
        return out, out.read_text(), calls.read_text().splitlines() if calls.exists() else []
    run.dir = textfile_dir
    return run


def test_writer_uses_the_exporters_names_and_labels_and_site_names(writer):
    out, text, _calls = writer()
    assert 'wireguard_peer_last_handshake_seconds{device="wg0",public_key="KF",name="frankfurt"} 1700000000' in text
    assert 'wireguard_peer_last_handshake_seconds{device="wg0",public_key="KN",name="newyork"} 0' in text
    assert 'wireguard_peer_last_handshake_seconds{device="wg0",public_key="KX",name=""} 1700000100' in text
    assert 'wireguard_peer_receive_bytes_total{device="wg0",public_key="KX",name=""} 123456789012345678' in text
    assert 'wireguard_peer_transmit_bytes_total{device="wg0",public_key="KF",name="frankfurt"} 200' in text
    assert 'wireguard_peer_allowed_ips_count{device="wg0",public_key="KF",name="frankfurt"} 2' in text
    assert 'wireguard_peer_allowed_ips_count{device="wg0",public_key="KN",name="newyork"} 0' in text
    assert ('wireguard_peer_info{device="wg0",public_key="KF",name="frankfurt",'
            'allowed_ips="10.99.0.2/32,10.20.0.0/24",endpoint="198.51.100.2:51820"} 1') in text
    assert 'wireguard_device_info{device="wg0",public_key="DEVICEKEY"} 1' in text
    assert 'wireguard_mesh_peers_expected{device="wg0"} 2' in text
    assert 'wireguard_mesh_peers{device="wg0"} 3' in text
    assert 'wireguard_mesh_interface_up{device="wg0"} 1' in text
    assert "# TYPE wireguard_peer_receive_bytes_total counter" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_writer_never_asks_wg_for_a_secret(writer):
    _out, text, calls = writer()
    assert "SECRET" not in text
    assert sorted(set(call.split()[2] for call in calls)) == [
        "allowed-ips", "endpoints", "latest-handshakes", "public-key", "transfer"]


def test_writer_replaces_the_file_atomically_and_leaves_no_temporary(writer):
    writer()
    out, _text, _calls = writer()
    assert sorted(p.name for p in writer.dir.iterdir()) == [out.name]
    with open(WRITER) as f:
        script = f.read()
    assert 'mv -f "$tmp" "$out"' in script
    assert 'tmp="$dir/.wireguard_mesh_$iface.prom.$$"' in script  # same directory, not *.prom


def test_writer_reports_a_down_interface(writer):
    _out, text, _calls = writer(interface="wg9")
    assert 'wireguard_mesh_interface_up{device="wg9"} 0' in text
    assert 'wireguard_mesh_peers{device="wg9"} 0' in text
    assert 'wireguard_mesh_peers_expected{device="wg9"} 2' in text
    assert "wireguard_peer_" not in text


def test_writer_without_names_file(writer, tmp_path):
    _out, text, _calls = writer(names="")
    assert 'wireguard_mesh_peers_expected{device="wg0"} 0' in text


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_writer_output_parses(writer):
    _out, text, _calls = writer()
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    # The only lint is the exporter's own metric name wireguard_peer_allowed_ips_count.
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert all("wireguard_peer_allowed_ips_count" in line and '"_count" suffix' in line for line in problems), problems


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The role's monitoring units and names file as the node plan renders them for Dublin
    (textfile mode, then exporter mode), written out under their template names."""
    from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan import planfixtures as fx
    out = tmp_path_factory.mktemp("rendered")
    for mode in ("textfile", "exporter"):
        opts = fx.options(wireguard_mesh_monitoring=mode, wireguard_mesh_monitoring_interval=15,
                          wireguard_mesh_monitoring_exporter_package="wireguard-exporter",
                          wireguard_mesh_monitoring_exporter_binary="/usr/local/bin/wireguard_exporter",
                          wireguard_mesh_monitoring_exporter_address=":9586")
        node = fx.node_of("dublin", fx.mesh(), fx.fresh_probe("dublin"), opts)
        for item in node["writes"]:
            name = os.path.basename(item["path"]).replace("-wg0.", ".").replace("wg0.peers.names", "peers.names")
            (out / name).write_text(item["content"])
    return out, fx.PUBLIC


def test_exporter_unit_runs_wireguard_exporter_with_site_names(rendered):
    rendered, public = rendered
    unit = (rendered / "wireguard-exporter.service").read_text()
    assert ('ExecStart=/usr/local/bin/wireguard_exporter -metrics.addr ":9586" -wireguard.peer-names '
            '"%s:frankfurt,%s:newyork"' % (public["frankfurt"], public["newyork"])) in unit
    assert "After=network-online.target wg-quick@wg0.service" in unit
    assert "WantedBy=multi-user.target" in unit


def test_textfile_units_and_names_file(rendered):
    rendered, public = rendered
    service = (rendered / "wireguard-mesh-textfile.service").read_text()
    assert ("ExecStart=/usr/local/sbin/wireguard-mesh-textfile wg0 /etc/wireguard/wg0.peers.names "
            "/var/lib/prometheus/node-exporter") in service
    assert "Type=oneshot" in service and "ReadWritePaths=/var/lib/prometheus/node-exporter" in service
    timer = (rendered / "wireguard-mesh-textfile.timer").read_text()
    assert "OnUnitActiveSec=15s" in timer and "WantedBy=timers.target" in timer
    names = [line for line in (rendered / "peers.names").read_text().splitlines() if not line.startswith("#")]
    assert names == ["%s frankfurt" % public["frankfurt"], "%s newyork" % public["newyork"]]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_units_pass_systemd_analyze(rendered, tmp_path):
    rendered, _public = rendered
    # The binaries the units name need not exist here: only the syntax is checked.
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                          [str(rendered / unit) for unit in ("wireguard-exporter.service", "wireguard-mesh-textfile.service",
                                                             "wireguard-mesh-textfile.timer")],
                          capture_output=True, text=True, check=False)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "is not executable" not in line and "No such file" not in line
                and "Failed to prepare filename" not in line and "Command" not in line]
    assert problems == [], proc.stdout + proc.stderr


DASHBOARD = ROOT / "files" / "grafana" / "wireguard_mesh.json"


def test_grafana_dashboard_reads_only_metrics_the_sites_export(writer):
    """Every series the dashboard queries is one the textfile writer writes (and
    wireguard_exporter shares its wireguard_peer_* names), so no panel stays empty."""
    _out, text, _calls = writer()
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = set(name for expr in exprs for name in re.findall(r"\bwireguard_[a-z_]+\b", expr))
    assert exprs and queried and queried <= exported, queried - exported
    assert len(set(panel["id"] for panel in dashboard["panels"])) == len(dashboard["panels"])
    # Sites and interfaces come from the data source: nothing of the lab is written in.
    assert all('instance=~"$instance"' in expr for expr in exprs)
    assert not re.search(r"wgmesh-(dublin|frankfurt|newyork)|10\.249\.", DASHBOARD.read_text())
