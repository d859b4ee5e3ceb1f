"""What the lab tests share: the repository, an environment for podman and ansible-playbook,
and ways to run both against the lab."""

import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or pathlib.Path(__file__).resolve().parents[3])
# Another lab than the default one: WGMESH_LAB_INVENTORY (relative to the repository or absolute).
INVENTORY = str((ROOT / os.environ.get("WGMESH_LAB_INVENTORY", "inventories/lab")).resolve())
ENV = dict(os.environ, CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(ROOT / "lab" / "containers.conf")),
           ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH="%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", "")))
# Plain output for the recap checks (molecule forces colour), and the converge log (checked
# for secrets) kept to the converge.
ENV.pop("ANSIBLE_FORCE_COLOR", None)
ENV.pop("ANSIBLE_LOG_PATH", None)
ENV["ANSIBLE_NOCOLOR"] = "1"


def podman(*args):
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, check=False)


def run_playbook(name, *args):
    """ansible-playbook wgmesh.wireguard.NAME on the lab inventory (more -i may follow)."""
    return subprocess.run(["ansible-playbook", "wgmesh.wireguard.%s" % name, "-i", INVENTORY, *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)


def site_playbook(*args):
    """The site playbook, which must succeed; its output."""
    proc = run_playbook("site", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def ping_losses(output):
    """Loss and RTTs from the output of a `ping` (without -q) that was stopped with SIGINT.

    ping counts a request whose reply was still on its way when it stopped as lost; at 100
    packets/s that is a few percent of runs. A request is lost here only when a later one was
    answered: the answered sequence numbers have a gap. The requests after the last answer are
    reported as in flight (the caller stops ping after the traffic it measures). With ping -D,
    sent_at lists each answered request's send time (epoch) and RTT."""
    answered = set()
    rtts = []
    sent_at = []  # (moment the request left, RTT) where ping ran with -D
    sent_by_seq = {}
    wraps = 0  # icmp_seq is 16 bits: after 65535 comes 0
    last = 0
    for match in re.finditer(r"icmp_seq=(\d+) .*time=([\d.]+) ms", output):
        seq = int(match.group(1)) + wraps
        if seq < last - 32768:
            wraps += 65536
            seq += 65536
        answered.add(seq)
        last = max(last, seq)
        rtts.append(float(match.group(2)))
        stamp = re.match(r"\[(\d+\.\d+)\]", output[output.rfind("\n", 0, match.start()) + 1:match.start()])
        if stamp:
            sent_at.append((float(stamp.group(1)) - rtts[-1] / 1000, rtts[-1]))
            sent_by_seq[seq] = sent_at[-1][0]
    sent = int(re.search(r"(\d+) packets transmitted", output).group(1))
    return dict(sent=sent, answered=len(answered), lost=sorted(set(range(1, last + 1)) - answered),
                in_flight=sent - last, avg=round(sum(rtts) / len(rtts), 3) if rtts else None,
                max=max(rtts) if rtts else None, sent_at=sent_at, sent_by_seq=sent_by_seq)


def spoofed_ping(image, wan_network, stranger, site_wan, tunnel_address):
    """A container on the WAN that is no site routes the tunnel address via the site's WAN
    address and pings it (what the anti-spoofing rule must drop); also pings the WAN address.
    Returns (tunnel address answered, WAN address answered)."""
    script = ("ip route add %s/32 via %s && ping -c 2 -W 1 -q %s; echo tunnel=$?; ping -c 1 -W 2 -q %s; echo wan=$?"
              % (tunnel_address, site_wan, tunnel_address, site_wan))
    proc = podman("run", "--rm", "--network", "%s:ip=%s" % (wan_network, stranger), "--cap-add", "NET_ADMIN",
                  image, "bash", "-c", script)
    assert "tunnel=" in proc.stdout and "wan=" in proc.stdout, proc.stdout + proc.stderr
    return "tunnel=0" in proc.stdout, "wan=0" in proc.stdout
