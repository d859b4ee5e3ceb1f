"""A mesh built by hand the guide's way, taken over by `site` while the LAN hosts ping each other
at 100 packets/s: keys and PSKs kept, no packet lost, no restart, the guide's iptables rules
gone, no secret in the output, then a re-run that changes nothing.

The guide's steps, on every lab site: `wg genkey | tee private.key | wg pubkey > public.key`,
`wg genpsk` per pair, a wg0.conf with the keys inline and PostUp iptables rules, and
`systemctl enable --now wg-quick@wg0`."""

import hashlib
import subprocess

import pytest

from labtools import ENV, run_playbook
from test_rotation import LAN_HOST, SITES, TUNNEL, WAN, lan_ping, recap_changed, start_pingers, stop_pingers, wait_for

# The guide's [Interface] without its `PostUp = sysctl -w net.ipv4.ip_forward=1`: a lab container's
# /proc/sys is read-only (podman turns forwarding on when it starts the container), so there that
# line fails and wg-quick takes the interface down again.
GUIDE_CONF = """[Interface]
Address = {address}/24
ListenPort = 51820
PrivateKey = {private}
PostUp = iptables -A FORWARD -i wg0 -j ACCEPT
PostUp = iptables -A FORWARD -o wg0 -j ACCEPT
PostDown = iptables -D FORWARD -i wg0 -j ACCEPT
PostDown = iptables -D FORWARD -o wg0 -j ACCEPT
"""
GUIDE_PEER = """# Peer: {name}
[Peer]
PublicKey = {public}
PresharedKey = {psk}
Endpoint = {endpoint}:51820
AllowedIPs = {address}/32, {lan}
PersistentKeepalive = 25
"""


def sh(site, command, stdin=""):
    proc = subprocess.run(["podman", "exec", "-i", site, "sh", "-c", command], input=stdin, env=ENV,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (site, command, proc.stderr[-2000:])
    return proc.stdout


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def live_state(site):
    """What must survive the takeover, as digests: the key pair in use and the PSK per peer."""
    return {"public": sh(site, "wg show wg0 public-key").strip(),
            "psks": digest(sh(site, "wg show wg0 preshared-keys | sort"))}


def forward_rules(site):
    return [line for line in sh(site, "iptables -S FORWARD").splitlines() if "wg0" in line]


def guide_mesh():
    """Take the role's state off the sites, then build the guide's mesh by hand."""
    for site in SITES:
        sh(site, "systemctl disable --now wg-quick@wg0; nft delete table inet wgmesh 2>/dev/null; "
                 "rm -rf /etc/wireguard /etc/systemd/system/nftables.service.d/wgmesh-wg0.conf; "
                 "systemctl daemon-reload; command -v iptables >/dev/null || DEBIAN_FRONTEND=noninteractive "
                 "apt-get install -y -qq --no-install-recommends iptables >/dev/null")
        sh(site, "mkdir -m 700 -p /etc/wireguard && cd /etc/wireguard && umask 077 && "
                 "wg genkey | tee private.key | wg pubkey > public.key")
    public = dict((site, sh(site, "cat /etc/wireguard/public.key").strip()) for site in SITES)
    psks = {}
    for i, a in enumerate(SITES):
        for b in SITES[i + 1:]:
            psks[(a, b)] = psks[(b, a)] = sh(SITES[0], "wg genpsk").strip()
    for site in SITES:
        conf = GUIDE_CONF.format(address=TUNNEL[site], private=sh(site, "cat /etc/wireguard/private.key").strip())
        for other in SITES:
            if other != site:
                conf += GUIDE_PEER.format(name=other, public=public[other], psk=psks[(site, other)],
                                          endpoint=WAN[other], address=TUNNEL[other],
                                          lan=LAN_HOST[other][:-2] + "0/24")
        sh(site, "umask 077 && cat > /etc/wireguard/wg0.conf", stdin=conf)
        sh(site, "systemctl enable --now wg-quick@wg0")
    secrets = set(psks.values()) | set(sh(site, "cat /etc/wireguard/private.key").strip() for site in SITES)
    return secrets


@pytest.fixture(scope="module")
def guide():
    secrets = guide_mesh()
    wait_for(lambda: all(lan_ping(a, b) for a in SITES for b in SITES if a != b), 60,
             "the hand-built mesh carries LAN to LAN traffic")
    yield secrets
    for site in SITES:
        sh(site, "rm -f /etc/wireguard/private.key /etc/wireguard/public.key; "
                 "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq iptables >/dev/null 2>&1 || true")


def test_site_takes_over_the_guides_mesh_losing_nothing(guide, tmp_path):
    before = dict((site, live_state(site)) for site in SITES)
    started = dict((site, sh(site, "systemctl show -p ActiveEnterTimestampMonotonic --value wg-quick@wg0"))
                   for site in SITES)
    assert all(len(forward_rules(site)) == 2 for site in SITES)
    procs = start_pingers(tmp_path)
    try:
        proc = run_playbook("site", "--diff")
    finally:
        pings = stop_pingers(procs)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert not [secret for secret in guide if secret in out], "a key or PSK of the hand-built mesh was printed"
    for ping in pings:
        print("takeover, %s: %d sent, %d lost, max RTT %s ms" % (ping["pair"], ping["sent"], len(ping["lost"]),
                                                                 ping["max"]))
        assert ping["lost"] == [] and ping["answered"] > 100, ping
    for site in SITES:
        assert live_state(site) == before[site], site  # the same key pair and PSKs, live
        assert sh(site, "wg pubkey < /etc/wireguard/wg0.key").strip() == before[site]["public"], site
        assert digest(sh(site, "wg show wg0 preshared-keys | sort")) == before[site]["psks"]
        psk_files = sorted(sh(site, "cat /etc/wireguard/psk/*.psk").split())
        assert psk_files == sorted(line.split()[1] for line in sh(site, "wg show wg0 preshared-keys").splitlines())
        assert sh(site, "systemctl show -p ActiveEnterTimestampMonotonic --value wg-quick@wg0") == started[site]
        config = sh(site, "cat /etc/wireguard/wg0.conf")
        assert config.startswith("# Ansible managed") and "PrivateKey" not in config and "PresharedKey" not in config
        assert forward_rules(site) == [], site  # the guide's PostUp rules, replaced by the role's firewall
        assert sh(site, "ip -o link show wg0").split("mtu ")[1].split()[0] == "1340", site
    again = run_playbook("site")
    assert again.returncode == 0 and not any(recap_changed(again.stdout).values()), again.stdout[-3000:]
