# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg_psk on real files: report, write, exclusive removal, content only on opt-in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.wgmesh.wireguard.tests.unit.plugins.modules.module_harness import ansible_cli, needs_ansible_cli, run_module

from ansible_collections.wgmesh.wireguard.plugins.module_utils import keys


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_check_apply_check_apply_and_report(tmp_path):
    directory = str(tmp_path / 'psk')
    psk_b, psk_c = keys.generate_psk(), keys.generate_psk()
    args = dict(directory=directory, peers=[dict(name='site-b', psk=psk_b), dict(name='site-c', psk=psk_c),
                                            dict(name='site-d')])
    check = run_module('wg_psk', args, check=True, diff=True)
    assert check['changed'] is True and not os.path.exists(directory)
    assert check['peers']['site-b'] == dict(exists=True, fingerprint=keys.psk_fingerprint(psk_b), valid=True)
    applied = run_module('wg_psk', args, diff=True)
    assert applied['changed'] is True
    assert mode(directory) == 0o700
    for name, psk in (('site-b', psk_b), ('site-c', psk_c)):
        path = os.path.join(directory, name + '.psk')
        assert mode(path) == 0o600
        with open(path) as f:
            assert f.read().strip() == psk
    assert applied['peers']['site-d'] == dict(exists=False, fingerprint=None, valid=False)
    assert run_module('wg_psk', args, check=True)['changed'] is False
    again = run_module('wg_psk', args, diff=True)
    assert again['changed'] is False
    assert again['peers'] == applied['peers']
    for result in (check, applied, again):
        assert psk_b not in result.stdout and psk_c not in result.stdout
        assert 'contents' not in result.json


def test_report_only_and_fingerprint_same_as_other_node(tmp_path):
    psk = keys.generate_psk()
    run_module('wg_psk', dict(directory=str(tmp_path / 'a'), peers=[dict(name='b', psk=psk)]))
    run_module('wg_psk', dict(directory=str(tmp_path / 'b'), peers=[dict(name='a', psk=psk)]))
    report_a = run_module('wg_psk', dict(directory=str(tmp_path / 'a'), peers=[dict(name='b')]))
    report_b = run_module('wg_psk', dict(directory=str(tmp_path / 'b'), peers=[dict(name='a')]))
    assert report_a['changed'] is False
    assert report_a['peers']['b']['fingerprint'] == report_b['peers']['a']['fingerprint']
    assert psk not in report_a.stdout


def test_changed_content_is_rewritten(tmp_path):
    directory = str(tmp_path)
    old, new = keys.generate_psk(), keys.generate_psk()
    run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk=old)]))
    result = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk=new)]), diff=True)
    assert result['changed'] is True
    assert result['peers']['b']['fingerprint'] == keys.psk_fingerprint(new)
    assert keys.psk_fingerprint(old) in result['diff']['before']
    with open(os.path.join(directory, 'b.psk')) as f:
        assert f.read().strip() == new


def test_exclusive_removes_unlisted(tmp_path):
    directory = str(tmp_path)
    run_module('wg_psk', dict(directory=directory, peers=[dict(name=n, psk=keys.generate_psk()) for n in 'bcd']))
    (tmp_path / 'notes.txt').write_text(u'keep me')
    args = dict(directory=directory, peers=[dict(name='b')], exclusive=True)
    check = run_module('wg_psk', args, check=True)
    assert check['changed'] is True and check['removed'] == ['c', 'd']
    assert os.path.exists(os.path.join(directory, 'c.psk'))
    result = run_module('wg_psk', args)
    assert result['removed'] == ['c', 'd']
    assert sorted(os.listdir(directory)) == ['b.psk', 'notes.txt']
    assert run_module('wg_psk', args)['changed'] is False


def test_return_content_only_on_opt_in(tmp_path):
    directory = str(tmp_path)
    psk = keys.generate_psk()
    run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk=psk)]))
    result = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b'), dict(name='x')],
                                       return_content=True, _ansible_no_log=True))
    assert result['contents'] == {'b': psk}
    assert result['changed'] is False


def test_return_content_without_no_log_is_refused(tmp_path):
    directory = str(tmp_path)
    psk = keys.generate_psk()
    run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk=psk)]))
    result = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b')], return_content=True))
    assert result.failed and 'set no_log: true on the task' in result['msg']
    assert psk not in result.stdout and 'contents' not in result.json


def test_invalid_file_reported_and_replaced_when_psk_given(tmp_path):
    directory = str(tmp_path)
    (tmp_path / 'b.psk').write_text(u'garbage\n')
    report = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b')]))
    assert report['peers']['b'] == dict(exists=True, fingerprint=None, valid=False)
    psk = keys.generate_psk()
    fixed = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk=psk)]))
    assert fixed['changed'] is True and fixed['peers']['b']['valid'] is True


def test_bad_input_fails_clearly(tmp_path):
    directory = str(tmp_path)
    bad_name = run_module('wg_psk', dict(directory=directory, peers=[dict(name='../etc/passwd')]))
    assert bad_name.failed and 'may only hold letters' in bad_name['msg']
    twice = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b'), dict(name='b')]))
    assert twice.failed and 'listed twice' in twice['msg']
    bad_psk = run_module('wg_psk', dict(directory=directory, peers=[dict(name='b', psk='short')]))
    assert bad_psk.failed and 'wg genpsk' in bad_psk['msg'] and 'wrong length' in bad_psk['msg']
    assert os.listdir(directory) == []


@needs_ansible_cli
def test_psk_never_in_verbose_ansible_output(tmp_path):
    directory = str(tmp_path / 'psk')
    psk = keys.generate_psk()
    out = ansible_cli('-m', 'wgmesh.wireguard.wg_psk', '-a',
                      '{"directory": "%s", "peers": [{"name": "b", "psk": "%s"}]}' % (directory, psk), '-vvv',
                      '--diff')
    assert out.returncode == 0, out.stdout
    assert 'CHANGED' in out.stdout
    assert psk not in out.stdout
    assert keys.psk_fingerprint(psk) in out.stdout
