"""Benchmark of the role on the lab: first converge, idempotent re-run, verify and rotation, 3 to 50 sites.

    make bench-role      (or: .venv/bin/python benchmarks/bench_role.py [--sites 3 10 25 50] [--no-rotation])

Starts N lab sites (lab/lab.sh, no LAN hosts), runs `ansible-playbook wgmesh.wireguard.site`
over SSH with pipelining and forks 10, and prints the wall time of the first converge and
of two re-runs, the task rounds that contacted the sites, the tasks per host, the controller's
peak memory (PSS of ansible-playbook and its workers) and the lab's, and `verify`; then the time
of `rotate` for one site, of `rotate` for every site (one after the other, up to 10 sites) and of
`rotate_psk` for every pair. Results go to benchmarks/results/role.md and .json. The lab is removed at the end.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def tree_pss_kib(root):
    """Proportional set size (KiB) of a process and all its descendants: the forked workers share
    most pages with their parent, so their RSS would count the same memory many times."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open("/proc/%d/smaps_rollup" % pid) as handle:
                total += sum(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
        except (OSError, ValueError):
            continue
    return total


def run(cmd, log=None, env=None, memory=None):
    """Run ``cmd``; with ``memory`` (a dict), its peak PSS in MiB over the process tree goes to memory["peak_mib"]."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss_kib(proc.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory is not None:
        sampler.start()
    stdout, stderr = proc.communicate()
    elapsed = time.monotonic() - started
    if memory is not None:
        sampler.join()
        memory["peak_mib"] = round(peak[0] / 1024.0, 1)
    if log:
        log.write_text(stdout + stderr)
    if proc.returncode != 0:
        sys.exit("failed (%s): %s\n%s" % (proc.returncode, " ".join(cmd), (stdout + stderr)[-3000:]))
    return stdout, elapsed


def lab_memory_mib():
    """Memory of the lab's containers (podman stats), in MiB."""
    out = subprocess.run(["podman", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout
    total = 0.0
    units = {"B": 1 / 1048576.0, "kB": 1 / 1024.0, "KiB": 1 / 1024.0, "MB": 1.0, "MiB": 1.0, "GB": 1024.0,
             "GiB": 1024.0}
    for line in out.splitlines():
        used = line.split()[1] if len(line.split()) > 1 else ""
        number = used.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        unit = used[len(number):]
        if number and unit in units:
            total += float(number) * units[unit]
    return round(total, 1)


# Actions that run on the controller only: they cost no round trip to the sites.
CONTROLLER_ACTIONS = {"assert", "set_fact", "include_vars", "validate_argument_spec", "debug", "meta", "fail",
                      "ansible.builtin.assert", "ansible.builtin.set_fact", "ansible.builtin.include_vars",
                      "ansible.builtin.validate_argument_spec", "ansible.builtin.debug", "ansible.builtin.meta",
                      "ansible.builtin.fail", "wgmesh.wireguard.mesh_plan"}


def parse(text):
    """(recap per host, names of the tasks that ran a module on some site) from the json callback."""
    report = json.loads(text[text.index("{"):])
    # localhost runs site.yml's check that the mesh group has sites (skipped when it has).
    hosts = {name: {"ok": s["ok"], "changed": s["changed"], "skipped": s["skipped"]}
             for name, s in report["stats"].items() if name != "localhost"}
    remote = []
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                if result.get("action") not in CONTROLLER_ACTIONS and not result.get("skipped") \
                        and not result.get("_ansible_delegated_vars", {}).get("ansible_host") == "localhost":
                    remote.append(task["task"]["name"])
                    break
    return hosts, remote


def task_results(text, name):
    """The per-host results of the task whose name contains ``name``, or None."""
    report = json.loads(text[text.index("{"):])
    for play in report["plays"]:
        for task in play["tasks"]:
            if name in task["task"]["name"]:
                return list(task["hosts"].values())
    return None


ROTATE_ALL_UP_TO = 10  # rotating every site one after the other takes about 20 s per site


def rotation(inventory, sites, env, state):
    """Wall times of the rotation playbooks on a converged mesh (every site rotated only up to
    ROTATE_ALL_UP_TO sites)."""
    first = "wgmesh-dublin"
    out = {}
    runs = [("rotate_one_s", "rotate", ["-e", json.dumps({"wireguard_mesh_rotate_sites": [first]})])]
    if sites <= ROTATE_ALL_UP_TO:
        runs.append(("rotate_all_s", "rotate", []))
    runs.append(("rotate_psk_s", "rotate_psk", []))
    for key, name, extra in runs:
        out[key] = run(["ansible-playbook", "wgmesh.wireguard." + name, "-i", str(inventory)] + extra,
                       state / ("bench-%d-%s.json" % (sites, key)), env)[1]
    return out


def bench(sites, env, with_rotation):
    state = ROOT / "lab" / "state"
    inventory = state / ("bench-%d.yml" % sites)
    run(["bash", "lab/lab.sh", "down"])
    run(["bash", "lab/lab.sh", "up", str(sites), "--no-lan-hosts"])
    run(["bash", "lab/lab.sh", "inventory", str(sites), str(inventory)])
    playbook = ["ansible-playbook", "wgmesh.wireguard.site", "-i", str(inventory)]
    out = {"sites": sites, "load_before": os.getloadavg()[0], "lab_mib": lab_memory_mib()}
    first_memory, rerun_memory = {}, {}
    text, out["first_converge_s"] = run(playbook, state / ("bench-%d-first.json" % sites), env, first_memory)
    out["first_recap"] = parse(text)[0]
    reruns = []
    for attempt in (1, 2):
        text, elapsed = run(playbook, state / ("bench-%d-rerun%d.json" % (sites, attempt)), env, rerun_memory)
        reruns.append(elapsed)
    out["rerun_s"] = reruns
    out["controller_peak_mib"] = max(first_memory["peak_mib"], rerun_memory["peak_mib"])
    verify_text, out["verify_s"] = run(["ansible-playbook", "wgmesh.wireguard.verify", "-i", str(inventory)],
                                       state / ("bench-%d-verify.json" % sites), env)
    out["verify_remote_rounds"] = parse(verify_text)[1]
    out["rerun_recap"], out["rerun_remote_rounds"] = parse(text)
    out["rerun_changed"] = sum(h["changed"] for h in out["rerun_recap"].values())
    # Nothing installed: no site's plan has the install step, and no install task ran.
    plans = task_results(text, "Plan this site")
    installs = (task_results(text, "Install the packages with apt") or []) + \
        (task_results(text, "Install the packages with dnf") or [])
    out["rerun_installed_nothing"] = plans is not None and \
        all("install" not in (r.get("steps") or []) for r in plans) and all(r.get("skipped") for r in installs)
    setup = task_results(text, "Gather the distribution facts")
    out["rerun_fact_subsets"] = sorted({subset for r in setup or [] for subset in
                                        (r.get("invocation", {}).get("module_args", {}).get("gather_subset") or [])})
    # The first site also carries the run_once tasks of the play; the others are all alike.
    counts = [h["ok"] + h["changed"] + h["skipped"] for h in out["rerun_recap"].values()]
    out["tasks_per_site"] = sorted(set(counts))
    if with_rotation:
        out.update(rotation(inventory, sites, env, state))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, nargs="+", default=[3, 10, 25, 50])
    parser.add_argument("--no-rotation", dest="rotation", action="store_false", help="skip the rotation timings")
    args = parser.parse_args()
    # ansible-playbook of the Python running this (the project's venv), also when run outside make.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    env = dict(os.environ, PATH=path, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               CONTAINERS_CONF=str(ROOT / "lab" / "containers.conf"), ANSIBLE_FORKS="10", ANSIBLE_PIPELINING="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    results = []
    try:
        for sites in args.sites:
            print("benchmarking %d sites ..." % sites, flush=True)
            results.append(bench(sites, env, args.rotation))
            # Written after each size: a failure at 50 sites keeps the figures of the others.
            write_results(results)
    finally:
        run(["bash", "lab/lab.sh", "down"])


def write_results(results):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "role.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| sites | first converge | re-run (two runs) | changed on re-run | re-run installed nothing "
        "| task rounds on sites (re-run) | tasks per host (re-run) | controller peak memory (PSS) "
        "| `verify` (rounds) | lab memory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append("| %d | %.1f s | %s | %d | %s | %d | %s | %.0f MiB | %.1f s (%d) | %.0f MiB |" % (
            r["sites"], r["first_converge_s"], " / ".join("%.1f s" % s for s in r["rerun_s"]),
            r["rerun_changed"], "yes" if r["rerun_installed_nothing"] else "NO",
            len(r["rerun_remote_rounds"]), ", ".join(map(str, r["tasks_per_site"])), r["controller_peak_mib"],
            r["verify_s"], len(r["verify_remote_rounds"]), r["lab_mib"]))
    if all("rotate_one_s" in r for r in results):
        lines += ["", "| sites | `rotate`, one site | `rotate`, every site | per site | `rotate_psk`, every pair |",
                  "|---|---|---|---|---|"]
        lines += ["| %d | %.1f s | %s | %s | %.1f s (%d pairs) |" % (
            r["sites"], r["rotate_one_s"], "%.1f s" % r["rotate_all_s"] if "rotate_all_s" in r else "not run",
            "%.1f s" % (r["rotate_all_s"] / r["sites"]) if "rotate_all_s" in r else "-", r["rotate_psk_s"],
            r["sites"] * (r["sites"] - 1) // 2) for r in results]
        lines += ["", "`rotate` switches one site at a time (each site's switch waits for every other site's word "
                  "through the tunnel); `rotate_psk` sets every pair at once and then waits for a handshake with the "
                  "new PSK on every pair, which WireGuard starts at its next rekey (120 s after a session began, 145 s "
                  "with keepalives only, later on loaded hosts; the wait gives up after 300 s)."]
    table = "\n".join(lines)
    rounds = "\n".join("- %s" % name for name in results[-1]["rerun_remote_rounds"])
    (RESULTS / "role.md").write_text(
        "# Role benchmark (lab, SSH + pipelining, forks 10)\n\nMeasured %s on this machine (%d cores); "
        "load average before each size: %s.\n\n%s\n\n"
        "Task rounds that contacted the sites in the %d-site re-run (facts gathered: %s):\n\n%s\n"
        % (time.strftime("%Y-%m-%d"), os.cpu_count(),
           ", ".join("%.2f (%d sites)" % (r["load_before"], r["sites"]) for r in results), table, results[-1]["sites"],
           ", ".join(results[-1]["rerun_fact_subsets"]) or "none", rounds))
    print(table, flush=True)


if __name__ == "__main__":
    main()
