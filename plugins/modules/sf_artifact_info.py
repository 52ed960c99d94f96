#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_artifact_info
short_description: List Shaken Fist artifacts with their versions and the instances using them
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Lists the artifacts (images, labels, snapshots, other) the caller can see, filtered by name pattern, type,
    owning namespace and sharing, each with its versions (index, blob UUID, sha512, size, creation time) and the
    instances that use them.
  - Filtering happens locally over one listing of the cluster; versions are read only for matching artifacts.
  - Artifact names are derived from each artifact's source URL, the way the server names them (the API does not
    return names).
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.attributes.info_module
options:
  name:
    description:
      - Only artifacts whose name matches this shell-style pattern, for example V(debian*).
    type: str
  ref:
    description:
      - Only the artifact this reference means, with the collection's name-resolution rule
        (see C(docs/name-resolution.md)), in whatever state it is (no version is pinned).
      - A reference that matches nothing gives an empty RV(artifacts), like any filter (the task does not fail). So
        does an upstream shorthand such as V(debian:12) that the cluster has not fetched.
      - A malformed reference fails with C(invalid_input); an ambiguous one fails with C(ambiguous_reference) and
        lists the candidates.
      - V(sf://blob/<uuid>) lists the artifacts that hold that blob as one of their versions.
    type: str
  type:
    description:
      - Only artifacts of these types.
    type: list
    elements: str
    choices: [image, label, snapshot, other]
  owner:
    description:
      - Only artifacts owned by this namespace.
    type: str
  shared:
    description:
      - Only shared (V(true)) or unshared (V(false)) artifacts.
    type: bool
  metadata:
    description:
      - Only artifacts whose metadata has every one of these keys with exactly these string values (see the
        examples).
    type: dict
  versions:
    description:
      - Include each artifact's versions (one request per matching artifact).
    type: bool
    default: true
  events:
    description:
      - Include each artifact's events (one request per matching artifact), newest first, as the server returns
        them. When the server cannot return them, the artifact gets an empty list and RV(artifacts[].events_note)
        says why, and the task does not fail.
    type: bool
    default: false
  event_limit:
    description:
      - The most events returned per artifact, from 1 to 1000.
    type: int
    default: 100
'''

EXAMPLES = r'''
- name: Artifact listings share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: Every image I can see
      shakenfist.storage.sf_artifact_info:
        type: [image]
      register: images

    - name: Shared system images whose name starts with debian
      shakenfist.storage.sf_artifact_info:
        name: 'debian*'
        owner: system
        shared: true

    - name: Images built by one CI run
      shakenfist.storage.sf_artifact_info:
        metadata:
          build: '1234'

    - name: What happened to an image lately
      shakenfist.storage.sf_artifact_info:
        ref: debian:12
        events: true
        event_limit: 20

    - name: Show one label with its history
      shakenfist.storage.sf_artifact_info:
        ref: label:web
      register: web

    - name: Nothing matching is an empty list, not a failure
      ansible.builtin.debug:
        msg: "{{ 'no label web yet' if web.artifacts == [] else web.artifacts[0].ref }}"
'''

RETURN = r'''
artifacts:
  description: Matching artifacts, sorted by owner, type and name. Empty when nothing matches.
  returned: always
  type: list
  elements: dict
  contains:
    uuid: {description: Artifact UUID., type: str}
    name: {description: Name derived from the source URL., type: str}
    ref: {description: Explicit reference to this artifact., type: str}
    namespace: {description: Owning namespace., type: str}
    type: {description: Artifact type., type: str}
    state: {description: Artifact state., type: str}
    shared: {description: Whether it is shared with every namespace., type: bool}
    source_url: {description: Where the content came from., type: str}
    max_versions: {description: Versions kept (0 is the cluster default)., type: int}
    error_message: {description: Why a fetch failed (artifacts in state error)., type: str}
    instances: {description: Instances using the newest version., type: list, elements: str}
    latest_version: {description: The newest version index (0 when there is none)., type: int}
    metadata:
      description: The artifact's metadata, without the collection's own C(shakenfist.storage.*) keys.
      type: dict
    outdated_instances:
      description:
        - Instances whose disk came from a version older than the newest (when O(versions) is true), that is the
          instances to rebuild to run the newest version.
      type: list
      elements: str
    events:
      description: The artifact's events, newest first (when O(events) is true), each as the server returns it.
      type: list
      elements: dict
      contains:
        timestamp: {description: When it happened (epoch seconds)., type: float}
        type: {description: The event type (for example V(audit))., type: str}
        message: {description: What happened., type: str}
        fqdn: {description: The node that recorded it., type: str}
        duration: {description: How long it took (when known)., type: float}
        extra: {description: More details., type: dict}
    events_note:
      description: Why O(events) returned nothing for this artifact, when the server could not return its events.
      type: str
      returned: when the events could not be read
    versions:
      description: Versions, newest first (when O(versions) is true).
      type: list
      elements: dict
      contains:
        index: {description: Version number., type: int}
        blob_uuid: {description: The blob holding the bytes., type: str}
        sha512: {description: Content checksum., type: str}
        size: {description: Size in bytes., type: int}
        created: {description: When the blob was created (epoch seconds)., type: float}
        instances: {description: Instances using this version., type: list, elements: str}
api_requests:
  description: How many requests the task sent to the Shaken Fist API, and how many of them were writes.
  returned: success
  type: dict
  contains:
    total:
      description: Every request, reads and writes, retries included.
      type: int
    writes:
      description: The requests that may change something (all but C(GET) and C(HEAD)); always 0 in check mode.
      type: int
  sample: {total: 6, writes: 2}
error:
  description:
    - Why the task failed, as data, beside C(msg). Never a traceback, never a secret.
    - Not returned when Ansible itself refuses the options (a missing required option, say) before the module runs.
  returned: failure
  type: dict
  contains:
    type:
      description:
        - What kind of failure. V(invalid_input) (refused before any request), V(unauthenticated), V(forbidden),
          V(not_found), V(ambiguous_reference) (C(detail.candidates) lists them), V(conflict), V(not_ready),
          V(timeout), V(server_error), V(unsupported) (this server's version cannot do it), V(transport_error),
          V(missing_library), V(error) (an HTTP error no other type covers), V(internal_error) (a bug, please
          report it) or V(check_mode_write) (a bug too; a write check mode refused to send).
      type: str
    hint:
      description: What to do about it, when there is something to say.
      type: str
    status:
      description: The HTTP status of the answer that failed, or null.
      type: int
    method:
      description: The HTTP method of the request that failed, or null.
      type: str
    path:
      description: The API path of the request that failed, or null.
      type: str
    request_id:
      description: The server's request ID of that answer, when it sent one.
      type: str
    detail:
      description: More about the failure, for example the candidates of an ambiguous reference.
      type: raw
  sample:
    type: not_found
    hint: list what exists with shakenfist.storage.sf_artifact_info
    status: null
    method: null
    path: null
    request_id: null
    detail: {near: [sf://upload/ci/web-2026-11]}
log:
  description: The task's progress and the requests it sent, one line each, with every secret redacted.
  returned: at verbosity 3 (C(-vvv)) or more
  type: list
  elements: str
'''

from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_reader import (  # noqa: E402
    ArtifactQuery,
    ArtifactReader,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class ArtifactInfo(SfModule):
    changes_state = False
    argument_spec = ArtifactQuery.argument_spec()
    activity = 'list artifacts'

    def run(self) -> None:
        query = ArtifactQuery.from_params(self.params)
        reader = ArtifactReader(self.api, self.resolver, query)
        listing = reader.listing()
        if query.ref:
            self.activity = f'show artifact {query.ref!r}'
        self.result['artifacts'] = reader.read(listing)


def main() -> None:
    ArtifactInfo()()


if __name__ == '__main__':
    main()
