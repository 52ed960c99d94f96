"""The unknown_vars filter: which variables a role does not know, with the name each most likely means."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.shakenfist.storage.plugins.filter.unknown_vars import FilterModule, unknown_vars
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import trust_as_template

KNOWN = ['image_catalog_images', 'image_catalog_labels', 'image_catalog_prune', 'image_catalog_prune_pattern']
INTERNAL = ['image_catalog_result', 'image_catalog__plan']


def test_known_and_internal_names_pass_and_the_rest_is_named_with_the_one_meant() -> None:
    given = [*KNOWN, *INTERNAL, 'image_catalog_label', 'image_catalog_prune_patern', 'image_catalog_colour']
    assert unknown_vars(given, KNOWN, INTERNAL) == [
        'image_catalog_colour',
        'image_catalog_label (did you mean image_catalog_labels?)',
        'image_catalog_prune_patern (did you mean image_catalog_prune_pattern?)',
    ]
    assert unknown_vars(KNOWN + INTERNAL, KNOWN, INTERNAL) == []


def test_the_prefix_every_known_name_shares_does_not_make_every_name_close() -> None:
    assert unknown_vars(['image_catalog_prunes'], ['image_catalog_prune', 'image_catalog_prune_pattern']) == [
        'image_catalog_prunes (did you mean image_catalog_prune?)']
    assert unknown_vars(['image_catalog_key_file'], ['image_catalog_key', 'image_catalog_labels']) == [
        'image_catalog_key_file']


def test_internal_names_are_never_suggested() -> None:
    assert unknown_vars(['image_catalog__plans'], KNOWN, INTERNAL) == ['image_catalog__plans']
    assert unknown_vars(['image_catalog_result'], KNOWN) == ['image_catalog_result']


@pytest.mark.parametrize(('names', 'known'), [('image_catalog_label', KNOWN), (['x'], 'known'), ([1], KNOWN)])
def test_anything_but_lists_of_names_is_a_clean_filter_error(names: Any, known: Any) -> None:
    with pytest.raises(AnsibleError, match='shakenfist.storage.unknown_vars: .* must be a list of names'):
        unknown_vars(names, known)


def test_in_a_template_with_varnames_as_the_roles_use_it() -> None:
    assert FilterModule().filters() == {'unknown_vars': unknown_vars}
    variables = {'image_catalog_labels': [], 'image_catalog_label': [], 'image_catalog_result': {}, 'other': 1,
                 'known': KNOWN, 'internal': INTERNAL}
    templar = Templar(loader=DataLoader(), variables=variables)
    found = templar.template(trust_as_template(
        "{{ query('ansible.builtin.varnames', '^image_catalog_')"
        ' | shakenfist.storage.unknown_vars(known, internal=internal) }}'))
    assert list(found) == ['image_catalog_label (did you mean image_catalog_labels?)']
