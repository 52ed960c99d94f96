# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publishing a local file (or a file downloaded on the controller): content-addressed, resumable, read once.

The plan, by what is known before anything is written:
- the content is already the artifact's newest version: nothing to do;
- a blob with this sha512 exists: add it as a version, uploading nothing;
- otherwise upload (resuming what a killed earlier run sent), then add the upload as a version.
The sha512 comes from the checksum cache when the file is unchanged; a new file is hashed while it uploads,
unless its size equals the newest version's (it may be unchanged: hash first, so a no-op sends no write) or the
plan is only shown (check mode). The version this run adds is identified by its blob and sha512 and verified;
a version this run did not add is never reported as its own, and never deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from typing import Optional, Tuple

from ._checksum import ChecksumCache, file_identity, file_sha512
from ._errors import SfError, SfInvalidInput, SfServerError, SfTimeout, SfTransportError
from ._models import ArtifactVersion
from ._plan import Plan, Step
from ._publish_state import Current, PublishContext, current_of, read_upload, read_uuid
from ._refs import upload_url
from ._upload import abandon, upload_file
from ._words import human, plural

UNKNOWN_OUTCOME = (SfServerError, SfTransportError, SfTimeout)
DOWNLOAD_BLOCK = 4 * 1024 * 1024
UPLOADS = 'uploads'
UPLOAD_RECORD_DAYS = 7  # servers drop abandoned uploads after a day (older docs) to a week (newer code)


def _answered(exc: SfError) -> bool:
    """Whether the server answered (it is done with the request), as opposed to no answer at all."""
    return isinstance(exc, SfServerError) and exc.status is not None


class FilePublish:
    """The file at `path`, or the one `download` leaves here: `read()` what its name holds (under the file's lock),
    then `plan()` its steps over that."""

    def __init__(self, context: PublishContext, path: str = '', download: Optional[str] = None) -> None:
        self.context = context
        self.api = context.api
        self.request = context.request
        self.run = context.run
        self.cache = ChecksumCache(context.state if self.request.checksum_cache else None)
        self.path = path
        self.download = download
        self.sha512: Optional[str] = None  # of a download, hashed as it arrived
        self.identity = ''
        self.size = 0
        self.before = Current()

    @property
    def ref(self) -> str:
        return upload_url(self.request.target, self.request.name or '')

    def reread(self) -> Current:
        return read_upload(self.api, self.request.target, self.request.name or '', refresh=True)

    # Planning
    def read(self) -> Current:
        if self.download:
            self._download(self.download)
        path = self.path
        self.size, self.identity = os.path.getsize(path), file_identity(path)
        # Runs on this host publishing this same file go one at a time; the later ones find the content there. Each
        # run downloads to a file of its own, so downloads take turns by the content they brought.
        what = f'content:{self.sha512}' if self.download else f'file:{os.path.realpath(path)}:{self.identity}'
        self.context.locks.take(f'{what}:{self.api.url}:{self.api.namespace}')
        return read_upload(self.api, self.request.target, self.request.name or '')

    def plan(self, plan: Plan, current: Current, refusable: bool) -> Tuple[Optional[str], Optional[str]]:
        """Add the steps to `plan`, over what `read()` found. Returns the content the label would point at (blob,
        sha512). `refusable`: whether this run may be refused once its content is known."""
        request, run, path = self.request, self.run, self.path
        self.before = current
        if self.download:
            plan.note(f'downloaded {self.download} ({human(self.size)}) on this host', kind='download')
        # Whatever fails after the upload and before the conversion took its bytes, nothing stays behind.
        plan.on_failure.append(self._discard_upload)
        newest = current.newest
        sha512 = self.sha512 or self.cache.get(path)
        if sha512 is None and self._hash_first(newest, refusable):
            started = time.monotonic()
            sha512, cached = file_sha512(path, self.cache)
            took = 'cached' if cached else f'{time.monotonic() - started:.2f}s'
            self.context.log(f'sha512 of {path}: {sha512} ({took})')
        if sha512 is not None:
            self._check_expected(sha512)
            run.sha512 = sha512
        existing = current.artifact is not None
        if sha512 is not None and newest is not None and newest.sha512 == sha512:
            run.version = newest
            plan.note(f'version {newest.index} of {self.ref} already has this content')
            self.context.settings(plan, True)
            self.context.label(plan, (newest.uuid, newest.sha512))
            return self._predict(plan, newest)
        if existing:
            self.context.settings(plan, True)
        blob = self.api.find_blob_by_sha512(sha512) if sha512 else None
        if blob is not None:
            run.reuse_blob = blob.uuid
        else:
            how = 'reading it once: hashing while sending' if sha512 is None else 'sha512 already known'
            plan.add('upload', f'upload {human(self.size)} from {path} ({how})', self._upload)
        what = f'blob {blob.uuid}, which already has this content (no upload),' if blob else 'the upload'
        plan.add('add_version', f'add {what} as a new version of {self.ref} in namespace {request.target!r}',
                 self._add_version)
        if not existing:
            self.context.settings(plan, False)
        self.context.label(plan, (blob.uuid, sha512) if blob else None)
        return self._predict(plan, None, blob.uuid if blob else None)

    def _hash_first(self, newest: Optional[ArtifactVersion], refusable: bool) -> bool:
        """Whether to hash before uploading instead of while uploading: in check mode, when the file may be unchanged,
        and when whether this run may go on hangs on the content (`refusable`): know it before sending anything."""
        if self.context.predict or refusable or (newest is not None and newest.size == self.size):
            return True
        expected = self.request.checksum
        # The expected content may be there already: verify the file before relying on that.
        return bool(expected and ((newest is not None and newest.sha512 == expected)
                                  or self.api.find_blob_by_sha512(expected)))

    def _check_expected(self, sha512: str) -> None:
        expected = self.request.checksum
        if expected and sha512 != expected:
            raise SfInvalidInput(f'{self.path} has sha512 {sha512}, not the expected {expected}; nothing was '
                                 'uploaded')

    def _predict(self, plan: Plan, newest: Optional[ArtifactVersion], blob_uuid: Optional[str] = None
                 ) -> Tuple[Optional[str], Optional[str]]:
        """Check mode's view of the result and the diff: `newest` when the content is there, else a new version
        (with `blob_uuid` when an existing blob would be reused; an upload's blob has no UUID yet)."""
        run, current, request = self.run, self.before, self.request
        after = current.summary()
        result = run.result()
        if newest is None:
            index = (max(current.indexes) if current.indexes else 0) + 1
            after.update({'exists': True, 'state': 'created', 'version': index, 'sha512': run.sha512,
                          'size': self.size, 'versions': sorted(current.indexes | {index})})
            result['version'] = {'index': index, 'blob_uuid': blob_uuid, 'sha512': run.sha512, 'size': self.size}
            # An upload's blob has no UUID before it is sent: null, as in version.blob_uuid.
            result['disk_base'] = f'sf://blob/{blob_uuid}' if blob_uuid else None
        if request.max_versions:  # retention trims the oldest (Publisher.predict_artifact shows the settings)
            after['versions'] = after['versions'][-request.max_versions:]
        plan.after, plan.result = after, result
        return blob_uuid or (newest.uuid if newest else None), run.sha512

    # Resuming what a killed run sent
    def _record_key(self) -> str:
        return f'{self.api.url}|{self.api.namespace}|{os.path.realpath(self.path)}'

    def _resume_point(self) -> Tuple[Optional[str], int]:
        state = self.context.state
        record = state.read(UPLOADS, self._record_key()) if state else None
        if state is None or not record or not record.get('upload_uuid'):
            return None, 0
        uuid = str(record['upload_uuid'])
        if record.get('identity') != self.identity:
            self._drop(uuid, 'the file changed since')
            return None, 0
        try:
            held = self.api.upload_size(uuid)
        except SfError as exc:
            self.context.log(f'upload {uuid} of an earlier run cannot be resumed: {exc}')
            state.remove(UPLOADS, self._record_key())
            return None, 0
        if held > self.size:
            self._drop(uuid, 'it holds more bytes than the file')
            return None, 0
        return uuid, held

    def _sweep(self) -> None:
        """Empty the uploads earlier killed runs left on this server for files that are gone or changed since (no
        run can resume them), unless a run of that file holds its lock right now; forget records older than the
        server keeps uploads."""
        state = self.context.state
        if state is None:
            return
        prefix = f'{self.api.url}|{self.api.namespace}|'
        for record in state.entries(UPLOADS):
            key = str(record.get('key', ''))
            if not key.startswith(prefix) or key == self._record_key():
                continue
            if time.time() - float(record.get('written') or 0) > UPLOAD_RECORD_DAYS * 86400:
                state.remove(UPLOADS, key)
                continue
            path = key[len(prefix):]
            try:
                identity: Optional[str] = file_identity(path)
            except OSError:
                identity = None
            if identity == record.get('identity'):
                continue
            lock = f'file:{self.api.url}:{self.api.namespace}:{path}:{record.get("identity")}'
            with state.lock(lock, blocking=False) as free:
                if free and record.get('upload_uuid'):
                    self.context.log(f'emptying upload {record["upload_uuid"]} of an interrupted run: {path} is '
                                     'gone or changed')
                    abandon(self.api, str(record['upload_uuid']))
                    state.remove(UPLOADS, key)

    def _drop(self, uuid: str, why: str) -> None:
        self.context.log(f'dropping upload {uuid} of an earlier run: {why}')
        abandon(self.api, uuid)
        self._forget_upload()

    def _remember(self, uuid: str) -> None:
        self.run.upload_uuid = uuid
        if self.context.state:
            self.context.state.write(UPLOADS, self._record_key(), {'upload_uuid': uuid, 'identity': self.identity,
                                                                   'size': self.size, 'pid': os.getpid()})

    def _forget_upload(self) -> None:
        """This run's upload is done with (converted, dropped or abandoned): nothing is left to resume or empty."""
        self.run.upload_uuid = None
        if self.context.state:
            self.context.state.remove(UPLOADS, self._record_key())

    # Steps
    def _upload(self, step: Step) -> None:
        run, request = self.run, self.request
        self._sweep()
        resume_uuid, resume_from = self._resume_point()
        run.upload_uuid = resume_uuid
        try:
            outcome = upload_file(self.api, self.path, self.size, chunk_size=request.chunk_size,
                                  retries=self.api.retries, hash_content=run.sha512 is None, resume_uuid=resume_uuid,
                                  resume_from=resume_from, on_created=self._remember, log=self.context.log)
        except SfError:
            # A clean failure leaves nothing behind (a killed run leaves its record, for the next run to resume).
            self._discard_upload()
            raise
        run.upload_uuid, run.uploaded_bytes, run.resumed_bytes = outcome.upload_uuid, outcome.sent_bytes, \
            outcome.resumed_bytes
        run.throughput = round(outcome.sent_bytes / max(outcome.duration, 1e-6), 1) if outcome.sent_bytes else None
        words = [f'uploaded {human(outcome.sent_bytes)} in {outcome.duration:.2f}s'
                 + (', hashed while sending' if outcome.sha512 else '')]
        if outcome.resumed_bytes:
            words.append(f'resumed {plural(outcome.resumed_bytes, "byte")} an interrupted earlier run had sent')
        if outcome.retried_chunks:
            words.append(f'{plural(outcome.retried_chunks, "chunk")} resumed after errors')
        if outcome.sha512:
            run.sha512 = outcome.sha512
            self.cache.put(self.path, self.identity, outcome.sha512)
            try:
                self._check_expected(outcome.sha512)
            except SfInvalidInput as exc:
                self._discard_upload()
                message = str(exc).replace('nothing was uploaded', 'the upload was dropped and nothing was published')
                raise SfInvalidInput(message) from None
            blob = self.api.find_blob_by_sha512(outcome.sha512)
            if blob is not None:
                # The bytes were there all along: dropping the upload leaves the cluster as it was.
                self._discard_upload()
                run.reuse_blob = blob.uuid
                step.changed = False
                words.append(f'the cluster already had this content as blob {blob.uuid}, so the upload was dropped')
        step.result = '; '.join(words)

    def _discard_upload(self) -> None:
        if self.run.keep_upload:
            return
        if self.run.upload_uuid:
            abandon(self.api, self.run.upload_uuid)
            self.run.upload_uuid = None
        self._forget_upload()

    def _add_version(self, step: Step) -> None:
        run, request = self.run, self.request
        self.context.lock_artifact()
        # The world as it is now, under the lock: another run may have added this content meanwhile.
        before = self.before.artifact
        now = read_uuid(self.api, before.uuid) if before is not None else self.reread()
        newest = now.newest
        if newest is not None and run.sha512 and newest.sha512 == run.sha512:
            self._discard_upload()
            run.artifact, run.version = now.artifact, newest
            step.changed = False
            step.result = f'version {newest.index} of {self.ref} already has this content (published concurrently)'
            return
        if now.artifact is not None and request.max_versions and now.artifact.max_versions != request.max_versions:
            # Created meanwhile by another run: retention first, so our version does not trim what is kept.
            self.api.set_max_versions(now.artifact.uuid, request.max_versions)
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.api.convert_upload(
                    request.name or '', namespace=request.target, source_url=self.ref,
                    artifact_type=request.artifact_type, blob_uuid=run.reuse_blob,
                    upload_uuid=None if run.reuse_blob else run.upload_uuid)
                break
            except UNKNOWN_OUTCOME as exc:
                if self._recover(now, step, exc):
                    return
                if not _answered(exc):
                    # No answer: the server may still be converting. Emptying the upload now could turn that into
                    # a version of nothing, so it is left for the server (and the next run) as it is.
                    self.run.keep_upload = True
                    raise SfTimeout(f'the conversion into {self.ref} did not answer ({exc}) and no version appeared '
                                    f'within {self.api.timeout:.0f}s; it may still finish',
                                    hint='run the task again: it finds the version if the conversion finished, and '
                                         'converts again if not') from None
                if attempt > self.api.retries or not self._upload_intact():
                    self._clean_after_failed_convert(now)
                    raise
                # The server answered that it failed, and our upload is whole: nothing was converted, so again.
                self.api.pause(attempt, f'conversion into {self.ref} failed ({exc}); converting again')
            except SfError:
                # Refused (a 4xx): some servers leave an empty artifact behind even then (0.7.2 on a vanished blob).
                self._clean_after_failed_convert(now)
                raise
        self._forget_upload()
        run.created = now.artifact is None
        self._identify(now, current_of(self.api, answer), answer.blob_uuid, step)

    def _identify(self, before: Current, after: Current, answered_blob: Optional[str], step: Step) -> None:
        """Find and verify the version this run added: it holds our blob (reuse) or the blob the conversion answered
        with, which the server adds under the artifact's lock; it must carry our sha512."""
        run = self.run
        run.artifact = after.artifact
        mine_blob = run.reuse_blob or answered_blob
        new = [v for v in after.versions if v.index not in before.indexes]
        ours = [v for v in new if v.uuid == mine_blob]
        if ours and ours[0].sha512 is None:
            run.version = ours[0]
            step.result = f'added version {ours[0].index} of {self.ref} (the cluster has no sha512 for it yet)'
            self.context.warnings.append(f'version {ours[0].index} of {self.ref} could not be verified: the cluster '
                                         'did not report its sha512')
            return
        if ours and ours[0].sha512 == run.sha512:
            run.version = ours[0]
            step.result = f'added version {ours[0].index} of {self.ref}' + (
                f' from blob {run.reuse_blob} (no upload)' if run.reuse_blob else '')
            return
        same = [v for v in after.versions if v.sha512 == (run.sha512 or '')]
        if not ours and same:
            # The server skipped our add: its newest version already had these bytes (another run put them there).
            run.version = same[0]
            step.changed = False
            step.result = f'version {same[0].index} of {self.ref} already has this content (published concurrently)'
            return
        if ours:
            # Provably ours (our blob, new) but not our bytes: remove it, so nothing half-made stays behind.
            bad = ours[0]
            if before.artifact is None and len(after.versions) == 1 and after.artifact is not None:
                self.api.delete_artifact(after.artifact.uuid)
            elif after.artifact is not None:
                self.api.delete_version(after.artifact.uuid, bad.index)
            raise SfServerError(f'the cluster stored content with sha512 {bad.sha512}, not {run.sha512}, as version '
                                f'{bad.index} of {self.ref}; that version, which this run added, was removed')
        kept = ', '.join(f'{v.index}' for v in after.versions) or 'none'
        raise SfServerError(f'the cluster kept no version of {self.ref} with sha512 {run.sha512} (versions now: '
                            f'{kept}); nothing was removed, because none of them was provably added by this run',
                            hint='another client may be changing this artifact at the same time; run the task again')

    def _upload_intact(self) -> bool:
        """Whether this run's upload still holds the whole file (so no conversion took it)."""
        if self.run.reuse_blob:
            return True
        try:
            return self.api.upload_size(self.run.upload_uuid or '') == self.size
        except SfError:
            return False

    def _recover(self, before: Current, step: Step, error: SfError) -> bool:
        """The conversion's outcome is unknown (an error answer, a timeout, a dropped connection): the server may
        still be working on it. Watch for our version for up to the request timeout before giving up; after an
        answer (a 5xx) the server is done with the request, so one look is enough."""
        run = self.run

        def stored() -> Optional[bool]:
            with contextlib.suppress(SfError):
                now = self.reread()
                found = [v for v in now.versions if v.index not in before.indexes and v.sha512 == run.sha512]
                if found:
                    self._forget_upload()
                    run.artifact, run.version = now.artifact, found[0]
                    step.result = (f'added version {found[0].index} of {self.ref} (the conversion answered '
                                   f'"{error}", but the version was stored)')
                    return True
            return None

        try:
            return self.api.wait_until(stored, 0 if _answered(error) else self.api.timeout,
                                       f'the version the conversion answered "{error}" to is stored')
        except SfTimeout:
            return False

    def _clean_after_failed_convert(self, before: Current) -> None:
        """Remove what the failed conversion left that this run caused: its upload, and an empty artifact that did
        not exist before (some servers create the artifact before failing)."""
        self._discard_upload()
        if before.artifact is not None:
            return
        with contextlib.suppress(SfError):
            now = self.reread()
            if now.artifact is not None and not now.versions:
                self.api.delete_artifact(now.artifact.uuid)

    # Controller downloads
    def _download(self, url: str) -> None:
        """Download `url` here (hashing as it arrives), to publish the file like src."""
        state = self.context.state
        folder = state.path if state and os.path.isdir(state.path) else None
        fd, temp = tempfile.mkstemp(prefix='sf-download-', dir=folder)
        self.context.cleanup.append(lambda: os.unlink(temp))
        digest = hashlib.sha512()
        try:
            with os.fdopen(fd, 'wb') as handle, self.api.open_url(url) as answer:
                # Through the transport: a download that breaks off is a typed error naming the URL, not an OSError
                # (requests' errors are OSErrors) taken for this host's disk.
                for block in answer.blocks(DOWNLOAD_BLOCK):
                    digest.update(block)
                    handle.write(block)
        except OSError as exc:
            raise SfInvalidInput(f'cannot store the download of {url} on this host: {exc.strerror}') from None
        if os.path.getsize(temp) == 0:
            raise SfInvalidInput(f'{url} is empty')
        self.path, self.sha512 = temp, digest.hexdigest()
