# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watching artifacts for the sf_artifact_events event source: its arguments, its state file, and one poll.

A poll is one artifact listing, diffed (`_artifact_changes`) against what was seen; a label that moved has its
events read, best effort, to say who moved it. What was seen is kept in memory and, with a state file, on disk
(written atomically after the poll's events were handed on), so a restart emits only what changed meanwhile.
Blocking and synchronous: the event source runs it in a thread. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional

from ._api import SfApi
from ._artifact_changes import ARTIFACT_TYPES, BlobOwners, Scope, Seen, SeenArtifact, changes, seen_in
from ._errors import SfError, SfInvalidInput
from ._http import backoff_delay as schedule
from ._refs import validate_name

CONNECTION_ARGS = ('api_url', 'namespace', 'key', 'validate_certs', 'ca_path', 'timeout', 'retries')
WATCH_ARGS = ('namespaces', 'include_shared', 'names', 'types', 'interval', 'max_backoff', 'state_file',
              'emit_initial', 'who')
DEFAULT_INTERVAL = 30.0
DEFAULT_MAX_BACKOFF = 300.0
STATE_FORMAT = 1
WHO_EVENTS = 50  # a label's newest events read to find the one that moved it
ADDED_INDEX = re.compile(r'\bindex (\d+)\b', re.IGNORECASE)  # 0.7.2: 'Added index 4 to artifact'
TRUE_WORDS = ('1', 'true', 'yes', 'on')
FALSE_WORDS = ('0', 'false', 'no', 'off', '')


@dataclass(frozen=True)
class WatchOptions:
    connection: Dict[str, Any]
    scope_names: Optional[FrozenSet[str]]  # None: the authenticated namespace (known once connected)
    all_namespaces: bool
    include_shared: bool
    names: Optional[FrozenSet[str]]
    types: Optional[FrozenSet[str]]
    interval: float
    max_backoff: float
    state_file: Optional[str]
    emit_initial: bool
    who: bool

    def scope(self, own_namespace: str) -> Scope:
        namespaces = None if self.all_namespaces else (self.scope_names or frozenset([own_namespace]))
        return Scope(namespaces, self.include_shared, self.names, self.types)

    @classmethod
    def from_args(cls, args: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None) -> WatchOptions:
        """The event source's arguments, checked; an SfInvalidInput names the first wrong one. Arguments EDA itself
        adds (eda_*) are ignored; any other unknown one is a mistake (a misspelt argument would silently be
        ignored otherwise)."""
        environ = os.environ if environ is None else environ
        unknown = sorted(str(name) for name in args if str(name) not in CONNECTION_ARGS + WATCH_ARGS
                         and not str(name).startswith('eda_'))
        if unknown:
            raise SfInvalidInput(f'unknown argument(s) {", ".join(unknown)}; the arguments are: '
                                 f'{", ".join(CONNECTION_ARGS + WATCH_ARGS)}')
        connection = {name: args.get(name) for name in CONNECTION_ARGS}
        if connection['validate_certs'] is None and environ.get('SHAKENFIST_VALIDATE_CERTS') is not None:
            connection['validate_certs'] = environ['SHAKENFIST_VALIDATE_CERTS']
        if connection['validate_certs'] is not None:
            connection['validate_certs'] = boolean(connection['validate_certs'], 'validate_certs')
        if connection['ca_path'] is None:
            connection['ca_path'] = environ.get('SHAKENFIST_CA_PATH') or None
        namespaces = strings(args.get('namespaces'), 'namespaces')
        every = namespaces is not None and '*' in namespaces
        if every and len(namespaces or ()) > 1:
            raise SfInvalidInput("namespaces: '*' (every namespace you can see) stands alone")
        for name in (namespaces or frozenset()) - {'*'}:
            validate_name(name, 'namespaces entry')
        types = strings(args.get('types'), 'types')
        if types is not None and not types <= set(ARTIFACT_TYPES):
            raise SfInvalidInput(f'types: {", ".join(sorted(types - set(ARTIFACT_TYPES)))} is not one of '
                                 f'{", ".join(ARTIFACT_TYPES)}')
        interval = seconds(args.get('interval'), 'interval', DEFAULT_INTERVAL)
        max_backoff = seconds(args.get('max_backoff'), 'max_backoff', max(DEFAULT_MAX_BACKOFF, interval))
        if max_backoff < interval:
            raise SfInvalidInput(f'max_backoff ({max_backoff:g}s) must not be shorter than interval ({interval:g}s)')
        return cls(connection=connection, scope_names=None if every else namespaces, all_namespaces=every,
                   include_shared=boolean(args.get('include_shared', False), 'include_shared'),
                   names=strings(args.get('names'), 'names'), types=types, interval=interval,
                   max_backoff=max_backoff, state_file=state_path(args.get('state_file')),
                   emit_initial=boolean(args.get('emit_initial', False), 'emit_initial'),
                   who=boolean(args.get('who', True), 'who'))


def boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise SfInvalidInput(f'{what} must be true or false, got {value!r}')


def strings(value: Any, what: str) -> Optional[FrozenSet[str]]:
    """A list of names (a single string is a list of one); None when not given."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) and v for v in values):
        raise SfInvalidInput(f'{what} must be a non-empty list of names, got {value!r}')
    return frozenset(values)


def seconds(value: Any, what: str, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise SfInvalidInput(f'{what} must be a positive number of seconds, got {value!r}')
    return number


def state_path(value: Any) -> Optional[str]:
    if value in (None, ''):
        return None
    if not isinstance(value, str):
        raise SfInvalidInput(f'state_file must be a path, got {value!r}')
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.isdir(os.path.dirname(path)):
        raise SfInvalidInput(f'state_file {value}: the directory {os.path.dirname(path)} does not exist')
    return path


def backoff_delay(interval: float, failures: int, cap: float) -> float:
    """Seconds to wait after `failures` polls failed in a row: the collection's one backoff schedule, from the
    interval, doubled per failure, at most `cap`, jittered down to half so sources that failed together spread."""
    return schedule(min(failures, 64), cap=cap, base=interval)


class ArtifactWatcher:
    """Polls one cluster for changes in `scope`. `poll()` returns the events since the last `commit()`; the event
    source hands them on, then commits, so a crash between the two re-emits at worst (never loses)."""

    def __init__(self, api: SfApi, scope: Scope, state_file: Optional[str] = None, *, emit_initial: bool = False,
                 who: bool = True, log: Optional[Callable[[str], None]] = None) -> None:
        self.api = api
        self.scope = scope
        self.state_file = state_file
        self.emit_initial = emit_initial
        self.who = who
        self.log = log or (lambda message: None)
        self.seen: Optional[Seen] = None  # None: no baseline yet
        self._pending: Optional[Seen] = None

    @property
    def identity(self) -> Dict[str, Any]:
        """What a state file belongs to: another cluster, login or scope starts a new baseline instead of a diff."""
        return {'api_url': self.api.url, 'namespace': self.api.namespace, 'scope': self.scope.to_json()}

    def load(self) -> None:
        """Read the state file, if there is one. A file that is not what commit() writes is an SfInvalidInput (the
        event source refuses to start); one written for another cluster, login or scope is logged and ignored."""
        if not self.state_file or not os.path.exists(self.state_file):
            return
        try:
            with open(self.state_file, encoding='utf-8') as handle:
                raw = json.load(handle)
            if raw.get('format') != STATE_FORMAT:
                raise ValueError(f'format {raw.get("format")!r}, not {STATE_FORMAT}')
            seen = {str(uuid): SeenArtifact.from_json(str(uuid), item) for uuid, item in raw['artifacts'].items()}
            identity = raw['identity']
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SfInvalidInput(f'state_file {self.state_file} cannot be read: {exc.__class__.__name__}: {exc}',
                                 hint='delete it to start from a new baseline (nothing already there is emitted)'
                                 ) from None
        if identity != self.identity:
            self.log(f'state_file {self.state_file} was written for {identity.get("api_url")} as '
                     f'{identity.get("namespace")} with other arguments: starting from a new baseline')
            return
        self.seen = seen

    def poll(self) -> List[Dict[str, Any]]:
        listing = self.api.list_artifacts(refresh=True)
        now = seen_in(listing, self.scope)
        before = self.seen
        if before is None and not self.emit_initial:
            self._pending = now
            return []
        before = before or {}
        owners = BlobOwners(before.values(), (SeenArtifact.of(artifact) for artifact in listing))
        events = changes(before, now, owners)
        if self.who:
            found: Dict[str, List[Dict[str, Any]]] = {}
            for event in events:
                if event['type'] == 'label_moved':
                    event['who'] = self._who(event, found)
        self._pending = now
        return events

    def commit(self) -> None:
        """What the last poll saw becomes what was seen; written to the state file (an OSError is raised after
        memory is updated, so the events handed on are never emitted again by this run)."""
        if self._pending is None:
            return
        self.seen, self._pending = self._pending, None
        if self.state_file:
            write_atomically(self.state_file, {
                'format': STATE_FORMAT, 'identity': self.identity,
                'artifacts': {uuid: item.to_json() for uuid, item in sorted(self.seen.items())}})

    def _who(self, event: Dict[str, Any], found: Dict[str, List[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
        """The label's event that added its new version: the API request and node that did it (Shaken Fist
        records no key on artifact events). None when the server cannot say; a failure never fails the poll
        (0.7.2 reads events from an eventlog node that may be down)."""
        uuid = event['artifact_uuid']
        if uuid not in found:
            try:
                found[uuid] = self.api.artifact_events(uuid, WHO_EVENTS, owner=event['namespace'])
            except SfError as exc:
                self.log(f'the events of label {event["namespace"]}/{event["label"]} cannot be read, so who moved '
                         f'it is not known: {exc}')
                found[uuid] = []
        for row in found[uuid]:
            if added_index(row) == event['to_version']:
                extra = row.get('extra')
                request_id = extra.get('request-id') if isinstance(extra, dict) else None
                return {'request_id': request_id, 'node': row.get('fqdn'), 'timestamp': row.get('timestamp'),
                        'message': row.get('message')}
        return None


def added_index(row: Mapping[str, Any]) -> Optional[int]:
    """The version an event says was added: `extra.index` (the emulator, newer servers) or the message's number
    (0.7.2: 'Added index 4 to artifact'); None for any other event."""
    message = str(row.get('message') or '')
    if 'delete' in message.lower() or 'remove' in message.lower():
        return None
    extra = row.get('extra')
    if isinstance(extra, dict) and isinstance(extra.get('index'), int) and 'added' in message.lower():
        return int(extra['index'])
    match = ADDED_INDEX.search(message)
    return int(match.group(1)) if match and 'added' in message.lower() else None


def write_atomically(path: str, data: Dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path`, flush it to disk, then rename it over `path`: a reader (or a
    restart after a crash) sees the old file or the new one, never half of one."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path) + '.')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
