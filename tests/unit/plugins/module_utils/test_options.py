"""Options declared once on a request dataclass: the argument spec and the request both come from the fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Sequence

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._cleanup import CleanupRequest
from ansible_collections.shakenfist.storage.plugins.module_utils._options import (
    WAIT_TIMEOUT,
    Options,
    option,
    wait_timeout_option,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._publish_state import MIB, PublishRequest


@dataclasses.dataclass
class Example(Options):
    ref: str = option(type='str', required=True, name='target_ref')
    kinds: Sequence[str] = option(('a', 'b'), type='list', elements='str', choices=['a', 'b', 'c'])
    names: Sequence[str] = option(type='list', elements='str', within='keep', unset=())
    labelled: bool = option(False, type='bool', within='keep')
    data: Dict[str, Any] = option(type='dict', unset={})
    note: Optional[str] = option(type='str', no_log=True)
    wait_timeout: float = wait_timeout_option(60)
    internal: int = 3  # not an option


def test_the_spec_comes_from_the_fields() -> None:
    assert Example.argument_spec() == {
        'target_ref': {'type': 'str', 'required': True},
        'kinds': {'type': 'list', 'elements': 'str', 'choices': ['a', 'b', 'c'], 'default': ['a', 'b']},
        'keep': {'type': 'dict', 'options': {'names': {'type': 'list', 'elements': 'str'},
                                             'labelled': {'type': 'bool', 'default': False}}},
        'data': {'type': 'dict'},
        'note': {'type': 'str', 'no_log': True},
        'wait_timeout': {'type': 'int', 'default': 60},
    }
    spec = PublishRequest.argument_spec()
    assert (spec['wait'], spec['wait_timeout']) == ({'type': 'bool', 'default': True},
                                                    {'type': 'int', 'default': WAIT_TIMEOUT})


def test_the_request_comes_from_the_params() -> None:
    params = {'target_ref': 'web', 'kinds': ['c'], 'keep': None, 'data': None, 'note': None, 'wait_timeout': 5}
    found = Example.from_params(params)
    assert found == Example(ref='web', kinds=['c'], names=(), labelled=False, data={}, note=None, wait_timeout=5)
    found = Example.from_params({**params, 'keep': {'names': ['x*'], 'labelled': True}, 'data': {'k': 'v'}})
    assert (found.names, found.labelled, found.data) == (['x*'], True, {'k': 'v'})
    assert Example.from_params({**params, 'keep': {'names': None, 'labelled': False}}).names == ()


def test_a_required_option_has_no_field_default_and_mutable_defaults_are_not_shared() -> None:
    with pytest.raises(TypeError):
        Example()
    assert Example(ref='a').data is not Example(ref='a').data


def test_cleanup_reads_its_keep_suboptions() -> None:
    request = CleanupRequest.from_params({
        'target_namespace': 'ci', 'resources': ['instances'], 'keep': {'names': ['base-*'], 'types': None,
                                                                       'labelled': True, 'metadata': None},
        'older_than': None, 'delete_namespace': False, 'allow_system': False, 'missing_ok': False, 'wait': True,
        'wait_timeout': 900, 'concurrency': 8})
    assert request == CleanupRequest(target='ci', resources=['instances'], keep_names=['base-*'], keep_labelled=True)


def test_a_converted_option_keeps_its_unit_in_the_spec_and_the_field_in_its_own() -> None:
    assert PublishRequest.argument_spec()['chunk_size'] == {'type': 'int', 'default': 16}
    assert PublishRequest().chunk_size == 16 * MIB
    params = {name: None for name in PublishRequest.argument_spec()}
    found = PublishRequest.from_params({**params, 'chunk_size': 2, 'target_namespace': None, 'type': 'other'})
    assert (found.chunk_size, found.target, found.artifact_type) == (2 * MIB, '', 'other')
