# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publishing images as a domain object: validate, read, plan; the module only applies the plan.

Sources: a local file and a controller download (_publish_file.py), a URL the cluster fetches (_publish_url.py).
This file holds what they share: validation, retention and sharing steps, the label step, deletion, the result.
A source gets only a PublishContext: it reads what its name or URL holds, and adds its steps to the plan started
here over that; the steps after (metadata, pruning) and check mode's artifact and label are added here.
The guarantees under concurrency are described in docs/publishing.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from functools import partial
from typing import Any, Callable, Dict, Optional, Tuple

from ._api import SfApi
from ._confirm import artifact_gone, artifact_is, version_gone
from ._errors import SfForbidden, SfInvalidInput, SfNotFound
from ._label_plan import LabelPlanner, Written
from ._labels import SERVER_DEFAULT_MAX_VERSIONS, LabelRequest, LabelState, LabelVersion, check_write
from ._local_state import Locks, StateDir
from ._metadata import add_metadata_steps, check_metadata, user_metadata
from ._options import check_wait_timeout
from ._plan import Plan, Step
from ._prune import plan_prune
from ._publish_file import FilePublish
from ._publish_state import (
    MIB,
    Current,
    PublishContext,
    PublishRequest,
    PublishRun,
    read_fetched,
    read_upload,
    read_uuid,
)
from ._publish_url import UrlPublish
from ._refs import artifact_name, is_uuid, upload_url, validate_count, validate_name, validate_sha512
from ._resolver import Resolver

Log = Callable[[str], None]


def artifact_uuid_in(name: Optional[str]) -> Optional[str]:
    """The UUID an `sf://artifact/<uuid>` or bare UUID name refers to, else None."""
    if not name:
        return None
    text = name[len('sf://artifact/'):] if name.startswith('sf://artifact/') else name
    return text.lower() if is_uuid(text) else None


def _holds(version: Optional[LabelVersion], blob_uuid: Optional[str], sha512: Optional[str]) -> bool:
    """Whether a label version is this content: the same blob, or the same (known) sha512."""
    return bool(version and (version.blob_uuid == blob_uuid or (version.sha512 and version.sha512 == sha512)))


class Publisher:
    """One publish run: `plan()` reads the cluster and returns the steps; locks are held until `close()`."""

    def __init__(self, api: SfApi, resolver: Resolver, request: PublishRequest, *, predict: bool = False,
                 log: Optional[Log] = None) -> None:
        self.api = api
        # No target_namespace: the caller's own namespace (also for an empty one).
        self.request = request = request if request.target else dataclasses.replace(request, target=api.namespace)
        # predict: the plan will be shown, not applied (check mode), so work out everything a prediction needs.
        self.predict = predict
        # 0 asks for the cluster default; views show the value in effect, which for 0 is the default (3).
        self.max_versions = None if request.max_versions is None else request.max_versions or \
            SERVER_DEFAULT_MAX_VERSIONS
        self.run = PublishRun()
        state = StateDir(request.state_dir) if request.state_dir else None
        self.context = PublishContext(api, request, self.run, predict, state, Locks(state),
                                      log or (lambda message: None), self.add_settings, self.add_label)
        label = request.label or ''
        # A bare label name lives in the artifact's namespace, like the artifact itself.
        if '/' not in label and request.target != api.namespace:
            label = f'{request.target}/{label}'
        self.labels = LabelPlanner(api, resolver, LabelRequest(name=label, create=request.label_create),
                                   self.context.locks)
        self.before = Current()
        self.label_before: Optional[LabelState] = None
        self.label_moved: Optional[LabelVersion] = None
        # Why this namespace may not move the label, when it exists and someone else owns it: only a run that would
        # move it fails (a label already at this content is no change, whoever may write it).
        self.label_refusal: Optional[SfForbidden] = None
        self.owner_refusal: Optional[SfForbidden] = None
        self.read_again: Callable[[], Current] = Current

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for action in self.context.cleanup:
            with contextlib.suppress(OSError):
                action()
        self.context.locks.release()

    # Validation happens before anything is read or written, so bad input changes nothing.
    def validate(self) -> None:
        request = self.request
        validate_name(request.target, 'target_namespace')
        if request.max_versions is not None:
            validate_count(request.max_versions, 'max_versions', 0, ' (0: the cluster default)')
        if request.chunk_size < MIB or request.chunk_size > 512 * MIB:
            raise SfInvalidInput('chunk_size must be between 1 and 512 MiB')
        check_wait_timeout(request.wait_timeout)
        if request.shared and request.target != 'system':
            raise SfForbidden(f'only artifacts of the system namespace can be shared; this one would belong to '
                              f'{request.target!r}', hint='publish as system (namespace: system) to share an image')
        if request.url and not request.url.startswith(('http://', 'https://')):
            raise SfInvalidInput(f'url must be an http:// or https:// URL, got {request.url!r}')
        request.metadata = check_metadata(request.metadata, request.metadata_mode)
        if request.state == 'absent':
            if request.prune_unused:
                raise SfInvalidInput('prune_unused is only used with state: present')
            if request.metadata is not None:
                raise SfInvalidInput('metadata is only used with state: present')
            if request.version is not None and request.version < 1:
                raise SfInvalidInput('version numbers start at 1')
            if not request.name and not request.url:
                raise SfInvalidInput('state absent needs name (an artifact name, UUID or sf://artifact/<uuid>) '
                                     'or url')
            if request.name and not artifact_uuid_in(request.name):
                validate_name(request.name, 'name')
            return
        if request.version is not None:
            raise SfInvalidInput('version is only used with state: absent')
        validate_count(request.keep_newest, 'keep_newest', 1)
        if not request.src and not request.url:
            raise SfInvalidInput('one of src or url is required with state: present')
        if request.name is not None:
            validate_name(request.name, 'name')
        if request.checksum:
            request.checksum = validate_sha512(request.checksum)
        if (request.src or request.fetch == 'controller') and not request.name:
            raise SfInvalidInput('name is required when publishing a file')
        if request.src:
            path = request.src
            if not os.path.exists(path):
                raise SfInvalidInput(f'src {path} does not exist')
            if not os.path.isfile(path):
                raise SfInvalidInput(f'src {path} is not a regular file')
            if not os.access(path, os.R_OK):
                raise SfInvalidInput(f'src {path} is not readable')
            if os.path.getsize(path) == 0:
                raise SfInvalidInput(f'src {path} is empty')
        if request.label and request.url and request.fetch == 'cluster' and not request.wait:
            raise SfInvalidInput('label needs wait: true for a URL the cluster fetches (there is no version to point '
                                 'at until the fetch finished)')
        if request.artifact_type == 'other' and request.url and request.fetch == 'cluster':
            raise SfInvalidInput('the cluster only fetches URLs as images; use fetch: controller for type other')

    # Planning
    def plan(self) -> Plan:
        plan = self._plan()
        if self.owner_refusal is not None and plan.changes:
            raise self.owner_refusal  # still before any write: planning only reads
        return plan

    def _plan(self) -> Plan:
        self.validate()
        request = self.request
        if request.state == 'absent':
            return self.plan_absent()
        self.check_label()
        if request.url and request.fetch == 'cluster':
            fetch = UrlPublish(self.context)
            plan = self.new_plan(fetch.read(), fetch.reread)
            fetch.plan(plan, self.before)
        else:
            # A controller download is published like src, once it is here.
            upload = FilePublish(self.context, request.src or '', download=request.url)
            plan = self.new_plan(upload.read(), upload.reread)
            content = upload.plan(plan, self.before, self.label_refusal is not None or self.owner_refusal is not None)
            self.predict_label(plan, *content)
        if self.predict:
            self.predict_artifact(plan)
        self.add_metadata(plan)
        if request.prune_unused and self.before.artifact is not None:
            # A fetch may add nothing (the URL is unchanged): only a certain add counts towards keep_newest.
            adding = any(step.kind == 'add_version' for step in plan.steps)
            report = plan_prune(plan, self.api, self.before.artifact, self.before.versions, request.keep_newest,
                                adding)
            plan.result['pruned'] = self.run.pruned = report
        return plan

    def predict_artifact(self, plan: Plan) -> None:
        """Check mode's artifact, as the real run leaves it: the max_versions (in effect) and sharing asked for, and
        for an artifact this run would create, everything known before it exists (its UUID is null)."""
        request = self.request
        view = plan.result.get('artifact')
        if self.before.artifact is None or view is None:
            fetched = bool(request.url and request.fetch == 'cluster')
            source_url = request.url or '' if fetched else upload_url(request.target, request.name or '')
            view = {'uuid': None, 'namespace': request.target, 'name': artifact_name(source_url),
                    'type': 'image' if fetched else request.artifact_type,
                    'state': 'created' if request.wait or not fetched else 'initial', 'shared': False,
                    'max_versions': SERVER_DEFAULT_MAX_VERSIONS, 'source_url': source_url, 'error_message': None,
                    'metadata': {}}
            # An upload is named by its namespace and name; a fetched image only by its UUID, not known yet.
            plan.result['ref'] = None if fetched else source_url
            plan.after.update({'shared': False, 'max_versions': SERVER_DEFAULT_MAX_VERSIONS})
        if self.max_versions is not None:
            view['max_versions'] = plan.after['max_versions'] = self.max_versions
        if request.shared is not None:
            view['shared'] = plan.after['shared'] = request.shared
        plan.result['artifact'] = view

    def new_plan(self, current: Current, read_again: Callable[[], Current]) -> Plan:
        """A plan over `current`, whose finish re-reads with `read_again`.

        Writes go by ownership, never by visibility: only the owner or system may change an artifact. Checked here
        because some servers (0.7.2) let a namespace that is trusted change what it does not own; `plan` refuses a
        plan that would change such an artifact."""
        artifact, caller = current.artifact, self.api.namespace
        if artifact is not None and caller not in ('system', artifact.namespace):
            # Refused only when the plan would change it: asking again for what is there is no change, whoever asks.
            self.owner_refusal = SfForbidden(
                f'{artifact.ref} is owned by namespace {artifact.namespace!r}; namespace {caller!r} may read it but '
                'only its owner or system may change or delete it', hint='run the task as that namespace or as system')
        self.before = current
        self.read_again = read_again
        self.run.artifact = current.artifact
        before = current.summary()
        if self.label_before is not None:
            before['label'] = self.label_before.diff_view()
        return Plan(before=before, finish=self.finish, warnings=self.context.warnings)

    # Retention and sharing
    def add_settings(self, plan: Plan, existing: bool) -> None:
        """max_versions and shared. For an existing artifact retention is set before a new version is added, so
        adding it never trims a version the user asked to keep; a new artifact gets it right after creation."""
        request = self.request
        artifact, in_effect = self.before.artifact, self.max_versions
        wanted = request.max_versions
        if wanted is not None and (not existing or artifact is None or artifact.max_versions != in_effect):
            # Views show the value in effect (a stored 0 reads as the server default), so an artifact this run
            # created gets the setting written even when the view already shows it: the user chose it explicitly.
            plan.add('set_max_versions', f'set max_versions to {wanted}', self._setting(
                lambda a: a.max_versions == in_effect and not self.run.created,
                lambda uuid: self.api.set_max_versions(uuid, wanted)),
                artifact_is(self.api, self.artifact_uuid, lambda a: a.max_versions == wanted))
        if request.shared is not None and (not existing or artifact is None or artifact.shared != request.shared):
            shared = request.shared
            verb = 'share' if shared else 'unshare'
            plan.add(verb, f'{verb} the artifact', self._setting(
                lambda a: a.shared == shared, self.api.share if shared else self.api.unshare),
                artifact_is(self.api, self.artifact_uuid, lambda a: a.shared == shared))

    def add_metadata(self, plan: Plan) -> None:
        """The user's metadata keys, one write per key that differs (never the whole dict: a concurrent run's keys
        stay), after the version so a failed upload leaves the metadata as it was."""
        request, artifact = self.request, self.before.artifact
        if request.metadata is None:
            return
        before: Dict[str, Any] = {}
        if artifact is not None:
            before = dict(artifact.metadata)
            if self.api.features.artifact_metadata:
                # Some servers leave metadata out of artifact views; the metadata route has it all.
                before.update(self.api.get_metadata(artifact.uuid))
        what = artifact.ref if artifact is not None else 'the artifact'
        after = add_metadata_steps(plan, self.api, partial(self._target, 'metadata could be set'), what, before,
                                   request.metadata, request.metadata_mode)
        plan.before['metadata'], plan.after['metadata'] = user_metadata(before), after
        if 'artifact' in plan.result:
            plan.result['artifact']['metadata'] = after

    def _target(self, what: str) -> str:
        """The UUID of the artifact a step changes: this run's, or (created by an earlier step) read again."""
        uuid = self.artifact_uuid()
        if not uuid:
            now = self.read_again()
            uuid = now.artifact.uuid if now.artifact else ''
        if not uuid:
            raise SfNotFound(f'the artifact disappeared before its {what}')
        return uuid

    def artifact_uuid(self) -> str:
        return self.run.artifact.uuid if self.run.artifact else ''

    def _setting(self, already: Callable[[Any], bool], change: Callable[[str], Any]) -> Callable[[Step], None]:
        def run(step: Step) -> None:
            self.context.lock_artifact()
            uuid = self._target('settings could be applied')
            if already(self.api.get_artifact(uuid)):
                step.changed = False
                step.result = f'{step.text}: already so'
                return
            change(uuid)

        return run

    # The label
    def check_label(self) -> None:
        """Refuse a label this namespace may not write (or a typo, with label_create false) before any upload."""
        if not self.request.label:
            return
        before = self.label_before = self.labels.check(sharing=False)
        try:
            check_write(self.labels.caller, before, creating=not before.exists, shared=None,
                        trusts=self.api.namespace_trusts)
        except SfForbidden as exc:
            if not before.exists:
                raise
            self.label_refusal = exc

    def add_label(self, plan: Plan, pointing_at: Optional[Tuple[str, Optional[str]]]) -> None:
        """Point the label at this run's version. `pointing_at` is (blob, sha512) when already known (the content
        is there), else None: the version only exists once the steps before this one ran."""
        before = self.label_before
        if before is None:
            return
        if pointing_at and _holds(before.current, *pointing_at):
            plan.note(f'label {before.ref} already points at this content')
            return
        if self.label_refusal is not None:
            raise self.label_refusal
        wanted = LabelVersion(before.newest_version + 1, pointing_at[0] if pointing_at else '')
        step = self.labels.add_point(plan, before, wanted, Written(before.uuid), pending='the version this task adds')
        point = step.run

        def run(step: Step) -> None:
            version, artifact = self.run.version, self.run.artifact
            if version is None or artifact is None:
                raise SfNotFound('there is no version to point the label at')
            if _holds(before.current, version.uuid, version.sha512):
                step.changed = False
                step.result = f'label {before.ref} already points at this content'
                return
            wanted.blob_uuid, wanted.sha512, wanted.size = version.uuid, version.sha512, version.size
            wanted.resolved_from = {'input': self.request.name or self.request.url, 'ref': artifact.ref,
                                    'version': version.index}
            if point is not None:
                point(step)
            if step.changed:
                self.label_moved = wanted

        step.run = run

    # Deleting
    def plan_absent(self) -> Plan:
        request = self.request
        uuid = artifact_uuid_in(request.name)
        if uuid:
            what, reader = f'sf://artifact/{uuid}', partial(read_uuid, self.api, uuid)
        elif request.name:
            what, reader = repr(request.name), partial(read_upload, self.api, request.target, request.name, True)
        else:
            what, reader = request.url or '', partial(read_fetched, self.api, request.target, request.url or '', True)
        # Runs on this host take turns per artifact: one deletes it and says so, the others find it gone.
        self.context.lock_artifact()
        current = reader()
        plan = self.new_plan(current, reader)
        artifact, version = current.artifact, request.version
        after = current  # check mode's view
        if artifact is None:
            plan.note(f'no artifact {what} in namespace {request.target!r}')
        elif version is not None and version not in current.indexes:
            plan.note(f'{what} has no version {version}')
        elif version is not None:
            plan.add('delete_version', f'delete version {version} of {what} ({artifact.uuid})',
                     lambda step: self.api.delete_version(artifact.uuid, version),
                     version_gone(self.api, artifact.uuid, version))
            # Deleting its only version deletes the artifact.
            after = Current() if [version] == sorted(current.indexes) else \
                Current(artifact, [v for v in current.versions if v.index != version])
        else:
            plan.add('delete', f'delete artifact {what} ({artifact.uuid}, state {artifact.state})',
                     lambda step: self.api.delete_artifact(artifact.uuid), artifact_gone(self.api, artifact.uuid))
            after = Current()
        plan.after = after.summary()
        self.run.version = current.newest
        plan.result = self.run.result()
        return plan

    # After the steps ran
    def finish(self) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        made = self.run.artifact
        # What the artifact holds now. By UUID when this run knows it (one cheap read; a listing can take a second
        # on a busy 0.7.2 cluster), else through the listing (a deleted or not yet created artifact).
        now = self.read_again() if made is None or self.request.state == 'absent' else read_uuid(self.api, made.uuid)
        if now.artifact is None and made is not None and self.request.state == 'present':
            # Deleted by someone else since this run wrote: say so, and still report what this run made.
            self.context.warnings.append(f'{made.ref} ({made.uuid}) was deleted by another client after this task '
                                         'wrote it')
            self.run.artifact = made.model_copy(update={'state': 'deleted'})
        else:
            self.run.artifact = now.artifact
            if self.run.version is not None:
                self.run.version = next((v for v in now.versions if v.uuid == self.run.version.uuid),
                                        self.run.version)
        after = now.summary()
        if self.label_before is not None:
            label = self.labels.reader.reread(self.label_before.namespace, self.label_before.name)
            after['label'] = label.diff_view()
            # This run's own move (another run may have moved the label again since); else the label as it is.
            pointed = self.label_moved or label.current
            self.run.label = {'ref': label.ref, 'uuid': label.uuid, 'version': pointed.version if pointed else None,
                              'blob_uuid': pointed.blob_uuid if pointed else None}
        return after, self.run.result()

    def predict_label(self, plan: Plan, blob_uuid: Optional[str], sha512: Optional[str]) -> None:
        """The label as the run leaves it, pointing at the content `blob_uuid` / `sha512` (an upload's blob has no
        UUID before it is sent)."""
        before = self.label_before
        if before is None:
            return
        current = before.current
        version, pointed = before.newest_version + 1, blob_uuid
        if current and _holds(current, blob_uuid, sha512):
            version, pointed = current.version, current.blob_uuid
        view = before.diff_view()
        if version != view.get('version'):
            artifact = self.before.artifact
            view.update({'exists': True, 'version': version, 'blob_uuid': blob_uuid, 'sha512': sha512,
                         'target': artifact.ref if artifact else None,
                         'versions': [version] + list(view.get('versions') or [])})
        plan.after['label'] = view
        plan.result['label'] = {'ref': before.ref, 'uuid': before.uuid, 'version': version, 'blob_uuid': pointed}
