# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publishing a URL the cluster fetches, over the URL's whole lifecycle.

- A new URL, or one whose last fetch failed: ask the cluster to fetch it, and wait for *that* fetch (its own
  cluster operation), never for an outcome left by an earlier one: a URL fixed after a 404 then succeeds.
- A URL fetched before: ask the cluster to check it; a new version means the content changed. A server without
  cluster operations (0.7.2) keeps such an artifact `created` while it checks, so the end of that fetch is read
  from the artifact's events (`artifact fetch complete`, or a failure that keeps the cached version).
- Check mode cannot fetch, so it asks the URL itself (HEAD) whether the content changed since the newest version
  was fetched, and says in `url_check` when the answer does not tell.
"""

from __future__ import annotations

import contextlib
import re
from email.utils import parsedate_to_datetime
from typing import Any, Dict, List, Optional, Tuple

from ._errors import SfError, SfInvalidInput, SfNotFound, SfServerError, SfTimeout
from ._models import Artifact
from ._plan import Plan, Step
from ._publish_state import Current, PublishContext, current_of, read_fetched

OP_TYPE = 'artifact_fetch_op'
TERMINAL_OPS = ('complete', 'error', 'abort', 'deleted')
# The events a fetch of an artifact that already has versions ends with, on servers without cluster operations.
FETCH_DONE = 'artifact fetch complete'
FETCH_FAILED = ('updating image failed, using already cached version', 'artifact fetch failed')
EVENTS_READ = 50
NO_REASON = 'the server gave no reason'
# How a fetch failure says the URL's server answered 404 or 410 (the emulator: `HTTP 404 Not Found`; Shaken Fist's
# images.py: `(status code 404)`, though 0.7.2 turns every fetch failure into `DNS error` before saying so).
SOURCE_GONE = re.compile(r'(?:\bHTTP|\bstatus code)\s*(?:404|410)\b')


class UrlPublish:
    """The image the cluster fetches from the request's URL: `read()` what it holds, then `plan()` its steps."""

    def __init__(self, context: PublishContext) -> None:
        self.context = context
        self.api = context.api
        self.request = context.request
        self.run = context.run
        self.url = self.request.url or ''
        self.before = Current()

    def read(self) -> Current:
        # Runs on this host take turns per artifact from this first read to the last write, so a later run plans
        # over what the one before it fetched (and finds an unchanged URL unchanged).
        self.context.lock_artifact()
        return read_fetched(self.api, self.request.target, self.url)

    def reread(self) -> Current:
        return read_fetched(self.api, self.request.target, self.url, refresh=True)

    def plan(self, plan: Plan, current: Current) -> None:
        """Add the steps to `plan`, over what `read()` found."""
        request, url = self.request, self.url
        self.before = current
        artifact = current.artifact
        changes: Optional[bool] = True
        if artifact is not None:
            self.context.settings(plan, True)  # retention first: a new version must not trim what is kept
        if artifact is None:
            plan.add('fetch', f'ask the cluster to fetch {url} into namespace {request.target!r}', self._fetch)
        elif artifact.state == 'error':
            plan.add('fetch', f'ask the cluster to fetch {url} again (the last fetch failed: '
                              f'{artifact.error_message or "no reason given"})', self._fetch)
        elif self.context.predict:
            check = self.run.url_check = self.check_url(current)
            changes = check['changed']
            if changes is False:
                plan.note(f'{url} is unchanged since version {current.newest.index if current.newest else "?"} '
                          f'was fetched ({check["reason"]})')
            else:
                plan.add('fetch', f'ask the cluster to fetch the new content of {url} ({check["reason"]})',
                         self._fetch)
        else:
            plan.add('fetch', f'ask the cluster to check {url} for new content', self._fetch)
        if artifact is None:
            self.context.settings(plan, False)
        self.context.label(plan, (current.newest.uuid, current.newest.sha512) if current.newest and not changes
                           else None)
        # Check mode's view (Publisher.predict_artifact adds the settings asked for): a new version if it changed.
        plan.after = current.summary()
        self.run.version = current.newest if changes is False else None
        if changes is not False:
            plan.after.update({'exists': True, 'state': 'created', 'version': None, 'sha512': request.checksum,
                               'size': None})
        plan.result = self.run.result()

    # Check mode: ask the URL itself
    def check_url(self, current: Current) -> Dict[str, Any]:
        """Whether the content at the URL differs from the newest version, as far as its headers tell."""
        newest = current.newest
        found: Dict[str, Any] = {'url': self.url, 'changed': None}
        try:
            headers = self._headers()
        except SfError as exc:
            found['reason'] = f'cannot tell: asking {self.url} failed ({exc})'
            return found
        length = headers.get('length')
        modified = headers.get('last_modified')
        found.update({'size': length, 'last_modified': modified, 'etag': headers.get('etag')})
        changed: Optional[bool] = True
        if newest is None:
            reason = 'nothing was fetched yet'
        elif length is not None and newest.size is not None and length != newest.size:
            reason = f'its size is {length} bytes, the newest version has {newest.size}'
        elif modified is not None and newest.fetched_at and modified > newest.fetched_at:
            reason = 'it was modified after the newest version was fetched'
        elif length is not None and modified is not None and newest.fetched_at and modified + 1 < newest.fetched_at:
            changed, reason = False, 'same size, and not modified since the newest version was fetched'
        else:
            changed, reason = None, ('cannot tell: the server does not say when the content last changed, or it '
                                     'changed within a second of the fetch; a real run would fetch it')
        found.update({'changed': changed, 'reason': reason})
        return found

    def _headers(self) -> Dict[str, Any]:
        try:
            response = self.api.open_url(self.url, method='HEAD')
        except SfError as exc:
            if exc.status not in (405, 501):
                raise
            response = self.api.open_url(self.url, headers={'Range': 'bytes=0-0'})
        with response:
            headers = response.headers
            text = headers.get('Content-Range', '').rpartition('/')[2] if response.status_code == 206 else \
                headers.get('Content-Length')
            length = int(text) if text and text.strip().isdigit() else None
            modified: Optional[float] = None
            with contextlib.suppress(TypeError, ValueError):  # no date, or not one
                modified = parsedate_to_datetime(headers.get('Last-Modified', '')).timestamp()
            return {'length': length, 'last_modified': modified, 'etag': headers.get('ETag')}

    # The fetch step
    def _fetch(self, step: Step) -> None:
        request, run = self.request, self.run
        self.context.lock_artifact()
        before = self.before
        previous_op = before.artifact.op_uuid if before.artifact else None
        mark = self._events_mark(before.artifact)
        answer = self.api.cache_url(self.url, namespace=request.target, shared=bool(request.shared))
        run.artifact, run.created = answer, before.artifact is None
        if not request.wait:
            fresh = before.artifact is None or before.artifact.state == 'error'
            step.changed = fresh
            step.result = (f'asked the cluster to fetch {self.url}' + (f' (operation {answer.op_uuid})'
                                                                       if answer.op_uuid else '')
                           + '; not waiting, so whether the content changed is not known yet')
            return
        final, failure = self.wait(answer, previous_op, before, mark)
        run.artifact = final
        if failure == NO_REASON:
            failure = self._reason_in_events(final) or failure
        if failure is not None:
            raise fetch_failed(self.url, failure)
        now = current_of(self.api, final)
        new = [v for v in now.versions if v.index not in before.indexes]
        expected = request.checksum
        if new:
            run.version = new[0]
            if expected and new[0].sha512 != expected:
                if len(new) == 1:
                    self.api.delete_version(final.uuid, new[0].index)
                raise SfInvalidInput(f'{self.url} has sha512 {new[0].sha512}, not the expected {expected}; the '
                                     f'version this run fetched ({new[0].index}) was removed')
            step.result = f'the cluster fetched {self.url} as version {new[0].index}'
            return
        run.version = now.newest
        step.changed = False
        step.result = f'{self.url} is unchanged' + (f' (version {now.newest.index})' if now.newest else '')
        if expected and now.newest and now.newest.sha512 != expected:
            raise SfInvalidInput(f'{self.url} has sha512 {now.newest.sha512}, not the expected {expected}')

    def wait(self, answer: Artifact, previous_op: Optional[str], before: Current, mark: Optional[float] = None
             ) -> Tuple[Artifact, Optional[str]]:
        """Wait for the fetch this run asked for: its own cluster operation when the server reports one, else the
        artifact (and, for one fetched before, its events). An error state left by an earlier fetch is not this
        fetch's answer. Returns the artifact and why the fetch failed (None when it did not)."""
        op = answer.op_uuid if answer.op_uuid and answer.op_uuid != previous_op else None
        watch_op = op is not None and self.api.features.cluster_operations
        previous = before.artifact
        seen: Dict[str, str] = {'now': 'asked'}

        def done() -> Optional[Tuple[Artifact, Optional[str]]]:
            if watch_op:
                try:
                    state = self.api.get_operation(OP_TYPE, op or '').state
                except SfNotFound:
                    state = 'complete'  # finished operations are removed after a while
                seen['now'] = f'operation {op} {state}'
                if state not in TERMINAL_OPS:
                    return None
                return _with_failure(self.api.get_artifact(answer.uuid))
            artifact = self.api.get_artifact(answer.uuid)
            seen['now'] = f'artifact {artifact.state}'
            if mark is None:  # a new artifact, or a server with operations that gave none: its state tells
                # (a server that cannot report operations gives nothing better than leaving `initial`)
                settled = artifact.state != 'initial' and not _same_error(artifact, previous)
                return _with_failure(artifact) if settled else None
            return self._refetched(artifact, before, mark)

        try:
            return self.api.wait_until(done, self.request.wait_timeout, f'the cluster fetched {self.url}')
        except SfTimeout:
            raise SfTimeout(f'the cluster did not finish fetching {self.url} within '
                            f'{self.request.wait_timeout:.0f}s ({seen["now"]})',
                            hint='raise wait_timeout, or set wait: false and check later') from None

    def _events_mark(self, artifact: Optional[Artifact]) -> Optional[float]:
        """Without cluster operations, the newest event of an artifact fetched before, so that only the events of
        this run's fetch count (timestamps are the server's own, so clocks need not agree)."""
        if artifact is None or not artifact.blobs or self.api.features.cluster_operations:
            return None
        events = self._events(artifact)
        # Events out of reach: the artifact's state is all there is to follow.
        return None if events is None else max((_stamp(e) for e in events), default=0.0)

    def _events(self, artifact: Artifact) -> Optional[List[Dict[str, Any]]]:
        """The artifact's latest events, oldest first; None when they cannot be read."""
        try:
            events = self.api.artifact_events(artifact.uuid, EVENTS_READ, owner=artifact.namespace)
        except SfError:
            return None
        return sorted(events, key=_stamp)

    def _reason_in_events(self, artifact: Artifact) -> Optional[str]:
        """Why the newest fetch failed, from the artifact's events, for a server whose artifact view has no
        error_message (0.7.2)."""
        for event in sorted(self._events(artifact) or [], key=_stamp, reverse=True):
            if str(event.get('message') or '') in FETCH_FAILED:
                return _event_reason(event)
        return None

    def _refetched(self, artifact: Artifact, before: Current, mark: float) -> Optional[Tuple[Artifact, Optional[str]]]:
        """A fetch of an artifact that has versions, on a server that keeps it `created` meanwhile: done when a
        new version appears, or its events say the fetch ended (0.7.2 keeps the cached version on a failure and
        only says so in an event), or it turned to a new error."""
        if any(index not in before.indexes for index in artifact.blobs):
            return artifact, None
        # Events unreadable now: the version and the state still tell, or the deadline does.
        for event in self._events(artifact) or []:
            if _stamp(event) <= mark:
                continue
            message = str(event.get('message') or '')
            if message == FETCH_DONE:
                return artifact, None
            if message in FETCH_FAILED:
                return artifact, f'{_event_reason(event) or NO_REASON} (the cluster keeps the versions it had)'
        if artifact.state == 'error' and not _same_error(artifact, before.artifact):
            return _with_failure(artifact)
        return None


def _same_error(artifact: Artifact, previous: Optional[Artifact]) -> bool:
    """Whether the artifact is in the error it was in before our request: not our fetch's outcome."""
    return (previous is not None and previous.state == 'error' and artifact.state == 'error'
            and artifact.error_message == previous.error_message)


def _stamp(event: Dict[str, Any]) -> float:
    return float(event.get('timestamp') or 0)


def _with_failure(artifact: Artifact) -> Tuple[Artifact, Optional[str]]:
    failure = (artifact.error_message or NO_REASON) if artifact.state == 'error' else None
    return artifact, failure


def _event_reason(event: Dict[str, Any]) -> Optional[str]:
    extra: Dict[str, Any] = event['extra'] if isinstance(event.get('extra'), dict) else {}
    why = extra.get('message') or extra.get('error')
    return str(why) if why else None


def fetch_failed(url: str, failure: str) -> SfError:
    """The error for a fetch the cluster reports failed: `not_found` naming the URL when the URL's server answered
    404 or 410 (in the emulator's words, `HTTP 404`, or Shaken Fist's, `status code 404`), else `server_error`."""
    message = f'the cluster could not fetch {url}: {failure}'
    if SOURCE_GONE.search(failure):
        return SfNotFound(message, detail={'url': url},
                          hint='the server of the URL answered the cluster that there is nothing there: check the URL '
                               '(a typo, or a file moved or not published yet) and run the task again')
    return SfServerError(message, detail={'url': url},
                         hint='fix the URL (or make it reachable from the cluster) and run the task again')
