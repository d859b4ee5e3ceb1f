"""Benchmark of the role on the lab: first converge and idempotent re-run, 3 and 10 sites.

    make bench-role      (or: .venv/bin/python benchmarks/bench_role.py [--sites 3 10])

Starts N lab sites (lab/lab.sh, no LAN hosts), runs `ansible-playbook wgmesh.wireguard.site`
over SSH with pipelining and forks 10, and prints the wall time of the first converge and
of two re-runs, the task rounds that contacted the sites, and the tasks per host. Results go
to benchmarks/results/role.md and .json. The lab is removed at the end.
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def run(cmd, log=None, env=None):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    if log:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit("failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd), (proc.stdout + proc.stderr)[-3000:]))
    return proc.stdout, elapsed


def recap(text):
    hosts = {}
    for line in text.splitlines():
        match = RECAP.match(line)
        if match:
            ok, changed, _unreachable, _failed, skipped = map(int, match.groups()[1:])
            hosts[match.group(1)] = {"ok": ok, "changed": changed, "skipped": skipped}
    return hosts


def remote_rounds(text):
    """Task headers after which some site (not localhost) reported ok or changed."""
    rounds, current, counted = [], None, False
    for line in text.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            current, counted = line.split("[", 1)[1].rsplit("]", 1)[0], False
        elif current and not counted and re.match(r"^(ok|changed): \[wgmesh-[^\]]+\]", line) and "-> localhost" not in line:
            rounds.append(current)
            counted = True
    return rounds


def task_block(text, name):
    """The output lines of the task whose name contains ``name``, or None."""
    parts = re.split(r"^(?=TASK \[|RUNNING HANDLER \[|PLAY RECAP)", text, flags=re.M)
    for part in parts:
        if part.startswith("TASK [") and name in part.split("\n", 1)[0]:
            return part.split("\n", 1)[1] if "\n" in part else ""
    return None


def bench(sites, env):
    state = ROOT / "lab" / "state"
    inventory = state / ("bench-%d.yml" % sites)
    run(["bash", "lab/lab.sh", "down"])
    run(["bash", "lab/lab.sh", "up", str(sites), "--no-lan-hosts"])
    run(["bash", "lab/lab.sh", "inventory", str(sites), str(inventory)])
    playbook = ["ansible-playbook", "wgmesh.wireguard.site", "-i", str(inventory)]
    out = {"sites": sites}
    text, out["first_converge_s"] = run(playbook, state / ("bench-%d-first.log" % sites), env)
    out["first_recap"] = recap(text)
    reruns = []
    for attempt in (1, 2):
        text, elapsed = run(playbook, state / ("bench-%d-rerun%d.log" % (sites, attempt)), env)
        reruns.append(elapsed)
    out["rerun_s"] = reruns
    out["rerun_recap"] = recap(text)
    out["rerun_changed"] = sum(h["changed"] for h in out["rerun_recap"].values())
    out["rerun_remote_rounds"] = remote_rounds(text)
    install = task_block(text, "Install the WireGuard packages this node lacks (apt)")
    out["rerun_installed_nothing"] = install is not None and not re.search(r"^(ok|changed):", install, re.M)
    # The first site also carries the run_once tasks of the play; the others are all alike.
    counts = [h["ok"] + h["changed"] + h["skipped"] for h in out["rerun_recap"].values()]
    out["tasks_per_site"] = sorted(set(counts))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, nargs="+", default=[3, 10])
    args = parser.parse_args()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORKS="10", ANSIBLE_PIPELINING="1")
    results = []
    try:
        for sites in args.sites:
            print("benchmarking %d sites ..." % sites, flush=True)
            results.append(bench(sites, env))
    finally:
        run(["bash", "lab/lab.sh", "down"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "role.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| sites | first converge | re-run (two runs) | changed on re-run | re-run installed nothing "
        "| task rounds on sites (re-run) | tasks per host (re-run) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append("| %d | %.1f s | %s | %d | %s | %d | %s |" % (
            r["sites"], r["first_converge_s"], " / ".join("%.1f s" % s for s in r["rerun_s"]),
            r["rerun_changed"], "yes" if r["rerun_installed_nothing"] else "NO",
            len(r["rerun_remote_rounds"]), ", ".join(map(str, r["tasks_per_site"]))))
    table = "\n".join(lines)
    rounds = "\n".join("- %s" % name for name in results[-1]["rerun_remote_rounds"])
    (RESULTS / "role.md").write_text(
        "# Role benchmark (lab, SSH + pipelining, forks 10)\n\nMeasured %s on this machine (%d cores).\n\n%s\n\n"
        "Task rounds that contacted the sites in the %d-site re-run:\n\n%s\n"
        % (time.strftime("%Y-%m-%d"), os.cpu_count(), table, results[-1]["sites"], rounds))
    print(table)
    print("re-run rounds:\n" + rounds)


if __name__ == "__main__":
    main()
