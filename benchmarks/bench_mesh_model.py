# -*- coding: utf-8 -*-
"""Benchmark of the mesh model on a large mesh (prints figures; not a timed test).

    .venv/bin/python benchmarks/bench_mesh_model.py [--sites 1000] [--repeat 3]

Targets (2-core machine): every site's peer list of a 1000-site mesh (~1,000,000 peer
entries, model.peers_by_site: the mesh is parsed once) <= 1 s; validation of the same mesh
<= 2 s. Each figure is the best of --repeat runs.
"""

from __future__ import print_function

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.wgmesh.wireguard.plugins.filter import mesh as filters  # noqa: E402
from ansible_collections.wgmesh.wireguard.plugins.plugin_utils import model  # noqa: E402


def make_sites(count):
    """A valid mesh: tunnel 10.96.0.0/12 (room for 1000+ sites), one or two LANs per site, one site behind NAT."""
    sites = []
    for i in range(count):
        lans = ['172.%d.%d.0/24' % (16 + i // 256, i % 256)]
        if i % 3 == 0:
            lans.append('fd10:%x::/64' % i)
        sites.append({
            'name': 'site%04d' % i,
            'address': '10.%d.%d.%d' % (96 + (i + 1) // 65536, ((i + 1) // 256) % 256, (i + 1) % 256),
            'address6': 'fd99::%x' % (i + 1),
            'endpoint': '' if i == 5 else '198.18.%d.%d' % (i // 250, i % 250 + 1),
            'port': 51820,
            'lan_cidrs': lans,
            'public_key': '',
            'underlay_mtu': 1500,
        })
    return sites


def best(func, repeat):
    times = []
    result = None
    for dummy in range(repeat):
        result = None  # freeing the previous result is not part of the next run
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--sites', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    sites = make_sites(args.sites)
    names = [s['name'] for s in sites]
    keys = dict((n, 'A' * 43 + '=') for n in names)

    def validate():
        return filters.mesh_validate(sites, '10.96.0.0/12', 'fd99::/64', 'wg0', 0)

    t_validate, problems = best(validate, args.repeat)
    if problems:
        print('unexpected problems:', problems[:5])
        return 1

    def peers_by_site():
        return sum(len(peers) for peers in model.peers_by_site(sites, keys, 25).values())

    t_all, entries = best(peers_by_site, args.repeat)
    t_prepare, dummy = best(lambda: model.prepare(sites), args.repeat)
    t_one, dummy = best(lambda: filters.mesh_peers(sites, names[0], keys, 25), args.repeat)
    t_pairs, pairs = best(lambda: filters.mesh_pairs(sites), args.repeat)
    reports = dict((n, {}) for n in names)
    t_psk, writes = best(lambda: filters.psk_writes(pairs, reports, {}), 1)

    print('mesh of %d sites, %d peer entries, %d pairs (Python %s, %d CPUs)'
          % (args.sites, entries, len(pairs), sys.version.split()[0], os.cpu_count() or 0))
    print('%-52s %8.3f s  (target <= 2 s)' % ('mesh_validate (whole mesh, dual stack)', t_validate))
    print('%-52s %8.3f s  (target <= 1 s)' % ('peers_by_site: every site (parse once + build)', t_all))
    print('%-52s %8.3f s' % ('prepare: parse every site', t_prepare))
    print('%-52s %8.3f s' % ('mesh_peers for one site (parse + build)', t_one))
    print('%-52s %8.3f s' % ('mesh_pairs', t_pairs))
    print('%-52s %8.3f s' % ('psk_writes, every pair fresh (%d PSKs)' % len(pairs), t_psk))
    ok = t_all <= 1.0 and t_validate <= 2.0
    print('targets met' if ok else 'TARGETS MISSED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
