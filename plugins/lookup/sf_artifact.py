# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
name: sf_artifact
short_description: Resolve Shaken Fist artifact references to pinned versions
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Resolves each term (an image name, a label, a snapshot, a URL or any explicit reference) with the
    collection's one name-resolution rule and returns one dictionary per term, pinned to a single version.
  - A bare name that could mean more than one thing (for example V(centos:7) when a C(system) label of that name
    exists beside the well-known upstream image) is an error that lists every candidate, unless O(prefer) states
    a tie-break on purpose. See C(docs/name-resolution.md).
  - Lookups run on the controller, ignore check mode, and run again each time their result is templated;
    register the result with C(ansible.builtin.set_fact) to pin it once per play.
  - An option the lookup does not know, for example C(versoin=2) for O(version), is an error that names it, the
    option it most likely means and every valid option, before anything is sent; it is never ignored.
notes:
  - Lookups evaluated in one templating pass (all the arguments of one task, such as every value of one
    C(ansible.builtin.set_fact), or one C(when), C(changed_when), C(failed_when) or C(until) attempt) with the same
    connection settings share one client, so they cost one authentication, one artifact listing and one version
    read per distinct artifact. Nothing is shared across tasks, hosts, loop items or C(until) retries, so a lookup
    always sees what earlier tasks and modules changed. Sharing needs ansible-core 2.19; with older versions each
    lookup call authenticates and lists on its own.
  - In a play over many hosts every host runs the lookup in its own worker. Resolve once for the whole play with
    C(run_once) set on the C(ansible.builtin.set_fact) task, which sets the fact on every host (once per batch
    with C(serial)); this uses the first host's variables, so do not do it when hosts use different connection
    settings. See C(docs/lookup.md).
extends_documentation_fragment:
  - shakenfist.storage.connection.plugins
options:
  _terms:
    description:
      - References to resolve, for example V(centos:7), V(label:web), V(ci/builder), V(sf://label/system/web),
        an artifact UUID, or an C(https://) URL.
    type: list
    elements: str
    required: true
  version:
    description:
      - The version to pin, V(latest) (the default) or a version number.
    type: raw
    default: latest
  sha512:
    description:
      - Pin the version whose content has this sha512; fail when no version has it.
    type: str
  prefer:
    description:
      - An ordered tie-break for references that match several candidates, from V(namespace) (your own
        namespace), V(system) (system artifacts you can see), V(trusted) (namespaces that trust you) and
        V(upstream) (the well-known image the server would fetch). The result records which candidate won and
        which were shadowed, and a warning is shown.
      - By default an ambiguous reference is an error.
    type: list
    elements: str
  on_missing:
    description:
      - What to do when a reference matches nothing.
      - V(error) fails, V(warn) shows a warning and returns nothing for that term, V(skip) returns nothing silently.
    type: str
    choices: [error, warn, skip]
    default: error
'''

EXAMPLES = r'''
- name: Pin the image every web server boots from (the connection from variables; or SHAKENFIST_* or ansible.cfg)
  ansible.builtin.set_fact:
    web_image: "{{ lookup('shakenfist.storage.sf_artifact', 'label:web') }}"
  vars:
    shakenfist_api_url: https://sf.example.com/api
    shakenfist_namespace: ci
    shakenfist_key: "{{ vault_sf_key }}"

- name: Use the pinned blob as a disk base
  ansible.builtin.debug:
    msg: "boot from {{ web_image.disk_base }} (version {{ web_image.version }}, sha512 {{ web_image.sha512 }})"

- name: Resolve several references at once, each at version 2 (options apply to every reference)
  ansible.builtin.set_fact:
    images: "{{ query('shakenfist.storage.sf_artifact', 'debian:12', 'ci/builder', version=2) }}"

- name: Choose the system label over the upstream shorthand on purpose
  ansible.builtin.set_fact:
    centos: "{{ lookup('shakenfist.storage.sf_artifact', 'centos:7', prefer=['system', 'upstream']) }}"

- name: In a play over many hosts, resolve once and give every host the same pinned version
  ansible.builtin.set_fact:
    web_image: "{{ lookup('shakenfist.storage.sf_artifact', 'label:web') }}"
  run_once: true

- name: Do not fail when an optional image is missing
  ansible.builtin.set_fact:
    extra: "{{ query('shakenfist.storage.sf_artifact', 'optional-tools', on_missing='skip') }}"
'''

RETURN = r'''
_raw:
  description: One dictionary per resolved term.
  type: list
  elements: dict
  contains:
    input:
      description: The term as given.
      type: str
    ref:
      description: The explicit, unambiguous form of what was resolved, for example V(sf://label/system/web).
      type: str
    origin:
      description: Where the match came from, V(namespace), V(system), V(trusted), V(upstream) or V(explicit).
      type: str
    uuid:
      description: The artifact UUID (none for a blob or a not yet fetched upstream image).
      type: str
    namespace:
      description: The namespace that owns the artifact.
      type: str
    name:
      description: The artifact name.
      type: str
    type:
      description: V(image), V(label), V(snapshot) or V(other).
      type: str
    version:
      description: The pinned version index.
      type: int
    blob_uuid:
      description: The blob holding the pinned version's bytes.
      type: str
    sha512:
      description: The sha512 of the pinned version.
      type: str
    size:
      description: Size in bytes of the pinned version.
      type: int
    shared:
      description: Whether the artifact is shared with every namespace.
      type: bool
    disk_base:
      description: What to put in an instance disk spec to boot exactly this version (never a bare shorthand).
      type: str
    shadowed:
      description: Explicit forms of the candidates O(prefer) set aside.
      type: list
      elements: str
'''

from typing import Any, Dict, List, Optional  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfNotFound  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.plugin_utils._lookup import SfLookupBase, display  # noqa: E402


class LookupModule(SfLookupBase):
    def run(self, terms: List[Any], variables: Optional[Dict[str, Any]] = None, **kwargs: Any) -> List[Any]:
        self.refuse_unknown_options(kwargs)
        self.set_options(var_options=variables, direct=kwargs)
        on_missing = self.get_option('on_missing')
        results: List[Any] = []
        for term in terms:
            with self.boundary(str(term)):
                try:
                    resolution = self.client(variables).resolver.resolve(
                        str(term), version=self.get_option('version'), sha512=self.get_option('sha512'),
                        prefer=self.get_option('prefer'))
                except SfNotFound as exc:
                    if on_missing == 'error':
                        raise
                    if on_missing == 'warn':
                        display.warning(self.redact(f'shakenfist.storage.sf_artifact: {exc}'))
                    continue
                for warning in resolution.warnings:
                    display.warning(f'shakenfist.storage.sf_artifact: {warning}')
                results.append(resolution.as_dict())
        return results
