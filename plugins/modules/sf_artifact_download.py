#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_artifact_download
short_description: Download one version of a Shaken Fist artifact to a local file
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Resolves O(ref) (an image name, a label, a snapshot, a UUID or any reference the collection's name-resolution
    rule accepts) to one version and writes its bytes to O(dest) on the host running the task.
  - The bytes are streamed in constant memory into a partial file beside O(dest), their sha512 is compared with
    the version's, and only then is O(dest) replaced by a rename, so O(dest) is never half-written.
  - When O(dest) already holds the version's bytes (same sha512), nothing is downloaded.
  - A download that was killed or lost its connection is resumed from the partial file's size (the server is
    asked for the rest only); if the whole then does not match, the partial file is discarded and the download
    starts again from the beginning, once. See C(docs/download.md).
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - Resolves the reference, compares the sha512 of O(dest) and returns the plan; nothing is downloaded or written.
      - "A change of O(mode), O(owner) or O(group) of an existing O(dest) is a planned step of its own, which says
        what would change from what to what (for example C(change /srv/web.qcow2: mode 0644 -> 0600))."
  diff_mode:
    support: full
    details:
      - Shows O(dest) before and after (absent, or its size and sha512), and file attribute changes.
  idempotent:
    support: full
options:
  ref:
    description:
      - What to download, for example V(debian:12), V(label:web), V(ci/builder), V(sf://snapshot/<uuid>),
        V(sf://blob/<uuid>) or an artifact UUID. An ambiguous reference fails and lists the candidates.
    type: str
    required: true
  version:
    description:
      - The version to download, V(latest) (the default) or a version number.
    type: raw
    default: latest
  sha512:
    description:
      - Download the version whose content has this sha512; fail when no version has it.
    type: str
  prefer:
    description:
      - An ordered tie-break for references that match several candidates, as for the
        P(shakenfist.storage.sf_artifact#lookup) lookup.
    type: list
    elements: str
    choices: [namespace, system, trusted, upstream]
  dest:
    description:
      - The file to write. Its directory must exist and be writable. An existing file is replaced when its content
        differs; it keeps its permissions unless O(mode), O(owner) or O(group) say otherwise.
      - While downloading, the bytes gather in a hidden partial file in the same directory,
        C(.<file name>.<first 16 hex digits of the sha512>.sfpart), which the next run resumes if this one is
        killed.
    type: path
    required: true
  wait_timeout:
    description:
      - Seconds to wait for the server to know the version's sha512 and size, which the download is verified
        against. A version is hashed when it is made, except on Shaken Fist 0.7.2, which hashes a new disk
        snapshot within about five minutes of taking it. V(0) fails at once with C(not_ready) instead.
      - Check mode waits too (it only reads), since it compares O(dest) with that sha512.
    type: int
    default: 600
notes:
  - The partial file is deliberately left behind when a download fails, so the next run does not start again.
    Delete it to throw the progress away.
seealso:
  - module: shakenfist.storage.sf_artifact_info
  - plugin: shakenfist.storage.sf_artifact
    plugin_type: lookup
'''

EXAMPLES = r'''
- name: Downloads share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: Back up the newest snapshot of the web label
      shakenfist.storage.sf_artifact_download:
        ref: label:web
        dest: /srv/backups/web.qcow2
        mode: '0600'

    - name: Download exactly version 3 of an image
      shakenfist.storage.sf_artifact_download:
        ref: ci/builder
        version: 3
        dest: /var/tmp/builder-v3.qcow2

    - name: Download the version with a known checksum, choosing the system label on purpose
      shakenfist.storage.sf_artifact_download:
        ref: centos:7
        prefer: [system, upstream]
        sha512: "{{ expected_sha512 }}"
        dest: /var/tmp/centos7.qcow2
'''

RETURN = r'''
dest:
  description: The absolute path written (or that would be written in check mode).
  returned: always
  type: str
ref:
  description: The explicit reference of what was downloaded.
  returned: always
  type: str
version:
  description: The version downloaded (none for a V(sf://blob/) reference).
  returned: always
  type: int
blob_uuid:
  description: The blob holding the version's bytes.
  returned: always
  type: str
sha512:
  description: The sha512 of the version, which O(dest) now has.
  returned: always
  type: str
size:
  description: Size of the version in bytes.
  returned: always
  type: int
downloaded_bytes:
  description: Bytes received from the server by this run (0 when O(dest) was already right).
  returned: always
  type: int
resumed_from:
  description: The size of the partial file this run resumed from (0 when it started from the beginning).
  returned: always
  type: int
mode:
  description:
    - The permissions of O(dest) after the task, as Ansible adds them to the result of any task with a C(dest) (as
      for M(ansible.builtin.copy)). The same holds for RV(owner), RV(group), RV(uid), RV(gid), RV(state) and
      RV(secontext).
    - Not in check mode, where the file is not what the run would leave; the actions, the plan and the diff say
      what would change.
  returned: success, not in check mode
  type: str
  sample: '0600'
owner:
  description: The name of the user that owns O(dest).
  returned: success, not in check mode
  type: str
  sample: root
group:
  description: The name of the group that owns O(dest).
  returned: success, not in check mode
  type: str
  sample: root
uid:
  description: The numeric ID of the user that owns O(dest).
  returned: success, not in check mode
  type: int
  sample: 0
gid:
  description: The numeric ID of the group that owns O(dest).
  returned: success, not in check mode
  type: int
  sample: 0
state:
  description: What O(dest) is, V(file).
  returned: success, not in check mode
  type: str
  sample: file
secontext:
  description: The SELinux security context of O(dest).
  returned: success, not in check mode, when SELinux is enabled
  type: str
  sample: unconfined_u:object_r:user_home_t:s0
actions:
  description:
    - What the task did, in order, in words. In check mode, what it would do, each starting with C(would).
    - On a failure, what was done before the step that failed.
  returned: always
  type: list
  elements: str
  sample: ["would move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)"]
plan:
  description:
    - The steps of the task, in order, with what happened to each (notes about what needs no change included).
    - On a failure, the steps that ran, the one that failed and those that did not run.
  returned: always
  type: list
  elements: dict
  contains:
    step:
      description: The kind of step, for example V(upload), V(point_label), V(snapshot), V(delete_set) or V(note).
      type: str
    action:
      description: What the step does, or did.
      type: str
    status:
      description: V(planned) (check mode), V(done), V(unchanged), V(failed) or V(not run).
      type: str
  sample: [{step: point_label, action: "move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)",
            status: done}]
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

import os  # noqa: E402
from typing import Any, Dict  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._download import (  # noqa: E402
    Downloader,
    DownloadRequest,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class SfArtifactDownload(SfModule):
    activity = 'download'
    argument_spec = DownloadRequest.argument_spec()
    module_kwargs = {'add_file_common_args': True}

    def __init__(self) -> None:
        super().__init__()
        # Ansible adds the file's attributes to every result that has a `dest`, and its size as `size`. In check mode
        # the file as it is now is not what the run leaves (actions and diff say what would change), so they are
        # left out; and `size` stays the version's size.
        add_path_info = self.module.add_path_info

        def path_info(kwargs: Dict[str, Any]) -> Dict[str, Any]:
            if self.check_mode:
                return kwargs
            size = kwargs.get('size')
            kwargs = add_path_info(kwargs)
            if size is not None:
                kwargs['size'] = size
            return kwargs

        self.module.add_path_info = path_info

    def run(self) -> None:
        request = DownloadRequest.from_params(self.params)
        self.activity = f'download {request.ref!r} to {request.dest}'
        downloader = Downloader(self.api, self.resolver, request)
        self.apply(downloader.plan())
        self.file_attributes(downloader.dest)

    def file_attributes(self, dest: str) -> None:
        """mode/owner/group/SELinux like ansible.builtin.copy; in check mode only reported, as a planned step that
        says which attribute would change from what to what."""
        if not os.path.exists(dest):
            return  # check mode, before the file exists: it is created with them
        file_args = self.module.load_file_common_arguments(self.params, path=dest)
        diff: Dict[str, Any] = {'before': {}, 'after': {}}
        if not self.module.set_fs_attributes_if_different(file_args, False, diff=diff):
            return
        changes = ', '.join(f'{key} {diff["before"].get(key)} -> {value}' for key, value in diff['after'].items())
        text = f'change {dest}: {changes or "its file attributes"}'
        self.action(f'would {text}' if self.check_mode else text)
        self.result['plan'] = self.result.get('plan', []) + [
            {'step': 'file_attributes', 'action': text, 'status': 'planned' if self.check_mode else 'done'}]
        if 'diff' in self.result:
            if self.result['diff']['before'].get('state') != 'absent':
                self.result['diff']['before'].update(diff['before'])
            self.result['diff']['after'].update(diff['after'])


def main() -> None:
    SfArtifactDownload()()


if __name__ == '__main__':
    main()
