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
      - Only the artifact this reference resolves to, with the collection's name-resolution rule
        (see C(docs/name-resolution.md)). An ambiguous reference fails and lists the candidates.
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
  versions:
    description:
      - Include each artifact's versions (one request per matching artifact).
    type: bool
    default: true
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

    - name: Show one label with its history
      shakenfist.storage.sf_artifact_info:
        ref: label:web
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
'''

import fnmatch  # noqa: E402
from typing import Any, Dict, List  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._api import newest_first  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class ArtifactInfo(SfModule):
    argument_spec = {
        'name': {'type': 'str'},
        'ref': {'type': 'str'},
        'type': {'type': 'list', 'elements': 'str', 'choices': ['image', 'label', 'snapshot', 'other']},
        'owner': {'type': 'str'},
        'shared': {'type': 'bool'},
        'versions': {'type': 'bool', 'default': True},
    }
    activity = 'list artifacts'

    def run(self) -> None:
        params = self.params
        listing = self.api.list_artifacts()
        if params['ref']:
            self.activity = f"show artifact {params['ref']!r}"
            resolved = self.resolver.resolve(params['ref'])
            listing = [a for a in listing if a.uuid == resolved.uuid] or (
                [self.api.get_artifact(resolved.uuid)] if resolved.uuid else [])
        matching = [a for a in listing if self.matches(a)]
        matching.sort(key=lambda a: (a.namespace, a.artifact_type, a.name))
        self.result['artifacts'] = [self.describe(a) for a in matching]

    def matches(self, artifact: Artifact) -> bool:
        params = self.params
        if params['name'] and not fnmatch.fnmatchcase(artifact.name, params['name']):
            return False
        if params['type'] and artifact.artifact_type not in params['type']:
            return False
        if params['owner'] and artifact.namespace != params['owner']:
            return False
        return params['shared'] is None or artifact.shared == params['shared']

    def describe(self, artifact: Artifact) -> Dict[str, Any]:
        described: Dict[str, Any] = {
            'uuid': artifact.uuid, 'name': artifact.name, 'ref': artifact.ref,
            'namespace': artifact.namespace, 'type': artifact.artifact_type, 'state': artifact.state,
            'shared': artifact.shared, 'source_url': artifact.source_url, 'max_versions': artifact.max_versions,
            'error_message': artifact.error_message, 'instances': list(artifact.instances),
            'latest_version': artifact.index,
        }
        if self.params['versions']:
            rows: List[Dict[str, Any]] = []
            if artifact.index:
                for version in newest_first(self.api.artifact_versions(artifact.uuid)):
                    rows.append({'index': version.index, 'blob_uuid': version.uuid, 'sha512': version.sha512,
                                 'size': version.size, 'created': version.fetched_at or version.modified,
                                 'instances': list(version.instances)})
            described['versions'] = rows
        return described


def main() -> None:
    ArtifactInfo()()


if __name__ == '__main__':
    main()
