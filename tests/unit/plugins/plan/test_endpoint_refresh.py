# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint refresher in the node plan: which sites get the timer, when it is written,
started and removed, and its option's check."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.plan.planfixtures import (
    converged_probe, fresh_probe, mesh, node_of, options,
)

TIMER = 'wireguard-mesh-endpoints-wg0.timer'
SERVICE = 'wireguard-mesh-endpoints-wg0.service'
ACTIVE = {'enabled': 'enabled', 'active': 'active'}


@pytest.fixture(scope='module')
def dns_mesh():
    """frankfurt has a dynamic address, reached by its name."""
    return mesh(frankfurt={'wireguard_mesh_endpoint': 'frankfurt.example.net'})


def running(site, plan, node_options=None):
    return converged_probe(site, plan, node_options, services={TIMER: ACTIVE}, units=[TIMER, SERVICE])


@pytest.mark.parametrize('site,dns_peers', [('dublin', ['frankfurt']), ('newyork', ['frankfurt']), ('frankfurt', [])])
def test_only_sites_with_a_peer_named_by_dns_get_the_timer(dns_mesh, site, dns_peers):
    node = node_of(site, dns_mesh, fresh_probe(site))
    refresh = node['refresh']
    assert refresh['peers'] == dns_peers
    if dns_peers:
        assert refresh['units'] == [TIMER, SERVICE] and 'refresh' in node['steps']
        paths = [item['path'] for item in node['writes']]
        assert '/etc/systemd/system/' + TIMER in paths and '/usr/local/sbin/wireguard-mesh-endpoints' in paths
        assert node['steps'].index('refresh') > node['steps'].index('service')
    else:
        assert refresh['units'] == [] and 'refresh' not in node['steps'] and refresh['files'] == []


def test_the_units_run_the_script_on_the_interface_and_its_config(dns_mesh):
    node = node_of('dublin', dns_mesh, fresh_probe('dublin'))
    files = dict((item['path'], item) for item in node['writes'])
    service = files['/etc/systemd/system/' + SERVICE]['content']
    timer = files['/etc/systemd/system/' + TIMER]['content']
    assert 'ExecStart=/usr/bin/python3 /usr/local/sbin/wireguard-mesh-endpoints wg0 /etc/wireguard/wg0.conf' in service
    assert 'OnUnitActiveSec=30s' in timer and '# wgmesh.wireguard: written by the role' in timer
    assert files['/usr/local/sbin/wireguard-mesh-endpoints']['mode'] == '0644'


def test_a_converged_site_with_its_timer_running_has_no_steps(dns_mesh):
    node = node_of('dublin', dns_mesh, running('dublin', dns_mesh))
    assert node['steps'] == []


def test_a_stopped_timer_is_started_without_writing(dns_mesh):
    probe = running('dublin', dns_mesh)
    probe['services'] = {TIMER: {'enabled': 'disabled', 'active': 'inactive'}}
    node = node_of('dublin', dns_mesh, probe)
    assert node['steps'] == ['refresh'] and not node['refresh']['units_written']


def test_a_new_interval_rewrites_the_timer_and_restarts_it(dns_mesh):
    node = node_of('dublin', dns_mesh, running('dublin', dns_mesh), options(wireguard_mesh_endpoint_refresh_interval=60))
    assert node['steps'] == ['files', 'refresh'] and node['refresh']['units_written']
    assert [item['path'] for item in node['writes']] == ['/etc/systemd/system/' + TIMER]


@pytest.mark.parametrize('how', ['never', 'addresses again'])
def test_a_timer_no_longer_wanted_is_removed(dns_mesh, how):
    probe = running('dublin', dns_mesh)
    if how == 'never':
        node = node_of('dublin', dns_mesh, probe, options(wireguard_mesh_endpoint_refresh='never'))
    else:
        node = node_of('dublin', mesh(), probe)
    assert 'refresh_leftovers' in node['steps'] and node['refresh']['leftovers'] == [TIMER, SERVICE]
    assert 'refresh' not in node['steps']


def test_a_unit_of_the_same_name_written_by_the_admin_stays(dns_mesh):
    """The probe lists a unit only when it carries the role's marker line."""
    probe = converged_probe('dublin', mesh(), units=[])
    node = node_of('dublin', mesh(), probe, options(wireguard_mesh_endpoint_refresh='never'))
    assert node['refresh']['leftovers'] == [] and node['steps'] == []


@pytest.mark.parametrize('interval,ok', [(4, False), (0, False), (5, True), (3600, True)])
def test_the_interval_is_at_least_five_seconds(interval, ok):
    problems = mesh(frankfurt={'wireguard_mesh_endpoint_refresh_interval': interval})['problems']
    if ok:
        assert problems == []
    else:
        assert problems == ["site 'frankfurt': wireguard_mesh_endpoint_refresh_interval is %d: give at least 5 "
                            "seconds." % interval]


def test_an_unknown_mode_is_refused_before_any_site_is_touched():
    problems = mesh(dublin={'wireguard_mesh_endpoint_refresh': False})['problems']
    assert len(problems) == 1 and "wireguard_mesh_endpoint_refresh" in problems[0] and "auto, never" in problems[0]


def test_named_endpoints_stay_out_of_wg_quick_and_are_set_right_after_up(dns_mesh):
    """wg-quick resolves Endpoint lines at every up and fails the whole interface on one name
    that does not resolve: the refresher sets the named ones instead."""
    node = node_of('dublin', dns_mesh, fresh_probe('dublin'))
    config = node['config_file']['content']
    assert '# wgmesh-endpoint = frankfurt.example.net:51820' in config
    assert 'Endpoint = frankfurt.example.net' not in config and 'Endpoint = 10.249.0.13:51820' in config
    assert node['post_up'][-1] == 'systemctl start --no-block %s || true' % SERVICE
    assert 'PostUp = systemctl start --no-block %s || true' % SERVICE in config


def test_with_never_wg_quick_resolves_the_names_itself(dns_mesh):
    node = node_of('dublin', dns_mesh, fresh_probe('dublin'), options(wireguard_mesh_endpoint_refresh='never'))
    config = node['config_file']['content']
    assert 'Endpoint = frankfurt.example.net:51820' in config and 'wgmesh-endpoint' not in config
    assert not any('systemctl' in command for command in node['post_up'])


@pytest.mark.parametrize('python,used', [('/usr/libexec/platform-python', '/usr/libexec/platform-python'),
                                         ('/usr/bin/python3 -c evil', '/usr/bin/python3'), ('', '/usr/bin/python3')],
                         ids=['rhel8', 'not-a-plain-path', 'unknown'])
def test_the_script_runs_with_the_python_the_probe_ran_with(dns_mesh, python, used):
    node = node_of('dublin', dns_mesh, fresh_probe('dublin', python=python))
    service = [item for item in node['writes'] if item['path'].endswith(SERVICE)][0]['content']
    assert 'ExecStart=%s /usr/local/sbin/wireguard-mesh-endpoints wg0 ' % used in service
