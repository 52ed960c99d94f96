"""Property tests of every module, run end to end through its real AnsibleModule with generated arguments.

Whatever the arguments (valid, hostile strings, numbers at the edges, wrong types, unknown or missing options,
mutually exclusive combinations), against a seeded in-memory cluster that repeats the credentials back:
- the module ends through exit_json or fail_json with one JSON object on stdout, nothing on stderr and no traceback;
- a failure has a `msg`, and when the collection's code raised it, a structured `error` with a `type`;
- neither the key nor the API token appears anywhere in what the module prints;
- check mode sends no write (the cluster refuses any while the task is in check mode);
- the collection never reports an internal error (that type means "a bug in this collection");
- input known to be invalid fails and sends no write; the info modules never write.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.shakenfist.storage.plugins.module_utils._module import connection_argument_spec
from ansible_collections.shakenfist.storage.plugins.modules.sf_artifact_info import ArtifactInfo
from ansible_collections.shakenfist.storage.plugins.modules.sf_image_publish import ImagePublish
from ansible_collections.shakenfist.storage.plugins.modules.sf_label import SfLabel
from ansible_collections.shakenfist.storage.plugins.modules.sf_label_info import SfLabelInfo
from ansible_collections.shakenfist.storage.tests.unit.plugins.hypothesis_support import (
    BROKEN_URL,
    ECHO,
    EMPTY_FILE,
    FILES,
    KEY,
    KNOWN_FILE,
    NEW_FILE,
    NEW_URL,
    TEMPLATE,
    TOKEN,
    URL,
    Run,
    build_world,
    connection,
    module_arguments,
    run_module,
    sha,
)


def c(namespace: str = 'ci', **options: Any) -> Dict[str, Any]:
    return {**connection(namespace), **options}


# Valid starting points that reach deep into each module; generated changes are applied on top of them.
BASES: Dict[str, List[Dict[str, Any]]] = {
    'sf_image_publish': [
        c(name='web', src=str(KNOWN_FILE)),
        c(name='new-image', src=str(NEW_FILE), label='fresh', max_versions=2),
        c(name='web', src=str(NEW_FILE), label='web', checksum=sha(NEW_FILE.read_bytes())),
        c(url=URL), c(url=NEW_URL, label='fresh', shared=False), c(url=BROKEN_URL),
        c(name='downloaded', url=NEW_URL, fetch='controller', type='other'),
        c(name='web', state='absent', version=1), c(url=BROKEN_URL, state='absent'),
        c(name=f'sf://artifact/{TEMPLATE.uuids["db"]}', state='absent'),
        c('system', name='base', src=str(NEW_FILE), shared=True, target_namespace='system'),
        c('system', name='tenant-image', src=str(NEW_FILE), target_namespace='ci', label='ci/web'),
        c(name=ECHO, src=str(NEW_FILE)),
    ],
    'sf_label': [
        c(name='web', target='db'), c(name='web', target='web'), c(name='web', target='web', prefer=['namespace']),
        c(name='staging', target='sf://upload/ci/web', target_version=1, max_versions=2, metadata={'tier': 'prod'}),
        c(name='web', blob=TEMPLATE.blobs['db'], target_sha512=sha(b'db-1')),
        c(name='web', rollback=1), c(name='web', state='absent'), c(name='web', state='absent', version=1),
        c(name='friend/new', target='db'), c(name='centos:7', target='base'), c(name=ECHO, target='db'),
        c('system', name='centos:7', target='sf://upload/system/base', shared=True),
        c('system', name='ci/web', target='sf://upload/ci/db', metadata={'owner': 'ops'}),
    ],
    'sf_label_info': [
        c(), c(name='web'), c(name='centos:7'), c(name='friend/staging'), c(owner='system', pattern='*', history=True),
        c('system', history=True),
    ],
    'sf_artifact_info': [
        c(), c(ref='sf://upload/ci/web'), c(ref='db', versions=False), c(ref='centos:7'),
        c(name='w*', type=['image', 'label'], owner='ci', shared=False), c('system', type=['snapshot']),
    ],
}
MODULES: Dict[str, Any] = {
    'sf_image_publish': ImagePublish, 'sf_label': SfLabel, 'sf_label_info': SfLabelInfo,
    'sf_artifact_info': ArtifactInfo,
}
SPECS = {name: {**connection_argument_spec(), **cls.argument_spec} for name, cls in MODULES.items()}
# A module run costs about ten resolver runs: half the profile's examples keeps `make unit` within seconds.
fewer = settings(max_examples=max(settings().max_examples // 2, 10))


def check_clean_exit(run: Run) -> Dict[str, Any]:
    """The properties every run has, whatever its input; returns the result."""
    assert run.stderr == '', f'the module wrote to stderr: {run.stderr[:500]!r}'
    result = run.result  # exactly one JSON object on stdout, or this raises
    assert 'Traceback (most recent call last)' not in run.stdout
    assert 'module_stderr' not in result and 'exception' not in result
    if result.get('failed'):
        assert run.exit_code == 1
        assert isinstance(result.get('msg'), str) and result['msg'], result
        if run.built:  # the collection's code ran, so the failure is one of its typed errors
            error = result.get('error')
            assert isinstance(error, dict) and isinstance(error.get('type'), str) and error['type'], result
            assert error['type'] != 'internal_error', f'a bug surfaced as an internal error: {result["msg"]}'
    else:
        assert run.exit_code in (0, None)
        assert isinstance(result.get('changed'), bool)
        assert result['api_requests']['writes'] == len(run.writes)
    printed = run.stdout + run.stderr
    assert KEY not in printed, 'the key leaked'
    assert TOKEN not in printed, 'the API token leaked'
    if run.check_mode:
        assert run.writes == [], f'check mode wrote: {run.writes}'
        assert all(run.built), 'the module asked for a writable client in check mode'
        assert (result.get('error') or {}).get('type') != 'check_mode_write', result['msg']
    return result


def arguments_for(module: str) -> st.SearchStrategy[Dict[str, Any]]:
    return module_arguments(SPECS[module], BASES[module])


@pytest.mark.parametrize('module', sorted(MODULES))
def test_every_base_is_valid(module: str) -> None:
    """The starting points are valid input: a property over changes to them means something only then."""
    for args in BASES[module]:
        if ECHO in str(args):
            continue
        result = check_clean_exit(run_module(MODULES[module], {**args, '_ansible_check_mode': True}))
        assert not result.get('failed') or result['error']['type'] in ('not_found', 'forbidden', 'not_ready',
                                                                       'ambiguous_reference'), (args, result)
        assert 'Unsupported parameters' not in result.get('msg', ''), args


@fewer
@given(args=arguments_for('sf_image_publish'))
def test_sf_image_publish_always_exits_cleanly(args: Dict[str, Any]) -> None:
    check_clean_exit(run_module(ImagePublish, args))


@fewer
@given(args=arguments_for('sf_label'))
def test_sf_label_always_exits_cleanly(args: Dict[str, Any]) -> None:
    check_clean_exit(run_module(SfLabel, args))


@fewer
@given(args=arguments_for('sf_label_info'))
def test_sf_label_info_always_exits_cleanly_and_never_writes(args: Dict[str, Any]) -> None:
    run = run_module(SfLabelInfo, args)
    check_clean_exit(run)
    assert run.writes == []


@fewer
@given(args=arguments_for('sf_artifact_info'))
def test_sf_artifact_info_always_exits_cleanly_and_never_writes(args: Dict[str, Any]) -> None:
    run = run_module(ArtifactInfo, args)
    check_clean_exit(run)
    assert run.writes == []


# Changes that make any base of the module invalid, with the failures they may give: 'ansible' is AnsibleModule's
# own argument validation, the rest are the collection's error types. None removes the option. sf_label reads the
# label and checks the sharing rules before it resolves the target, so a base the caller may not write (or a label
# that does not exist) is refused for that first.
REFUSED = ('invalid_input', 'forbidden', 'not_found')
INVALID: Dict[str, List[Tuple[Dict[str, Any], Tuple[str, ...]]]] = {
    'sf_image_publish': [
        ({'chunk_size': 0}, ('invalid_input',)), ({'chunk_size': 513}, ('invalid_input',)),
        ({'chunk_size': -(2 ** 63)}, ('invalid_input',)), ({'wait_timeout': 0}, ('invalid_input',)),
        ({'wait_timeout': -5}, ('invalid_input',)), ({'max_versions': -1}, ('invalid_input',)),
        ({'url': 'ftp://example.com/x', 'src': None}, ('invalid_input',)),
        ({'url': 'file:///etc/passwd', 'src': None}, ('invalid_input',)),
        ({'url': 'debian:12', 'src': None}, ('invalid_input',)),
        ({'shared': True, 'target_namespace': 'ci'}, ('forbidden',)),
        ({'state': 'present', 'checksum': 'not-a-sha512'}, ('invalid_input',)),
        ({'state': 'present', 'version': 1}, ('invalid_input',)),
        ({'state': 'absent', 'version': 0, 'name': 'web', 'src': None, 'url': None}, ('invalid_input',)),
        ({'state': 'absent', 'version': -3, 'url': URL, 'src': None}, ('invalid_input',)),
        *[({'state': 'present', 'name': name, 'src': str(NEW_FILE), 'url': None}, ('invalid_input',))
          for name in ('a/b', '..', '.', 'web\n', ' web', 'x\x00y', '', 'sf://upload/ci/web')],
        *[({'state': 'present', 'name': 'new', 'src': src, 'url': None}, ('invalid_input',))
          for src in (str(EMPTY_FILE), str(FILES / 'directory'), str(FILES / 'missing'))],
        ({'state': 'present', 'name': 'new', 'src': str(NEW_FILE), 'url': None, 'label': 'a/b/c'}, ('invalid_input',)),
        ({'state': 'present', 'name': 'new', 'src': str(NEW_FILE), 'url': None, 'label': TEMPLATE.uuids['web']},
         ('invalid_input',)),
        ({'state': 'present', 'url': URL, 'src': None, 'fetch': 'cluster', 'wait': False, 'label': 'web'},
         ('invalid_input',)),
        ({'state': 'present', 'url': URL, 'src': None, 'fetch': 'cluster', 'type': 'other'}, ('invalid_input',)),
        ({'state': 'present', 'src': None, 'url': None}, ('invalid_input',)),
        ({'src': str(NEW_FILE), 'url': URL}, ('ansible',)),
        ({'state': 'absent', 'name': None, 'url': None}, ('ansible',)),
        ({'fetch': 'pigeon'}, ('ansible',)), ({'chunk_size': 'big'}, ('ansible',)), ({'wait': 'maybe'}, ('ansible',)),
    ],
    'sf_label': [
        *[({'name': name}, REFUSED + ('ansible',)) for name in (
            'a/b/c', '..', 'web\x7f', '', TEMPLATE.uuids['web'], 'sf://label/', 'ci/', '/web', 'ci/..', None)],
        ({'state': 'absent', 'target': 'db', 'rollback': None, 'blob': None}, REFUSED),
        ({'state': 'present', 'version': 1}, REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'max_versions': 0}, REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'max_versions': -1}, REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'target_version': None,
          'target_sha512': 'xyz'}, REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'target_version': 0},
         REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'target_version': 'newest'},
         REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'prefer': ['nearest']},
         REFUSED),
        *[({'state': 'present', 'target': 'db', 'blob': None, 'rollback': None, 'metadata': {key: 1}},
           REFUSED) for key in ('a/b', '..', '', 'shakenfist.storage.resolved_from.1', 'x\ny')],
        ({'state': 'present', 'target': None, 'blob': None, 'rollback': 0, 'target_version': None},
         REFUSED),
        ({'state': 'present', 'target': 'db', 'blob': TEMPLATE.blobs['db']}, ('ansible',)),
        ({'target_version': 1, 'target': None}, ('ansible',)), ({'prefer': {'a': 1}}, ('ansible',)),
        ({'create': 'sometimes'}, ('ansible',)),
    ],
    'sf_label_info': [
        ({'name': 'web', 'owner': 'ci'}, ('ansible',)), ({'name': 'web', 'pattern': '*'}, ('ansible',)),
        *[({'name': name, 'owner': None, 'pattern': None}, ('invalid_input',))
          for name in ('a/b/c', '..', 'web\x00', TEMPLATE.uuids['db'], 'label:', 'sf://label/ci/')],
        ({'history': 'deep'}, ('ansible',)),
    ],
    'sf_artifact_info': [
        *[({'ref': ref}, ('invalid_input',)) for ref in (
            'sf://label/ci', 'sf://nope/x', 'ftp://x/y', 'sf://artifact/xyz', 'a/b/c', ' ', 'label:a/b')],
        ({'type': ['image', 'volume']}, ('ansible',)), ({'versions': 'all'}, ('ansible',)),
    ],
}


def apply_changes(base: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    args = dict(base)
    for name, value in changes.items():
        if value is None:
            args.pop(name, None)
        else:
            args[name] = value
    return args


@pytest.mark.parametrize('module', sorted(MODULES))
@fewer
@given(data=st.data())
def test_invalid_input_fails_and_writes_nothing(module: str, data: st.DataObject) -> None:
    changes, allowed = data.draw(st.sampled_from(INVALID[module]), label='invalid change')
    base = data.draw(st.sampled_from([b for b in BASES[module] if ECHO not in str(b)]), label='base')
    args = apply_changes(base, {**changes, '_ansible_check_mode': data.draw(st.booleans(), label='check mode')})
    run = run_module(MODULES[module], args)
    result = check_clean_exit(run)
    assert result.get('failed'), f'invalid input was accepted: {result}'
    assert run.writes == [], f'invalid input wrote: {run.writes}'
    kind = result['error']['type'] if run.built else 'ansible'
    assert kind in allowed, result['msg']


# ansible-core converts an int option with int(float(value)), and int(float('inf')) raises OverflowError inside
# AnsibleModule, before any of the collection's code runs (issue 10: the int options are to validate themselves).
INT_NAMES = ('max_versions', 'version', 'rollback', 'retries', 'chunk_size', 'wait_timeout')
INT_OPTIONS = sorted({(module, name) for module, spec in SPECS.items() for name, option in spec.items()
                      if option.get('type') == 'int' or name in INT_NAMES})


@pytest.mark.parametrize('value', [float('inf'), '-Infinity'], ids=['inf', "'-Infinity'"])
@pytest.mark.parametrize(('module', 'option'), INT_OPTIONS, ids=[f'{m}.{o}' for m, o in INT_OPTIONS])
def test_int_options_refuse_infinity(module: str, option: str, value: Any) -> None:
    base = next(b for b in BASES[module] if ECHO not in str(b))
    run = run_module(MODULES[module], {**base, option: value, '_ansible_check_mode': True})
    result = check_clean_exit(run)
    assert result.get('failed') and run.writes == []
    assert option in result['msg']


@pytest.mark.parametrize('module', ['sf_label_info', 'sf_label'])
@pytest.mark.parametrize('name', ['sf://label/web', 'label:ci/web'])
def test_label_names_are_parsed_like_references(module: str, name: str) -> None:
    run = run_module(MODULES[module], c(name=name, target='db', _ansible_check_mode=True)
                     if module == 'sf_label' else c(name=name))
    result = check_clean_exit(run)
    assert result.get('failed') and result['error']['type'] == 'invalid_input', result.get('label')


@pytest.mark.parametrize('value', [float('inf'), float('-inf')], ids=['inf', '-inf'])
def test_target_version_infinity_is_invalid_input(value: float) -> None:
    result = check_clean_exit(run_module(SfLabel, c(name='web', target='db', target_version=value)))
    assert result.get('failed') and result['error']['type'] == 'invalid_input'


@fewer
@given(module=st.sampled_from(['sf_image_publish', 'sf_label']), data=st.data())
def test_a_run_that_succeeded_changes_nothing_when_repeated(module: str, data: st.DataObject) -> None:
    """Idempotency: the same task again reports changed: false and writes nothing new (rollback is an action)."""
    args = {**data.draw(arguments_for(module), label='arguments'), '_ansible_check_mode': False}
    world = build_world()
    first = run_module(MODULES[module], args, world)
    assume(not check_clean_exit(first).get('failed') and 'rollback' not in args)
    # wait: false only asks for a fetch, and asking again for one that failed is documented as a change.
    assume(first.result['invocation']['module_args'].get('wait') is not False)
    second = run_module(MODULES[module], args, world)
    result = check_clean_exit(second)
    assert not result.get('failed'), result['msg']
    assert result['changed'] is False, result['actions']


def test_a_label_created_in_a_trusting_namespace_can_be_pointed_again() -> None:
    world, args = build_world(), c(name='friend/new', target='db')
    assert not check_clean_exit(run_module(SfLabel, args, world)).get('failed')
    result = check_clean_exit(run_module(SfLabel, args, world))
    assert not result.get('failed') and result['changed'] is False, result.get('msg')


@pytest.mark.parametrize('options', [{'namespace': 'system', 'target_namespace': 'x/y'}, {'namespace': '/'},
                                     {'namespace': 'system', 'target_namespace': '..'}], ids=['x/y', '/', '..'])
def test_a_namespace_that_is_not_a_path_segment_is_refused(options: Dict[str, Any]) -> None:
    run = run_module(ImagePublish, {**c(name='web', src=str(KNOWN_FILE)), **options})
    result = check_clean_exit(run)
    assert result.get('failed') and result['error']['type'] == 'invalid_input' and run.writes == []


def test_publish_max_versions_zero_is_idempotent() -> None:
    world, args = build_world(), c(name='web', src=str(KNOWN_FILE), max_versions=0)
    assert not check_clean_exit(run_module(ImagePublish, args, world)).get('failed')
    result = check_clean_exit(run_module(ImagePublish, args, world))
    assert not result.get('failed') and result['changed'] is False, result['actions']
