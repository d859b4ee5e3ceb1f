"""rotation_probe and rotation_failures: what stops or fails a key rotation, per site."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.wgmesh.wireguard.plugins.filter.rotation import rotation_failures, rotation_probe

KEY_A = "A" * 43 + "="
KEY_B = "B" * 43 + "="


def live(key):
    return {"changed": False, "exists": True, "interface": {"public_key": key, "listen_port": 51820}, "peers": []}


def test_probe_returns_keys_when_every_site_answers():
    out = rotation_probe(["a", "b"], {"a": live(KEY_A), "b": live(KEY_B)})
    assert out == {"public_keys": {"a": KEY_A, "b": KEY_B}, "problems": []}


def test_probe_names_every_site_that_stops_the_rotation():
    results = {
        "a": live(KEY_A),
        "b": {"unreachable": True, "msg": "Failed to connect to the host via ssh: no route\nmore"},
        "c": {"failed": True, "msg": "wg: not found"},
        "d": {"changed": False, "exists": False, "interface": None, "peers": []},
        "e": live(None),
        "f": live(KEY_A),
    }
    problems = rotation_probe(["a", "b", "c", "d", "e", "f", "g"], results)["problems"]
    assert problems == [
        "site 'b' is unreachable: Failed to connect to the host via ssh: no route",
        "site 'c' failed: wg: not found",
        "site 'd' has no interface wg0 (not deployed or wg-quick@wg0 is down)",
        "site 'e' has no private key on wg0",
        "site 'g' did not answer (unreachable, or failed earlier in this run)",
        "sites 'a' and 'f' use the same public key",
    ]


def test_failures_cover_sites_and_delegated_loop_items():
    steps = {
        "switch": {
            "a": {"changed": True},
            "b": {"skipped": True},
            "c": {"failed": True, "msg": "wg set wg0 failed"},
            "outside": {"results": [{"__wireguard_mesh_rotate_job": {"__wireguard_mesh_other": "d"},
                                     "unreachable": True, "msg": "timeout"},
                                    {"__wireguard_mesh_other": "e", "changed": True}]},
        },
        "write the configuration": {"a": {}, "outside": {"skipped": True, "results": []}},
    }
    assert rotation_failures(steps) == [
        "switch - site 'c' failed: wg set wg0 failed",
        "switch - site 'd' is unreachable: timeout",
        "write the configuration - site 'a' did not answer (unreachable, or failed earlier in this run)",
    ]


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        rotation_probe("a", {})
    with pytest.raises(AnsibleFilterError):
        rotation_failures({"switch": ["a"]})
