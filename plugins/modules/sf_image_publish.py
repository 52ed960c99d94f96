#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_image_publish
short_description: Publish an image into Shaken Fist in one idempotent task
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Gets an image (or any file) into Shaken Fist as a versioned artifact, from a file on the host running the
    task, from a URL the cluster fetches, or from a URL this module downloads and uploads.
  - Content-addressed by sha512. When the artifact's newest version already has the file's sha512 nothing is
    written. When any blob in the cluster already has it, that blob is reused and no byte is uploaded.
    Otherwise the file is streamed in large chunks, resuming from the server's acknowledged size after a
    failed chunk, and the new version's sha512 is verified after conversion.
  - The file is read once. A new file is hashed while it uploads; when the hash then shows the cluster already
    had the content, the upload is dropped and the existing blob reused. An unchanged file sends no write at all
    (the checksum cache knows its hash, or a file the size of the newest version is hashed first).
  - An upload interrupted by a killed task (an AWX job timeout, a lost controller) is resumed by the next run
    from the bytes the server acknowledged; RV(resumed_bytes) says how many were not sent again.
  - Safe with many forks at once. Each run identifies the version it added by its blob and sha512, verifies that
    one, and never reports or deletes a version it did not add. Runs on one host publishing the same file go one
    at a time, so only the first uploads; runs adding versions to one artifact apply O(max_versions) in turn. See
    C(docs/publishing.md) for the guarantees.
  - Optionally points a label at the result, so image plus label is one task.
  - With O(state=absent) deletes the artifact (found by O(name), by O(url), or by UUID), or one of its versions.
    This also removes an artifact whose fetch failed.
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.wait
attributes:
  check_mode:
    support: full
    details:
      - The file is hashed and the cluster is read; no write request is sent. The result says what would happen.
  diff_mode:
    support: full
  idempotent:
    support: full
    details:
      - For URL sources fetched by the cluster, a new version appears only when the content at the URL changed.
options:
  name:
    description:
      - The artifact name. Must not contain C(/).
      - For O(url) sources fetched by the cluster the server names the artifact after the URL; O(name) is then
        only used to report and may be omitted.
      - With O(state=absent), an artifact UUID or V(sf://artifact/<uuid>) names one artifact exactly, whatever
        its type or state.
    type: str
  target_namespace:
    description:
      - The namespace that owns the artifact. Defaults to the namespace you authenticate as.
      - Publishing into another namespace needs the C(system) key or a trust from that namespace.
    type: str
  src:
    description:
      - A file on the host running the task. Mutually exclusive with O(url).
    type: path
  url:
    description:
      - An C(http(s)://) URL. By default the cluster fetches it (O(fetch=cluster)).
      - Each run asks the cluster to check the URL; a new version appears only when the content changed. A URL
        whose last fetch failed is fetched again, and the task waits for that new fetch, not the old failure.
      - With O(state=absent), deletes the artifact fetched from this URL, including one whose fetch failed.
    type: str
  fetch:
    description:
      - Who downloads O(url). V(cluster) asks the cluster to fetch it. V(controller) downloads it here and
        uploads it, for URLs the cluster cannot reach; it is then content-addressed like O(src).
    type: str
    choices: [cluster, controller]
    default: cluster
  type:
    description:
      - The artifact type.
    type: str
    choices: [image, other]
    default: image
  shared:
    description:
      - Share the artifact with every namespace. Only artifacts of the C(system) namespace can be shared.
      - Unset leaves sharing as it is.
    type: bool
  max_versions:
    description:
      - How many versions to keep; older ones are removed. V(0) means the cluster default (3).
      - Unset leaves the setting as it is.
    type: int
  label:
    description:
      - Point this label at the published version. A label name in O(target_namespace), or C(<namespace>/<name>).
      - The label is created when missing, unless O(label_create=false).
      - Checked before anything is uploaded, with the same sharing rules as M(shakenfist.storage.sf_label).
    type: str
  metadata:
    description:
      - Metadata to set on the artifact, a dictionary of non-empty string values (for example a build id). Each key
        is written on its own, so runs setting different keys at once never undo each other. Only with
        O(state=present). An empty value is refused before anything is written (Shaken Fist 0.7.2 cannot store
        it); to remove a key, leave it out with O(metadata_mode=replace).
      - Keys starting with C(shakenfist.storage.) are reserved for the collection's own bookkeeping and refused.
    type: dict
  metadata_mode:
    description:
      - V(merge) sets the keys of O(metadata) and leaves the others alone. V(replace) also deletes the user keys not
        in O(metadata) (never the collection's own).
    type: str
    choices: [merge, replace]
    default: merge
  prune_unused:
    description:
      - After publishing, delete the older versions that no instance uses and no label points at, keeping the
        newest O(keep_newest) (counting the version this task adds). Each version is reported in RV(pruned) with the
        reason it was kept or removed; check mode shows the plan. Only with O(state=present).
    type: bool
    default: false
  keep_newest:
    description:
      - With O(prune_unused), how many of the newest versions are always kept.
    type: int
    default: 1
  label_create:
    description:
      - Whether O(label) may be created. V(false) turns a typo in O(label) into an error (naming near labels)
        before anything is uploaded.
    type: bool
    default: true
  checksum:
    description:
      - The expected sha512 of the content (128 hex characters, optionally prefixed C(sha512:)).
      - For files, the task fails and nothing is published when the file does not match. A file whose hash is not
        known beforehand is checked as it uploads, and the upload is then dropped. For cluster fetches, a fetched
        version that does not match is removed and the task fails.
    type: str
  wait:
    description:
      - Wait for a cluster fetch to finish, and fail with the server's reason when it fails.
      - With V(false) the task only asks for the fetch. It reports a change when that creates the artifact or
        retries a failed fetch; whether the content of a known URL changed is not known then. O(label) needs
        V(true).
  wait_timeout:
    description:
      - Seconds to wait for a cluster fetch.
  state:
    description:
      - V(present) publishes; V(absent) deletes the artifact, or only O(version).
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - With O(state=absent), delete only this version.
    type: int
  chunk_size:
    description:
      - Upload chunk size in MiB. Larger chunks mean fewer requests; memory use is about one chunk.
    type: int
    default: 16
  checksum_cache:
    description:
      - Remember the sha512 of local files so an unchanged file is not hashed again on the next run.
      - This is safe. An entry is keyed by device, inode, size, modification and change time, and any write to the
        file changes its change time.
    type: bool
    default: true
  checksum_cache_dir:
    description:
      - The collection's state directory on the host running the task. It holds the checksum cache, the records
        that let the next run resume an interrupted upload, and the lock files that coordinate runs on one host.
        Nothing in it is needed for correctness; a directory that cannot be written only costs that work.
    type: path
    default: ~/.cache/shakenfist.storage
notes:
  - Progress of long uploads is logged at C(-vvv) (the result then has a C(log) list).
  - In check mode a URL the cluster would fetch cannot be fetched, so the module asks the URL itself (C(HEAD))
    whether its size or modification time differ from the newest version, and says in RV(url_check) when the
    answer does not tell (the prediction is then a change).
seealso:
  - module: shakenfist.storage.sf_artifact_info
  - module: shakenfist.storage.sf_label
'''

EXAMPLES = r'''
- name: Publish a local image and point the web label at it
  shakenfist.storage.sf_image_publish:
    name: web-2026-11
    src: /srv/images/web.qcow2
    label: web

- name: Publish a shared system image fetched by the cluster, pinned to a known checksum
  shakenfist.storage.sf_image_publish:
    url: https://images.example.com/debian-12.qcow2
    shared: true
    checksum: "{{ debian_sha512 }}"
    wait_timeout: 1800
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: system
      key: "{{ vault_sf_system_key }}"

- name: Download here, upload there (the cluster cannot reach this URL)
  shakenfist.storage.sf_image_publish:
    name: internal-tools
    url: https://intranet.example.com/tools.qcow2
    fetch: controller
    max_versions: 5

- name: Remove one version of an image
  shakenfist.storage.sf_image_publish:
    name: web-2026-11
    state: absent
    version: 2

- name: Remove the artifact of a fetch that failed (it has no versions)
  shakenfist.storage.sf_image_publish:
    url: https://images.example.com/typo.qcow2
    state: absent

- name: Publish and move an existing label only (a typo in the label fails before the upload)
  shakenfist.storage.sf_image_publish:
    name: web-2026-12
    src: /srv/images/web.qcow2
    label: web
    label_create: false
'''

RETURN = r'''
artifact:
  description:
    - The artifact after the task.
    - In check mode, the prediction of what the real run returns, with O(max_versions) and O(shared) as the run sets
      them, also for an artifact the run would create (whose C(uuid) is then null).
  returned: when the artifact exists, or in check mode would be created
  type: dict
  contains:
    uuid: {description: "Artifact UUID (null in check mode for an artifact that does not exist yet).", type: str}
    namespace: {description: Owning namespace., type: str}
    name: {description: Artifact name., type: str}
    type: {description: V(image) or V(other)., type: str}
    state: {description: Artifact state., type: str}
    shared: {description: Whether it is shared., type: bool}
    max_versions: {description: Versions kept (0 means the cluster default)., type: int}
    source_url: {description: Where the content came from (V(sf://upload/...) for files)., type: str}
    error_message: {description: Why the last fetch failed (state V(error))., type: str}
    metadata:
      description: The artifact's metadata, without the collection's own C(shakenfist.storage.*) keys.
      type: dict
pruned:
  description: With O(prune_unused), every version of the artifact before the task, newest first, with what happened.
  returned: when O(prune_unused) is true and the artifact existed
  type: list
  elements: dict
  contains:
    index: {description: The version., type: int}
    blob_uuid: {description: Its blob., type: str}
    action:
      description: V(keep), V(remove) (planned), V(removed) (done) or V(gone) (deleted by someone else meanwhile).
      type: str
    reason: {description: Why., type: str}
version:
  description:
    - The version holding the published content. For a file, the version with its sha512, which this run added or
      found already there; never another run's version with other content. For a URL, the version the fetch added,
      or the newest when the content was unchanged. In check mode, the predicted version.
  returned: when the artifact has a version
  type: dict
  contains:
    index: {description: Version number., type: int}
    blob_uuid: {description: "The blob holding the bytes (null in check mode when it would be uploaded).", type: str}
    sha512: {description: Content checksum., type: str}
    size: {description: Size in bytes., type: int}
uploaded_bytes:
  description: Bytes sent to the cluster by this run (0 when nothing was uploaded).
  returned: always
  type: int
resumed_bytes:
  description: Bytes an interrupted earlier run had already sent, which this run did not send again.
  returned: always
  type: int
url_check:
  description: Check mode only, for a URL fetched before. What the URL's headers say about its content.
  returned: in check mode, for a cluster-fetched URL that has a version
  type: dict
  contains:
    changed: {description: "V(true) or V(false) when the headers tell, null when they do not.", type: bool}
    reason: {description: Why., type: str}
    size: {description: Content-Length., type: int}
    last_modified: {description: Last-Modified (epoch seconds)., type: float}
    etag: {description: ETag., type: str}
reused_blob:
  description: Whether an existing blob with the same content was reused instead of uploading.
  returned: always
  type: bool
throughput:
  description: Upload throughput in bytes per second, when bytes were uploaded.
  returned: when bytes were uploaded
  type: float
label:
  description: The label pointed at the result, when O(label) was set.
  returned: when O(label) is set
  type: dict
  contains:
    ref: {description: Explicit label reference., type: str}
    uuid: {description: Label artifact UUID., type: str}
    version: {description: The label version pointing at the image., type: int}
    blob_uuid: {description: The blob the label points at., type: str}
ref:
  description:
    - Explicit reference to the artifact, for example V(sf://upload/ci/web-2026-11).
    - Null in check mode for an image the cluster would fetch for the first time (it is named by its UUID).
  returned: when the artifact exists, or in check mode would be created
  type: str
disk_base:
  description:
    - What to put in an instance disk spec to boot exactly this version.
    - Null in check mode when the version's blob does not exist yet (an upload).
  returned: when the artifact has a version, or in check mode would have one
  type: str
sha512:
  description: The sha512 of the source content (files and controller downloads).
  returned: when known
  type: str
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

from typing import Any, Dict  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._publish import Publisher  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._publish_state import PublishRequest  # noqa: E402


class ImagePublish(SfModule):
    argument_spec = PublishRequest.argument_spec()
    module_kwargs: Dict[str, Any] = {
        'mutually_exclusive': [('src', 'url')],
        'required_if': [('state', 'absent', ('name', 'url'), True)],
    }
    activity = 'publish image'

    def run(self) -> None:
        request = PublishRequest.from_params(self.params)
        verb = 'delete' if request.state == 'absent' else 'publish'
        self.activity = f'{verb} image {request.name or request.url!r}'
        with Publisher(self.api, self.resolver, request, predict=self.check_mode, log=self.log) as publisher:
            self.apply(publisher.plan())


def main() -> None:
    ImagePublish()()


if __name__ == '__main__':
    main()
