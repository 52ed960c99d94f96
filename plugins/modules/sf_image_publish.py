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
  - Optionally points a label at the result, so image plus label is one task.
  - With O(state=absent) deletes the artifact, or one of its versions.
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
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
      - The label is created when missing.
    type: str
  checksum:
    description:
      - The expected sha512 of the content (128 hex characters, optionally prefixed C(sha512:)).
      - For files, the task fails before anything is uploaded when the file does not match. For cluster fetches,
        a fetched version that does not match is removed and the task fails.
    type: str
  wait:
    description:
      - Wait for a cluster fetch to finish, and fail with the server's reason when it fails.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for a cluster fetch.
    type: int
    default: 900
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
      - Where the checksum cache lives on the host running the task.
    type: path
    default: ~/.cache/shakenfist.storage
notes:
  - Progress of long uploads is logged at C(-vvv) (the result then has a C(log) list).
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
'''

RETURN = r'''
artifact:
  description: The artifact after the task.
  returned: when the artifact exists
  type: dict
  contains:
    uuid: {description: Artifact UUID., type: str}
    namespace: {description: Owning namespace., type: str}
    name: {description: Artifact name., type: str}
    type: {description: V(image) or V(other)., type: str}
    state: {description: Artifact state., type: str}
    shared: {description: Whether it is shared., type: bool}
    max_versions: {description: Versions kept (0 means the cluster default)., type: int}
version:
  description: The newest version after the task.
  returned: when the artifact has a version
  type: dict
  contains:
    index: {description: Version number., type: int}
    blob_uuid: {description: The blob holding the bytes., type: str}
    sha512: {description: Content checksum., type: str}
    size: {description: Size in bytes., type: int}
uploaded_bytes:
  description: Bytes sent to the cluster (0 when nothing was uploaded).
  returned: always
  type: int
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
  description: Explicit reference to the artifact, for example V(sf://upload/ci/web-2026-11).
  returned: when the artifact exists
  type: str
disk_base:
  description: What to put in an instance disk spec to boot exactly this version.
  returned: when the artifact has a version
  type: str
sha512:
  description: The sha512 of the source content (files and controller downloads).
  returned: when known
  type: str
actions:
  description: What the task did (or would do in check mode), in words.
  returned: always
  type: list
  elements: str
api_requests:
  description: How many API requests the task made, and how many of them were writes.
  returned: always
  type: dict
'''

import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict, Optional  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._checksum import (  # noqa: E402
    ChecksumCache,
    file_sha512,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (  # noqa: E402
    SfError,
    SfForbidden,
    SfInvalidInput,
    SfServerError,
    SfTransportError,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._labels import (  # noqa: E402
    LabelManager,
    LabelRequest,
    check_write,
    split_label_name,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._publish import (  # noqa: E402
    Current,
    current_of,
    find_fetched,
    find_published,
    source_url_for,
    wait_for_fetch,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import (  # noqa: E402
    artifact_name,
    validate_name,
    validate_sha512,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import canonical_ref  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._upload import abandon, upload_file  # noqa: E402

MIB = 1024 * 1024


class ImagePublish(SfModule):
    argument_spec = {
        'name': {'type': 'str'},
        'target_namespace': {'type': 'str'},
        'src': {'type': 'path'},
        'url': {'type': 'str'},
        'fetch': {'type': 'str', 'choices': ['cluster', 'controller'], 'default': 'cluster'},
        'type': {'type': 'str', 'choices': ['image', 'other'], 'default': 'image'},
        'shared': {'type': 'bool'},
        'max_versions': {'type': 'int'},
        'label': {'type': 'str'},
        'checksum': {'type': 'str'},
        'wait': {'type': 'bool', 'default': True},
        'wait_timeout': {'type': 'int', 'default': 900},
        'state': {'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
        'version': {'type': 'int'},
        'chunk_size': {'type': 'int', 'default': 16},
        'checksum_cache': {'type': 'bool', 'default': True},
        'checksum_cache_dir': {'type': 'path', 'default': '~/.cache/shakenfist.storage'},
    }
    module_kwargs = {
        'mutually_exclusive': [('src', 'url')],
        'required_if': [('state', 'absent', ('name',))],
    }
    activity = 'publish image'

    def run(self) -> None:
        params = self.params
        self.target = params['target_namespace'] or self.api.namespace
        self.name: Optional[str] = params['name']
        self.activity = f"publish image {self.name or params['url']!r}"
        self.result.update({'uploaded_bytes': 0, 'reused_blob': False})
        self.validate()
        if params['state'] == 'absent':
            self.activity = f'delete image {self.name!r}'
            self.absent()
            return
        self.check_label_write()
        if params['url'] and params['fetch'] == 'cluster':
            self.present_from_cluster_fetch()
        elif params['url']:
            self.present_from_controller_download()
        else:
            self.present_from_file(params['src'])

    # Validation happens before any write, so bad input changes nothing.
    def validate(self) -> None:
        params = self.params
        if self.name is not None:
            validate_name(self.name, 'name')
        if params['max_versions'] is not None and params['max_versions'] < 0:
            raise SfInvalidInput('max_versions must not be negative')
        if params['chunk_size'] < 1 or params['chunk_size'] > 512:
            raise SfInvalidInput('chunk_size must be between 1 and 512 MiB')
        if params['shared'] and self.target != 'system':
            raise SfForbidden(f'only artifacts of the system namespace can be shared; this one would belong to '
                              f'{self.target!r}', hint='publish as system (namespace: system) to share an image')
        if params['state'] == 'absent':
            if params['version'] is not None and params['version'] < 1:
                raise SfInvalidInput('version numbers start at 1')
            return
        if params['version'] is not None:
            raise SfInvalidInput('version is only used with state: absent')
        if not params['src'] and not params['url']:
            raise SfInvalidInput('one of src or url is required with state: present')
        if params['checksum']:
            self.expected_sha512: Optional[str] = validate_sha512(params['checksum'])
        else:
            self.expected_sha512 = None
        if params['url'] and not params['url'].startswith(('http://', 'https://')):
            raise SfInvalidInput(f"url must be an http:// or https:// URL, got {params['url']!r}")
        if (params['src'] or params['fetch'] == 'controller') and not self.name:
            raise SfInvalidInput('name is required when publishing a file')
        if params['src']:
            path = params['src']
            if not os.path.exists(path):
                raise SfInvalidInput(f'src {path} does not exist')
            if not os.path.isfile(path):
                raise SfInvalidInput(f'src {path} is not a regular file')
            if not os.access(path, os.R_OK):
                raise SfInvalidInput(f'src {path} is not readable')
            if os.path.getsize(path) == 0:
                raise SfInvalidInput(f'src {path} is empty')
        if params['type'] == 'other' and params['url'] and params['fetch'] == 'cluster':
            raise SfInvalidInput('the cluster only fetches URLs as images; use fetch: controller for type other')

    # Files (and controller downloads)
    def present_from_file(self, path: str, sha512: Optional[str] = None) -> None:
        params = self.params
        size = os.path.getsize(path)
        if sha512 is None:
            cache = ChecksumCache(params['checksum_cache_dir']) if params['checksum_cache'] else None
            started = time.monotonic()
            sha512, cached = file_sha512(path, cache)
            self.log(f'sha512 of {path}: {sha512} ({"cached" if cached else f"{time.monotonic() - started:.2f}s"})')
        self.result['sha512'] = sha512
        if self.expected_sha512 and sha512 != self.expected_sha512:
            raise SfInvalidInput(f'{path} has sha512 {sha512}, not the expected {self.expected_sha512}; '
                                 'nothing was uploaded')
        current = find_published(self.api, self.target, self.name or '')
        before = current.summary()
        if current.newest and current.newest.sha512 == sha512:
            self.action(f'version {current.newest.index} already has this content', changed=False)
        else:
            current = self.add_version(current, path, size, sha512)
        current = self.apply_settings(current)
        self.finish(current, before)

    def add_version(self, current: Current, path: str, size: int, sha512: str) -> Current:
        params = self.params
        existing_blob = self.api.find_blob_by_sha512(sha512)
        new_index = (current.artifact.index + 1) if current.artifact else 1
        if self.check_mode:
            how = f'reuse blob {existing_blob.uuid}' if existing_blob else f'upload {size} bytes'
            self.action(f'would {how} as a new version of {self.name!r} in namespace {self.target!r}')
            self.result['reused_blob'] = bool(existing_blob)
            self.predicted = {'version': new_index, 'sha512': sha512, 'size': size}
            return current
        created = current.artifact is None
        convert = {'namespace': self.target, 'source_url': source_url_for(self.target, self.name or ''),
                   'artifact_type': params['type']}
        upload_uuid = None
        try:
            if existing_blob:
                artifact = self.api.convert_upload(self.name, blob_uuid=existing_blob.uuid, **convert)
                self.result['reused_blob'] = True
                self.action(f'reused blob {existing_blob.uuid}, which already has this content (no upload)')
            else:
                outcome = upload_file(self.api, path, size, chunk_size=params['chunk_size'] * MIB,
                                      retries=self.client.settings.retries, log=self.log)
                upload_uuid = outcome.upload_uuid
                self.result['uploaded_bytes'] = size
                self.result['throughput'] = round(size / max(outcome.duration, 1e-6), 1)
                self.action(f'uploaded {size} bytes in {outcome.duration:.2f}s'
                            + (f' ({outcome.resumed} chunk(s) resumed)' if outcome.resumed else ''))
                artifact = self.api.convert_upload(self.name, upload_uuid=upload_uuid, **convert)
        except (SfServerError, SfTransportError) as exc:
            # The outcome is unknown: re-read before deciding anything.
            recovered = self.recover_after_failed_convert(sha512, created)
            if recovered is None:
                if upload_uuid:
                    abandon(self.api, upload_uuid)
                raise exc
            artifact = recovered.artifact
        latest = current_of(self.api, artifact)
        if not latest.newest or latest.newest.sha512 != sha512:
            self.remove_bad_version(latest, created)
            got = latest.newest.sha512 if latest.newest else 'nothing'
            raise SfServerError(f'the cluster stored content with sha512 {got}, not {sha512}; the bad version was '
                                'removed')
        self.action(f'added version {latest.newest.index} of {self.name!r}')
        return latest

    def recover_after_failed_convert(self, sha512: str, created: bool) -> Optional[Current]:
        try:
            self.api.list_artifacts(refresh=True)
            current = find_published(self.api, self.target, self.name or '')
        except SfError:
            return None
        if current.newest and current.newest.sha512 == sha512:
            self.action('the conversion answered with an error but the version was stored; continuing')
            return current
        if created and current.artifact and not current.newest:
            # Some servers leave an empty artifact behind a failed conversion: remove what we caused.
            self.api.delete_artifact(current.artifact.uuid)
            self.action('removed the empty artifact the failed conversion left behind', changed=False)
        return None

    def remove_bad_version(self, latest: Current, created: bool) -> None:
        if latest.artifact and latest.newest:
            if created and len(latest.artifact.blobs) <= 1:
                self.api.delete_artifact(latest.artifact.uuid)
            else:
                self.api.delete_version(latest.artifact.uuid, latest.newest.index)

    def present_from_controller_download(self) -> None:
        import requests  # Guarded by the client build, which fails first when requests is missing.

        url = self.params['url']
        temp_dir = self.params['checksum_cache_dir'] if os.path.isdir(self.params['checksum_cache_dir']) else None
        fd, temp = tempfile.mkstemp(prefix='sf-download-', dir=temp_dir)
        try:
            import hashlib

            digest = hashlib.sha512()
            try:
                with requests.get(url, stream=True, timeout=self.client.settings.timeout) as response:
                    if response.status_code != 200:
                        raise SfInvalidInput(f'downloading {url} answered HTTP {response.status_code}')
                    with os.fdopen(fd, 'wb') as handle:
                        for block in response.iter_content(chunk_size=4 * MIB):
                            digest.update(block)
                            handle.write(block)
            except requests.exceptions.RequestException as exc:
                raise SfTransportError(f'downloading {url} failed: {exc.__class__.__name__}') from None
            self.action(f'downloaded {url} ({os.path.getsize(temp)} bytes)', changed=False)
            self.present_from_file(temp, sha512=digest.hexdigest())
        finally:
            if os.path.exists(temp):
                os.unlink(temp)

    # URLs the cluster fetches
    def present_from_cluster_fetch(self) -> None:
        params = self.params
        url = params['url']
        current = find_fetched(self.api, self.target, url)
        before = current.summary()
        self.name = artifact_name(url) if not self.name else self.name
        if self.check_mode:
            if current.artifact:
                self.action(f'would ask the cluster to check {url} for new content', changed=False)
            else:
                self.action(f'would ask the cluster to fetch {url} into namespace {self.target!r}')
            self.finish(self.apply_settings(current), before)
            return
        previous_index = current.artifact.index if current.artifact else 0
        artifact = self.api.cache_url(url, namespace=self.target, shared=bool(params['shared']))
        if params['wait']:
            artifact = wait_for_fetch(self.api, artifact.uuid, previous_index, params['wait_timeout'], self.log)
            if artifact.state == 'error':
                raise SfServerError(f'the cluster could not fetch {url}: '
                                    f'{artifact.error_message or "the server gave no reason"}')
        current = current_of(self.api, artifact)
        if current.newest and current.artifact and current.artifact.index > previous_index:
            if self.expected_sha512 and current.newest.sha512 != self.expected_sha512:
                self.remove_bad_version(current, previous_index == 0)
                raise SfInvalidInput(f'{url} has sha512 {current.newest.sha512}, not the expected '
                                     f'{self.expected_sha512}; the fetched version was removed')
            self.action(f'the cluster fetched {url} as version {current.newest.index}')
        else:
            self.action(f'{url} is unchanged', changed=False)
        self.finish(self.apply_settings(current), before)

    # Settings and label
    def apply_settings(self, current: Current) -> Current:
        params = self.params
        artifact = current.artifact
        if artifact is None:
            return current
        wanted = params['max_versions']
        if wanted is not None and wanted != artifact.max_versions:
            self.action(f'{"would set" if self.check_mode else "set"} max_versions to {wanted}')
            if not self.check_mode:
                self.api.set_max_versions(artifact.uuid, wanted)
        if params['shared'] is not None and params['shared'] != artifact.shared:
            verb = 'share' if params['shared'] else 'unshare'
            self.action(f'{"would " if self.check_mode else ""}{verb} the artifact')
            if not self.check_mode:
                getattr(self.api, verb)(artifact.uuid)
        if not self.check_mode and self.result['changed']:
            current = current_of(self.api, self.api.get_artifact(artifact.uuid))
        return current

    def label_text(self, manager: LabelManager) -> str:
        label = self.params['label']
        # A bare label name lives in the artifact's namespace, like the artifact itself.
        return label if '/' in label or self.target == manager.caller else f'{self.target}/{label}'

    def check_label_write(self) -> None:
        """Refuse a label this namespace may not write before anything is uploaded."""
        if not self.params['label']:
            return
        manager = LabelManager(self.api, self.resolver, self.check_mode)
        namespace, name, _explicit = split_label_name(self.label_text(manager), manager.caller)
        before = manager.read(namespace, name)
        check_write(manager.caller, before, creating=not before.exists, shared=None, trusts=self.api.namespace_trusts)

    def point_label(self, current: Current) -> Optional[Dict[str, Any]]:
        """Point the label through the same code as sf_label: sharing rules, idempotency, recorded source."""
        label = self.params['label']
        if not label:
            return None
        manager = LabelManager(self.api, self.resolver, self.check_mode)
        text = self.label_text(manager)
        predicted = getattr(self, 'predicted', None)
        if predicted or current.newest is None:
            # Check mode with content that is not in the cluster yet: nothing to resolve, so predict.
            namespace, name, _explicit = split_label_name(text, manager.caller)
            before = manager.read(namespace, name)
            check_write(manager.caller, before, creating=not before.exists, shared=None,
                        trusts=self.api.namespace_trusts)
            self.label_before = before.diff_view()
            self.label_after = {**self.label_before, 'exists': True, 'target': canonical_ref(current.artifact)
                                if current.artifact else None, 'sha512': (predicted or {}).get('sha512')}
            self.action(f'would point label {before.ref} at the new version of {self.name!r}')
            return {'ref': before.ref, 'uuid': before.uuid, 'blob_uuid': None,
                    'version': (before.current.version + 1) if before.current else 1}
        request = LabelRequest(target=canonical_ref(current.artifact), target_version=current.newest.index)
        outcome = manager.ensure_present(text, request)
        for warning in outcome.warnings:
            self.warn(warning)
        for action in outcome.actions:
            self.action(action)
        if not outcome.changed:
            self.action(f'label {outcome.after.ref} already points at this content', changed=False)
        self.label_before = outcome.before.diff_view()
        self.label_after = outcome.after.diff_view()
        after = outcome.after.current
        return {'ref': outcome.after.ref, 'uuid': outcome.after.uuid, 'version': after.version if after else None,
                'blob_uuid': after.blob_uuid if after else None}

    def finish(self, current: Current, before: Dict[str, Any]) -> None:
        label = self.point_label(current)
        if label:
            self.result['label'] = label
        after = current.summary()
        predicted = getattr(self, 'predicted', None)
        if predicted:
            after.update(predicted)
            after['exists'] = True
        if self.check_mode:
            if self.params['max_versions'] is not None:
                after['max_versions'] = self.params['max_versions']
            if self.params['shared'] is not None:
                after['shared'] = self.params['shared']
        if label:
            before['label'] = self.label_before
            after['label'] = self.label_after
        self.set_diff(before, after)
        artifact = current.artifact
        if artifact:
            self.result['artifact'] = {
                'uuid': artifact.uuid, 'namespace': artifact.namespace, 'name': artifact_name(artifact.source_url),
                'type': artifact.artifact_type, 'state': artifact.state, 'shared': artifact.shared,
                'max_versions': artifact.max_versions}
            self.result['ref'] = canonical_ref(artifact)
        if current.newest:
            newest = current.newest
            self.result['version'] = {'index': newest.index, 'blob_uuid': newest.uuid, 'sha512': newest.sha512,
                                      'size': newest.size}
            self.result['disk_base'] = f'sf://blob/{newest.uuid}'

    # state: absent
    def absent(self) -> None:
        current = find_published(self.api, self.target, self.name or '')
        before = current.summary()
        artifact = current.artifact
        version = self.params['version']
        if artifact is None:
            self.action(f'no artifact {self.name!r} in namespace {self.target!r}', changed=False)
            self.set_diff(before, before)
            return
        if version is not None:
            if version not in artifact.blobs:
                self.action(f'{self.name!r} has no version {version}', changed=False)
                self.set_diff(before, before)
                return
            self.action(f'{"would delete" if self.check_mode else "deleted"} version {version} of {self.name!r}')
            if not self.check_mode:
                self.api.delete_version(artifact.uuid, version)
            after = dict(before)
            remaining = sorted(index for index in artifact.blobs if index != version)
            after.update({'version': remaining[-1] if remaining else None, 'exists': bool(remaining)})
            self.set_diff(before, after)
            return
        self.action(f'{"would delete" if self.check_mode else "deleted"} artifact {self.name!r} ({artifact.uuid})')
        if not self.check_mode:
            self.api.delete_artifact(artifact.uuid)
        self.set_diff(before, {'exists': False})


def main() -> None:
    ImagePublish()()


if __name__ == '__main__':
    main()
