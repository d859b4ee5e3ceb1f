#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wgmesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wg_probe
short_description: Read everything a WireGuard mesh site needs decided, in one read-only call
version_added: 0.2.0
description:
  - Reports in one call what the node has. This covers the distribution, kernel WireGuard support,
    installed tools, the C(wg-quick@) service, the active firewall manager and SELinux. It also reports the
    checksum, mode and owner of given files, the role's systemd units, live sysctl values and the running
    interface.
  - Also reports the public key of the interface's private key file, the fingerprints of the PSK files of
    given peers, and the peers of the C(wg-quick) config the role wrote. A re-run of the role then needs no
    separate key and PSK rounds.
  - Never changes anything. The private key and the PSKs are read in memory only, to derive the public key
    and the fingerprints, and are never returned or logged.
  - A missing tool gives V(false) or V(null), never a failure. The module fails only on a bad option value.
author:
  - wgmesh maintainers (@wgmesh)
options:
  interface:
    description:
      - Name of the WireGuard interface (1 to 15 of V(A-Z a-z 0-9 _ = + . -)). It names the key file
        C(<config_dir>/<interface>.key), the config C(<config_dir>/<interface>.conf) and the service
        C(wg-quick@<interface>.service).
    type: str
    default: wg0
  config_dir:
    description:
      - Directory of the key, the config and the C(psk/) directory. An absolute path.
    type: path
    default: /etc/wireguard
  peers:
    description:
      - Peer site names. The PSK file C(<config_dir>/psk/<name>.psk) of each is reported in RV(psks).
      - Letters, digits, V(_), V(.) and V(-) only.
    type: list
    elements: str
    default: []
  files:
    description:
      - Files whose checksum, mode and owner are reported in RV(files). A relative path is inside
        O(config_dir), e.g. V(wg0.conf).
    type: list
    elements: path
    default: []
  units:
    description:
      - "systemd unit names. Each one is listed in RV(units) when C(/etc/systemd/system/<unit>) exists and
        has the role's marker line C(# wgmesh.wireguard: written by the role)."
    type: list
    elements: str
    default: []
  services:
    description:
      - systemd unit names whose C(systemctl is-enabled) and C(is-active) are reported in RV(services).
    type: list
    elements: str
    default: []
  sysctls:
    description:
      - Sysctl keys, dotted as for C(sysctl), e.g. V(net.ipv4.ip_forward). A V(/) inside a component stands
        for a dot in the name, e.g. V(net.ipv4.conf.eth0/10.rp_filter). Their live values are read from
        C(/proc/sys).
    type: list
    elements: str
    default: []
  scope:
    description:
      - V(full) reports everything.
      - V(keys) reports only RV(now), RV(key), RV(psks) and RV(config_peers). It runs no command, which is
        cheap enough for the sites outside a C(--limit) run.
    type: str
    choices: [full, keys]
    default: full
extends_documentation_fragment:
  - wgmesh.wireguard.attributes.read_only
notes:
  - "Run it as root (C(become: true)): the key, PSK files and C(/etc/wireguard) are readable by root only."
  - Commands are run as argument lists, never through a shell. Kernel support is tested as the role's
    former shell probe did. If C(/sys/module/wireguard) is missing, the module adds a link C(wgmesh-probe)
    of type C(wireguard) and deletes it at once.
  - RV(files) uses the format of C(sha1sum) and C(stat -c '%a %U %G'), so the controller can compare
    the checksum of a rendered template with it.
seealso:
  - module: wgmesh.wireguard.wg_info
  - module: wgmesh.wireguard.wg_keypair
  - module: wgmesh.wireguard.wg_psk
"""

EXAMPLES = r"""
- name: Probe the site
  wgmesh.wireguard.wg_probe:
    interface: wg0
    peers: [frankfurt, newyork]
    files:
      - /etc/wireguard/wg0.conf
      - /etc/sysctl.d/99-wireguard.conf
    units: [wireguard-exporter.service]
    sysctls: [net.ipv4.ip_forward, net.ipv4.conf.all.rp_filter]
  register: probe

- name: Install wireguard-go where the kernel has no WireGuard
  ansible.builtin.package:
    name: wireguard-go
  when: not probe.kernel and not probe.tools.wireguard_go

- name: Public key and PSK fingerprints of a site outside this run
  wgmesh.wireguard.wg_probe:
    interface: wg0
    peers: [dublin]
    scope: keys
  delegate_to: frankfurt
  register: frankfurt_keys
"""

RETURN = r"""
now:
  description: Epoch seconds on the node.
  returned: always
  type: int
  sample: 1700000000
key:
  description: State of the private key file C(<config_dir>/<interface>.key). The private key itself is never
    returned.
  returned: always
  type: dict
  sample: {"exists": true, "public_key": "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", "mode": "600",
           "owner": "root", "group": "root", "symlink": false, "error": null, "staged": false, "previous": false,
           "path": "/etc/wireguard/wg0.key", "ok": true}
  contains:
    path:
      description: Path of the key file.
      type: str
      returned: always
    ok:
      description: Whether the key is usable as it is - a valid key in a regular file (not a symlink), mode
        C(0600), owner and group C(root). When V(false), M(wgmesh.wireguard.wg_keypair) makes or fixes it.
      type: bool
      returned: always
    exists:
      description: Whether the file exists (through a symlink). V(null) when it cannot be checked.
      type: bool
      returned: always
    public_key:
      description: Public key of the private key in the file, V(null) when absent or invalid.
      type: str
      returned: always
    mode:
      description: Octal mode without a leading zero (as C(stat -c %a)), V(null) when absent.
      type: str
      returned: always
    owner:
      description: Owner name, V(null) when absent.
      type: str
      returned: always
    group:
      description: Group name, V(null) when absent.
      type: str
      returned: always
    symlink:
      description: Whether the path is a symlink. The file it points to is what is read and reported.
      type: bool
      returned: always
    error:
      description: Why the file cannot be used (unreadable, not base64, wrong length), V(null) when it can.
        The message never holds key material.
      type: str
      returned: always
    staged:
      description: Whether a staged key C(<key>.next) exists.
      type: bool
      returned: always
    previous:
      description: Whether a previous key C(<key>.prev) exists.
      type: bool
      returned: always
psks:
  description:
    - State of the PSK file of every peer in O(peers). The PSK itself is never returned.
    - Each entry has the keys of RV(key) (C(exists), C(mode), C(owner), C(group), C(symlink), C(error)), and
      C(fingerprint) and C(valid) in place of the key's C(public_key), C(staged) and C(previous).
  returned: always
  type: dict
  sample: {"frankfurt": {"exists": true, "fingerprint": "sha256:3f2a9c0d11be4e77", "valid": true, "mode": "600",
                         "owner": "root", "group": "root", "symlink": false, "error": null}}
  contains:
    fingerprint:
      description: Non-secret fingerprint (M(wgmesh.wireguard.wg_psk)'s), V(null) when absent or invalid.
      type: str
      returned: always
    valid:
      description: Whether the file holds a valid PSK.
      type: bool
      returned: always
config_peers:
  description: Site name and public key of every C([Peer]) section of C(<config_dir>/<interface>.conf) that
    starts with a comment C(# <site name>), as the role writes them. Only valid keys are reported. Empty
    when the file is absent.
  returned: always
  type: dict
  sample: {"frankfurt": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="}
os:
  description: The distribution from C(/etc/os-release), and its names as Ansible's facts give them.
  returned: O(scope=full)
  type: dict
  sample: {"id": "rocky", "id_like": "rhel centos fedora", "version_id": "9.4", "distribution": "Rocky",
           "family": "RedHat", "major": "9"}
  contains:
    id:
      description: C(ID), V('') when missing.
      type: str
      returned: always
    id_like:
      description: C(ID_LIKE), V('') when missing.
      type: str
      returned: always
    version_id:
      description: C(VERSION_ID), V('') when missing.
      type: str
      returned: always
    distribution:
      description: As C(ansible_facts.distribution) (an unknown ID capitalised).
      type: str
      returned: always
    family:
      description: As C(ansible_facts.os_family). For an unknown ID, V(RedHat) or V(Debian) by C(ID_LIKE),
        else the capitalised ID.
      type: str
      returned: always
    major:
      description: C(VERSION_ID) up to the first dot.
      type: str
      returned: always
kernel:
  description: Whether the kernel has WireGuard.
  returned: O(scope=full)
  type: bool
  sample: true
python:
  description: The Python interpreter running the module (the one the role's scripts run with).
  returned: O(scope=full)
  type: str
  sample: /usr/bin/python3
tools:
  description: Which tools are installed (found on the C(PATH) or in the C(sbin) directories).
  returned: O(scope=full)
  type: dict
  sample: {"wg": true, "wg_quick": true, "wireguard_go": false, "nft": true, "iptables": false, "ufw": false,
           "firewall_cmd": false}
service:
  description: C(systemctl is-enabled) and C(is-active) of C(wg-quick@<interface>.service), V('') when systemctl
    is missing or prints nothing.
  returned: O(scope=full)
  type: dict
  sample: {"enabled": "enabled", "active": "active"}
services:
  description: Per unit in O(services), C(systemctl is-enabled) and C(is-active) as in RV(service).
  returned: O(scope=full)
  type: dict
  sample: {"prometheus-node-exporter.service": {"enabled": "enabled", "active": "active"}}
firewalld:
  description: C(systemctl is-active firewalld), V('') when it prints nothing.
  returned: O(scope=full)
  type: str
  sample: inactive
ufw:
  description: "Whether ufw is installed and C(ufw status) says C(Status: active)."
  returned: O(scope=full)
  type: bool
  sample: false
ufw_tagged:
  description:
    - Whether C(/etc/ufw/user.rules) or C(user6.rules) holds a rule whose comment is the role's tag
      C(wgmesh:<interface>), when ufw is installed (active or not).
  returned: O(scope=full)
  type: bool
  sample: false
selinux:
  description: Whether C(selinuxenabled) exists and succeeds.
  returned: O(scope=full)
  type: bool
  sample: false
files:
  description:
    - Per path in O(files) (a relative one joined to O(config_dir)), the string
      C(<sha1 hex> <octal mode> <owner> <group>) for a regular file. This is the format of C(sha1sum) and
      C(stat -c '%a %U %G').
    - "V(absent) when there is no regular file, V(symlink) for a symlink (never followed), C(unreadable: <reason>)
      when it cannot be read."
  returned: O(scope=full)
  type: dict
  sample: {"/etc/wireguard/wg0.conf": "0a4d55a8d778e5022fab701977c5d840bbc486d0 600 root root",
           "/etc/wireguard/wgmesh-firewall.sh": "absent"}
units:
  description: The O(units) that exist in C(/etc/systemd/system) with the role's marker line, in the order given.
  returned: O(scope=full)
  type: list
  elements: str
  sample: [wireguard-exporter.service]
sysctls:
  description: Live value per key in O(sysctls), as C(sysctl -n) prints it. V(null) when the key does not exist.
  returned: O(scope=full)
  type: dict
  sample: {"net.ipv4.ip_forward": "1"}
nft_rules:
  description:
    - V(live) when C(<config_dir>/wgmesh-firewall-nft.py) (the role's nftables backend) exists, the interface is up
      and the script's C(check) finds the role's table, and every input and forward base chain of the admin's
      starting with exactly the role's accept rules; V(missing) otherwise (for instance after an C(nft -f) of the
      admin's ruleset, or a chain the admin added since).
    - V(null) without that script, without C(nft) or without the interface.
  returned: O(scope=full)
  type: str
  sample: live
iptables_drop:
  description:
    - The C(INPUT) and C(FORWARD) chains of iptables-nft (table C(filter), families C(ip) and C(ip6)) whose policy is
      drop, as C(nft -j list chains) shows them (Docker sets C(FORWARD) to drop). Empty without C(nft).
  returned: O(scope=full)
  type: list
  elements: str
  sample: [ip filter FORWARD]
psk_extra:
  description: Sorted names of the other C(*.psk) files in C(<config_dir>/psk), that is of sites that left the mesh.
  returned: O(scope=full)
  type: list
  elements: str
  sample: [oldsite]
psk_dir:
  description: State of C(<config_dir>/psk) (C(exists), C(mode), C(owner), C(group), C(symlink), C(error) as in
    RV(key)).
  returned: O(scope=full)
  type: dict
  sample: {"exists": true, "mode": "700", "owner": "root", "group": "root", "symlink": false, "error": null}
config_dir_state:
  description: State of O(config_dir), as RV(psk_dir).
  returned: O(scope=full)
  type: dict
  sample: {"exists": true, "mode": "700", "owner": "root", "group": "root", "symlink": false, "error": null}
interface:
  description: The running interface.
  returned: O(scope=full)
  type: dict
  sample: {"exists": true, "public_key": "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", "listen_port": 51820,
           "mtu": 1420, "addresses": ["10.99.0.1/24", "fd99::1/64"],
           "peers": ["xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="]}
  contains:
    exists:
      description: Whether the interface exists.
      type: bool
      returned: always
    public_key:
      description: Its public key (C(wg show <interface> dump)), V(null) when none is set or C(wg) is missing.
      type: str
      returned: always
    listen_port:
      description: UDP listen port, V(null) when unknown.
      type: int
      returned: always
    mtu:
      description: MTU, V(null) when the interface does not exist.
      type: int
      returned: always
    addresses:
      description: Sorted C(address/prefix) of global scope, IPv4 and IPv6 (no link-local address).
      type: list
      elements: str
      returned: always
    peers:
      description: Sorted public keys of the live peers.
      type: list
      elements: str
      returned: always
    psk_fingerprints:
      description:
        - Peer public key to the fingerprint of the PSK the interface uses with it (as RV(psks) has them for
          files), so that the PSKs of a mesh built by hand can be kept. Never a PSK.
      type: dict
      returned: always
hand_config:
  description:
    - With O(scope=full), about C(<config_dir>/<interface>.conf) when it holds keys or PostUp forwarding rules,
      as a config written by hand (the guide's) or by the offline render does; V(null) for the role's own
      config or none.
  returned: O(scope=full)
  type: dict
  contains:
    secrets:
      description: Whether it holds a C(PrivateKey) or C(PresharedKey) (the role's config holds neither).
      type: bool
      returned: success
    forward_rules:
      description:
        - The deletions (argv) of its C(PostUp) rules C(iptables -A|-I FORWARD|INPUT ... -i|-o <interface> ...
          -j ACCEPT), which the role's firewall replaces when it takes the config over.
      type: list
      elements: list
      returned: success
  sample: {"secrets": true, "forward_rules": [["iptables", "-D", "FORWARD", "-i", "wg0", "-j", "ACCEPT"]]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wgmesh.wireguard.plugins.module_utils.probe import ARGUMENT_SPEC, run_probe


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_probe(module))


if __name__ == '__main__':
    main()
