"""The role's public interface: defaults and meta/argument_specs.yml stay in sync."""

import pathlib

import pytest
import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "wireguard_mesh"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SPEC = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
# Per-site variables that have no sensible default; the spec marks them required.
REQUIRED_WITHOUT_DEFAULT = {"wireguard_mesh_address"}


def test_every_default_is_documented():
    assert sorted(set(DEFAULTS) - set(SPEC)) == []


def test_every_documented_option_has_a_default_or_is_required():
    undocumented_defaults = set(SPEC) - set(DEFAULTS) - REQUIRED_WITHOUT_DEFAULT
    assert sorted(undocumented_defaults) == []
    for name in REQUIRED_WITHOUT_DEFAULT:
        assert SPEC[name].get("required") is True, name


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_spec_default_equals_defaults_file(name):
    assert SPEC[name].get("default") == DEFAULTS[name]


@pytest.mark.parametrize("name", sorted(SPEC))
def test_option_has_type_and_description(name):
    assert SPEC[name].get("type"), name
    assert SPEC[name].get("description"), name


def test_public_names_are_prefixed_and_internals_are_not_public():
    for name in list(DEFAULTS) + list(SPEC):
        assert name.startswith("wireguard_mesh_"), name
        assert not name.startswith("__"), name
