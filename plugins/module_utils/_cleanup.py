# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cleaning a namespace as a Plan: instances, then networks, then the artifacts it owns, then the namespace.

Everything is read first and every keep filter applied, so the plan (check mode) is exactly what a real run
deletes: objects are deleted by UUID, `concurrency` at a time, never through the server's bulk routes, which would
also take what appeared after the plan was read (and, asked for system, every namespace's instances and
networks). Pending objects are polled together, one listing per round, with the shared backoff. While the instances
go, what waits for none of them goes too: a network once the instances on it are gone, an artifact no instance boots
from and no label points at; anything a view does not account for waits for its step, as it did. Shared artifacts
are never deleted, nor anything another namespace owns.
See docs/cleanup.md.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ._api import LISTING_POLL_BASE, LISTING_POLL_CAP, SfApi
from ._durations import parse_duration
from ._errors import SfConflict, SfError, SfForbidden, SfInvalidInput, SfNotFound, SfTimeout, outcome_unknown
from ._filters import first_pattern, metadata_matches
from ._index import ArtifactIndex
from ._local_state import DEFAULT_STATE_DIR, Locks, StateDir
from ._models import Artifact, Instance
from ._network_users import why_network_stays
from ._object_metadata import read_metadata
from ._options import Options, check_wait_timeout, option, wait_option, wait_timeout_option
from ._plan import Plan, Step
from ._refs import validate_name
from ._resolver import Resolver
from ._words import plural

RESOURCES = ('instances', 'networks', 'artifacts')
KEEP_TYPES = ('image', 'label', 'snapshot', 'other')
GONE = {'instances': ('deleted',), 'networks': ('deleted', 'error')}  # an errored network is dead: nothing to delete
LIVE = ('initial', 'created', 'error')  # states in which an object asked to go is not (yet) being deleted
RETRY_EVERY = 3  # polling rounds between asking again for what the server refused or may not have done


@dataclass
class CleanupRequest(Options):
    """What sf_namespace_cleanup was asked for; the fields are its options."""

    target: str = option(type='str', required=True, name='target_namespace')
    resources: Sequence[str] = option(RESOURCES, type='list', elements='str', choices=list(RESOURCES))
    keep_names: Sequence[str] = option(type='list', elements='str', within='keep', name='names', unset=())
    keep_types: Sequence[str] = option(type='list', elements='str', choices=list(KEEP_TYPES), within='keep',
                                       name='types', unset=())
    keep_labelled: bool = option(False, type='bool', within='keep', name='labelled')
    keep_metadata: Dict[str, Any] = option(type='dict', within='keep', name='metadata', unset={})
    older_than: Any = option(type='str')
    delete_namespace: bool = option(False, type='bool')
    allow_system: bool = option(False, type='bool')
    missing_ok: bool = option(False, type='bool')
    wait: bool = wait_option()
    wait_timeout: float = wait_timeout_option()
    concurrency: int = option(8, type='int')


@dataclass
class Thing:
    """One object of the namespace, as the plan and the result name it."""

    kind: str  # instance, network, artifact
    uuid: str
    name: Optional[str]
    detail: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self, reason: Optional[str] = None) -> Dict[str, Any]:
        found = {'kind': self.kind, 'uuid': self.uuid, 'name': self.name, **self.detail}
        if reason is not None:
            found['reason'] = reason
        return found


@dataclass
class Survey:
    """What the namespace holds, split into what goes and what stays (with the reason)."""

    doomed: Dict[str, List[Thing]] = field(default_factory=lambda: {kind: [] for kind in RESOURCES})
    kept: List[Tuple[Thing, str]] = field(default_factory=list)


class Cleaner:
    def __init__(self, api: SfApi, resolver: Resolver, request: CleanupRequest, *,
                 clock: Callable[[], float] = time.time, state_dir: Optional[str] = DEFAULT_STATE_DIR) -> None:
        self.api = api
        self.locks = Locks(StateDir(state_dir) if state_dir else None)
        self.resolver = resolver  # cleaning resolves no names; taken for the one shape of the domain objects
        self.request = request
        self.clock = clock
        self.older_than: Optional[float] = None
        self.deleted: Dict[str, List[Dict[str, Any]]] = {kind: [] for kind in RESOURCES}
        self.failed: List[Dict[str, Any]] = []
        self.timed_out: Set[str] = set()
        self.unsure: Dict[str, str] = {}  # uuid -> the answer to a delete that may not have happened (or refused)
        self.timings: Dict[str, float] = {}
        self.unreadable: Dict[str, str] = {}  # uuid -> why its metadata could not be read
        self.survey = Survey()
        # Sent while the instances go: network uuid -> the doomed instances it waits for; artifacts that wait for none.
        self.blockers: Dict[str, Set[str]] = {}
        self.early_artifacts: Set[str] = set()
        self.sent: Set[str] = set()  # uuids whose delete went out early
        # Networks found in use by an instance this cleanup leaves alone when about to be deleted: uuid -> why.
        self.stays: Dict[str, Tuple[Thing, str]] = {}
        self.early: List[Future] = []
        self.early_pool: Optional[ThreadPoolExecutor] = None
        self.slots = threading.BoundedSemaphore(request.concurrency if 1 <= request.concurrency <= 64 else 1)

    def __enter__(self) -> Cleaner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.locks.release()

    # Validation, before anything is read
    def validate(self) -> None:
        request = self.request
        validate_name(request.target, 'target_namespace')
        unknown = [r for r in request.resources if r not in RESOURCES]
        if unknown or not request.resources:
            raise SfInvalidInput(f'resources must be a list drawn from {", ".join(RESOURCES)}; got '
                                 f'{", ".join(map(str, unknown)) or "nothing"}')
        for pattern in request.keep_names:
            if not isinstance(pattern, str) or not pattern:
                raise SfInvalidInput(f'keep.names must be non-empty shell-style patterns, got {pattern!r}')
        bad_types = [t for t in request.keep_types if t not in KEEP_TYPES]
        if bad_types:
            raise SfInvalidInput(f'keep.types must be drawn from {", ".join(KEEP_TYPES)}; got {", ".join(bad_types)}')
        if request.older_than is not None:
            self.older_than = parse_duration(request.older_than, 'older_than')
        if not 1 <= request.concurrency <= 64:
            raise SfInvalidInput('concurrency must be between 1 and 64')
        check_wait_timeout(request.wait_timeout)
        caller = self.api.namespace
        if caller != 'system' and request.target != caller:
            raise SfForbidden(f'namespace {caller!r} may only clean itself, not {request.target!r}',
                              hint='run the task as that namespace, or as system')
        if request.target == 'system' and not request.allow_system:
            raise SfForbidden('cleaning the system namespace needs allow_system: true (shared artifacts are never '
                              'deleted, even then)')
        if request.delete_namespace and caller != 'system':
            raise SfForbidden('only system may delete a namespace (delete_namespace needs the system key)')
        if request.delete_namespace and request.target == 'system':
            raise SfForbidden('the system namespace cannot be deleted')

    # Reading and filtering
    def plan(self) -> Plan:
        self.validate()
        request = self.request
        # Runs on this host take turns per namespace, from the first read to the last delete: a fork that waited
        # reads what the one before left, so each deletes and reports only what it deleted itself.
        self.locks.take(f'namespace:{self.api.url}:{request.target}')
        plan = Plan(finish=self.finish, partial=self._result)
        if not self._namespace_exists():
            if not request.missing_ok:
                raise SfNotFound(f'there is no namespace {request.target!r}',
                                 hint='check the name, or set missing_ok: true to treat it as clean')
            plan.note(f'namespace {request.target!r} does not exist: nothing to clean')
            plan.before = plan.after = {'exists': False}
            plan.finish = None  # nothing to read again: the after view is the plan's
            plan.result = self._result()
            return plan
        survey = self.survey = self.read()
        plan.before = self._view(survey, before=True)
        for kind in RESOURCES:
            if survey.doomed[kind]:
                self._add_deletes(plan, kind, survey.doomed[kind])
        for thing, reason in survey.kept:
            plan.note(f'keep {thing.kind} {thing.name or thing.uuid}: {reason}', kind='keep')
        if request.delete_namespace:
            if survey.kept:
                plan.note(f'keep namespace {request.target!r}: it still holds what the keep filters keep',
                          kind='keep')
            else:
                plan.add('delete_namespace', f'delete namespace {request.target!r}',
                         self._delete_namespace, lambda: not self._namespace_exists())
        plan.after = self._view(survey, before=False)
        plan.result = self._result(planned=True)
        return plan

    def _delete_namespace(self, step: Step) -> None:
        if self.stays:
            step.changed = False
            step.result = f'kept namespace {self.request.target!r}: ' + '; '.join(
                f'network {thing.name or thing.uuid} stays, {why}' for thing, why in self.stays.values())
            return
        self.api.delete_namespace(self.request.target)

    def _namespace_exists(self) -> bool:
        try:
            record = self.api.get_namespace(self.request.target)
        except SfNotFound:
            return False
        return record.state != 'deleted'

    def read(self) -> Survey:
        request, survey = self.request, Survey()
        target = request.target
        # The listings do not depend on each other: read them at the same time (one round trip, not three).
        readers: Dict[str, Callable[[], Any]] = {
            'instances': self.api.list_instances, 'networks': self.api.list_networks,
            'artifacts': lambda: self.api.index(refresh=True)}
        wanted = [kind for kind in RESOURCES if kind in request.resources]
        with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix='sf-cleanup-read') as pool:
            listed = dict(zip(wanted, pool.map(lambda kind: readers[kind](), wanted)))
        # Metadata is None where the listing left it out (0.7.2's network listing): read from its route below.
        things: Dict[str, List[Tuple[Thing, Optional[Dict[str, Any]], Optional[float]]]] = {
            kind: [] for kind in RESOURCES}
        for kind, gone in GONE.items():
            things[kind] = [(Thing(kind[:-1], o.uuid, o.name, {'state': o.state}), _listed_metadata(o), None)
                            for o in listed.get(kind, []) if o.namespace == target and o.state not in gone]
        if 'artifacts' in listed:
            index = listed['artifacts']
            pointed = {label.blob_uuid: label.ref for label in index.labels(None) if label.blob_uuid}
            candidates = []
            for artifact in index:
                if artifact.namespace != target:
                    continue  # visible here, owned elsewhere: never ours to delete
                thing = Thing('artifact', artifact.uuid, artifact.name,
                              {'type': artifact.artifact_type, 'ref': artifact.ref, 'shared': artifact.shared})
                if artifact.shared:
                    survey.kept.append((thing, 'shared with every namespace: never deleted by a cleanup'))
                    continue
                labelled = self._labelled(artifact, pointed) if request.keep_labelled else None
                if labelled:
                    survey.kept.append((thing, labelled))
                    continue
                if artifact.artifact_type in request.keep_types:
                    survey.kept.append((thing, f'its type is {artifact.artifact_type} (keep.types)'))
                    continue
                candidates.append((thing, artifact))
            ages = self._ages([artifact for _thing, artifact in candidates])
            things['artifacts'] = [(thing, _listed_metadata(artifact), ages.get(artifact.uuid))
                                   for thing, artifact in candidates]
        if request.keep_metadata:
            things = self._with_metadata(things)
        for kind in RESOURCES:
            for thing, metadata, age in things[kind]:
                keep = self._keep_reason(thing, metadata, age)
                if keep:
                    survey.kept.append((thing, keep))
                else:
                    survey.doomed[kind].append(thing)
        if survey.doomed['networks']:
            self._networks_in_use(survey, listed['instances'] if 'instances' in listed else self.api.list_instances())
        if 'instances' in listed:
            self._link(survey, listed['instances'], listed.get('artifacts'))
        return survey

    def _networks_in_use(self, survey: Survey, instances: List[Instance]) -> None:
        """Keep each doomed network that an instance this cleanup leaves alone is on (_network_users); one read of
        its interfaces each, `concurrency` at once. A network gone meanwhile is neither kept nor deleted."""
        ours = {t.uuid for t in survey.doomed['instances']}
        states, names = {i.uuid: i.state for i in instances}, {i.uuid: i.name for i in instances}
        networks = survey.doomed['networks']

        def check(thing: Thing) -> Optional[str]:
            try:
                return why_network_stays(self.api, thing.uuid, ours, states, names)
            except SfNotFound:
                return ''

        with ThreadPoolExecutor(max_workers=min(self.request.concurrency, len(networks)),
                                thread_name_prefix='sf-cleanup-interfaces') as pool:
            reasons = list(pool.map(check, networks))
        survey.doomed['networks'] = [thing for thing, why in zip(networks, reasons) if why is None]
        survey.kept.extend((thing, why) for thing, why in zip(networks, reasons) if why)

    def _link(self, survey: Survey, instances: List[Instance], index: Optional[ArtifactIndex]) -> None:
        """What may go while the doomed instances are still going. A network waits for the doomed instances on it
        (all of them when a view does not say which networks it is on); an artifact may go early only when no live
        instance boots from it or names it, it is no label and no label points at it, and every live instance's
        view says what it boots from."""
        doomed = {t.uuid for t in survey.doomed['instances']}
        live = [i for i in instances if i.state not in GONE['instances']]
        on: Dict[str, Set[str]] = {}
        unknown = {i.uuid for i in live if i.uuid in doomed and not i.carries('interfaces')}
        for instance in live:
            if instance.uuid in doomed:
                for interface in instance.interfaces:
                    on.setdefault(str(interface.get('network_uuid')), set()).add(instance.uuid)
        self.blockers = {t.uuid: on.get(t.uuid, set()) | unknown for t in survey.doomed['networks']}
        used: Set[str] = set()  # blobs a live instance boots from
        for instance in live:
            blobs = [str(d['blob_uuid']) for d in instance.disks if d.get('blob_uuid')]
            if not instance.carries('disks') or len(blobs) < sum(1 for d in instance.disk_spec if d.get('base')):
                return  # it boots from something its view does not name: every artifact waits for its step
            used.update(blobs)
        if index is None:
            return
        used.update(label.blob_uuid for label in index.labels(None) if label.blob_uuid)
        names = {i.uuid for i in live}
        for artifact in index:
            versions = {v.uuid for v in artifact.blobs.values()} | {artifact.blob_uuid or ''}
            if artifact.artifact_type != 'label' and not versions & used and not artifact.instances and not any(
                    v.instances for v in artifact.blobs.values()) and not set(artifact.source_url.split('/')) & names:
                self.early_artifacts.add(artifact.uuid)

    def _with_metadata(self, things: Dict[str, List[Tuple[Thing, Optional[Dict[str, Any]], Optional[float]]]]
                       ) -> Dict[str, List[Tuple[Thing, Optional[Dict[str, Any]], Optional[float]]]]:
        """Fill in the metadata the listings left out from each object's metadata route, `concurrency` at once. An
        object gone meanwhile is dropped; one whose metadata cannot be read keeps None, so it is kept (fail closed)."""
        missing = [(thing.kind, thing.uuid) for kind in RESOURCES for thing, metadata, _age in things[kind]
                   if metadata is None]
        read = read_metadata(self.api, missing, self.request.concurrency)
        self.unreadable.update(read.unreadable)
        return {kind: [(thing, metadata if metadata is not None else read.found.get(thing.uuid), age)
                       for thing, metadata, age in things[kind] if thing.uuid not in read.gone] for kind in RESOURCES}

    def _ages(self, artifacts: List[Artifact]) -> Dict[str, Optional[float]]:
        """Artifact UUID -> age, read only when older_than needs it (one blob read each, `concurrency` at once)."""
        if self.older_than is None or not artifacts:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.request.concurrency, len(artifacts)),
                                thread_name_prefix='sf-cleanup-age') as pool:
            return dict(zip((a.uuid for a in artifacts), pool.map(self._age, artifacts)))

    @staticmethod
    def _labelled(artifact: Artifact, pointed: Dict[str, str]) -> Optional[str]:
        if artifact.artifact_type == 'label':
            return 'it is a label (keep.labelled)'
        for version in artifact.blobs.values():  # any version a label points at, not only the newest
            if version.uuid in pointed:
                return f'label {pointed[version.uuid]} points at it (keep.labelled)'
        return None

    def _age(self, artifact: Artifact) -> Optional[float]:
        """Seconds since the artifact's newest version was made, when the server says."""
        newest = artifact.blobs.get(artifact.index) if artifact.index else None
        if newest is None:
            return None
        try:
            blob = self.api.get_blob(newest.uuid)
        except SfError:
            return None
        made = blob.fetched_at or blob.modified
        return self.clock() - made if made else None

    def _keep_reason(self, thing: Thing, metadata: Optional[Dict[str, Any]], age: Optional[float]) -> Optional[str]:
        request = self.request
        pattern = first_pattern(thing.name, request.keep_names)
        if pattern is not None:
            return f'its name matches {pattern!r} (keep.names)'
        if request.keep_metadata:
            if metadata is None:
                why = self.unreadable.get(thing.uuid, 'the server did not return it')
                return f'its metadata could not be read ({why}), so keep.metadata may match it (kept to be safe)'
            if metadata_matches(metadata, request.keep_metadata):
                return 'its metadata matches keep.metadata'
        if self.older_than is not None:
            if age is None:
                return 'its age is unknown, and older_than deletes only what is known to be older'
            if age <= self.older_than:
                return f'younger than older_than ({age:.0f}s old)'
        return None

    # The steps
    def _add_deletes(self, plan: Plan, kind: str, doomed: List[Thing]) -> None:
        names = ', '.join(t.name or t.uuid for t in doomed[:5]) + (f' and {len(doomed) - 5} more'
                                                                   if len(doomed) > 5 else '')
        plan.add(f'delete_{kind}', f'delete {plural(len(doomed), kind[:-1])} ({names}), '
                                   f'{min(self.request.concurrency, len(doomed))} at a time',
                 lambda step: self._delete(step, kind, doomed))

    def _delete(self, step: Step, kind: str, doomed: List[Thing]) -> None:
        started = time.monotonic()
        if kind != 'instances':
            self._settle_early()
        self._singles(kind, [t for t in doomed if t.uuid not in self.sent])
        if self.request.wait and kind == 'instances' and not self.failed:
            # Every instance was asked: what waits for none of them (or only for those gone) goes during the wait.
            self.early_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix='sf-cleanup-early')
        doomed = [t for t in doomed if t.uuid not in self.stays]
        if self.request.wait and kind != 'artifacts':
            try:
                self._wait_gone(kind, doomed)
            finally:
                if kind == 'instances':
                    self._settle_early()
        self.timings[kind] = round(time.monotonic() - started, 3)
        failed = [f for f in self.failed if f['kind'] + 's' == kind]
        gone = {t.uuid for t in doomed} - {f['uuid'] for f in failed}
        self.deleted[kind] = [t.as_dict() for t in doomed if t.uuid in gone]
        step.result = f'deleted {plural(len(gone), kind[:-1])} in {self.timings[kind]:.2f}s' + (
            '' if self.request.wait or kind == 'artifacts' else ' (asked; not waiting)')
        meanwhile = ''
        if failed and kind == 'instances':
            # The later steps will not run, but what waited for none of these instances may be gone already.
            self._report_early()
            early = [plural(len(self.deleted[later]), later[:-1]) for later in ('networks', 'artifacts')
                     if self.deleted.get(later)]
            meanwhile = f' (meanwhile deleted {" and ".join(early)} that waited for none of them)' if early else ''
        if failed:
            # Only waits that ran out: a timeout; anything else (refused, failed) is a plain error.
            error = SfTimeout if all(f['uuid'] in self.timed_out for f in failed) else SfError
            raise error(f'{plural(len(failed), kind[:-1])} could not be deleted: ' + '; '.join(
                f'{f["name"] or f["uuid"]}: {f["reason"]}' for f in failed[:5]) + (
                f' and {len(failed) - 5} more' if len(failed) > 5 else '') + meanwhile,
                detail={'failed': failed}, hint='see undeleted in the result; run the task again to retry them')

    def _send_early(self, pending: Dict[str, Thing]) -> None:
        """During the instance wait: send, in the background, the deletes that wait for no pending instance."""
        if self.early_pool is None:
            return
        for kind, free in (('networks', [t for t in self.survey.doomed['networks']
                                         if t.uuid not in self.sent and not self.blockers[t.uuid] & pending.keys()]),
                           ('artifacts', [t for t in self.survey.doomed['artifacts']
                                          if t.uuid not in self.sent and t.uuid in self.early_artifacts])):
            if free:
                self.sent.update(t.uuid for t in free)
                self.early.append(self.early_pool.submit(self._singles, kind, free))

    def _settle_early(self) -> None:
        """Wait until the deletes sent early have been answered (their failures are in self.failed)."""
        if self.early_pool is not None:
            self.early_pool.shutdown(wait=True)
            self.early_pool = None
        for future in self.early:
            future.result()
        self.early = []

    def _report_early(self) -> None:
        """The instance step failed, so the later steps will not run: say what was deleted early all the same (an
        artifact whose delete was answered, a network a listing shows gone)."""
        failed = {f['uuid'] for f in self.failed}
        self.deleted['artifacts'] = [t.as_dict() for t in self.survey.doomed['artifacts']
                                     if t.uuid in self.sent and t.uuid not in failed]
        networks = [t for t in self.survey.doomed['networks']
                    if t.uuid in self.sent and t.uuid not in failed and t.uuid not in self.stays]
        if networks:
            try:
                states = {n.uuid: n.state for n in self.api.list_networks(all_states=True)}
            except SfError:
                return  # not known to be gone: not reported as deleted
            self.deleted['networks'] = [t.as_dict() for t in networks
                                        if states.get(t.uuid, 'deleted') in GONE['networks']]

    def _singles(self, kind: str, doomed: List[Thing]) -> None:
        if not doomed:
            return
        delete = {'instances': self.api.delete_instance, 'networks': self.api.delete_network,
                  'artifacts': self.api.delete_artifact}[kind]

        def one(thing: Thing) -> Optional[Dict[str, Any]]:
            try:
                with self.slots:  # `concurrency` deletes at once in all, early ones included
                    if kind == 'networks' and self._in_use(thing):
                        return None
                    delete(thing.uuid)
            except SfNotFound:
                self.unsure.pop(thing.uuid, None)
                return None  # gone already: fine
            except SfError as exc:
                if kind == 'artifacts' and outcome_unknown(exc) and self._artifact_gone(thing.uuid):
                    return None  # answered with an error, but done: reading again shows it gone
                if kind != 'artifacts' and (outcome_unknown(exc) or (
                        kind == 'networks' and isinstance(exc, (SfForbidden, SfConflict)))):
                    # The wait below reads the state again, and asks again while it is not being deleted (a
                    # network is refused while an interface is still attached).
                    self.unsure[thing.uuid] = str(exc)
                    return None
                return thing.as_dict(str(exc))
            self.unsure.pop(thing.uuid, None)
            return None

        with ThreadPoolExecutor(max_workers=min(self.request.concurrency, len(doomed)),
                                thread_name_prefix='sf-cleanup') as pool:
            for problem in pool.map(one, doomed):
                if problem is not None:
                    self.failed.append(problem)

    def _in_use(self, thing: Thing) -> bool:
        """Read again just before the delete: an instance booted on the network since the plan keeps it."""
        why = why_network_stays(self.api, thing.uuid, {t.uuid for t in self.survey.doomed['instances']}, {}, {})
        if why:
            self.stays[thing.uuid] = (thing, f'{why}; found just before deleting it')
        return bool(why)

    def _artifact_gone(self, uuid: str) -> bool:
        try:
            found = self.api.get_artifact(uuid)
        except SfNotFound:
            return True
        except SfError:
            return False
        return found.state == 'deleted'

    def _wait_gone(self, kind: str, doomed: List[Thing]) -> None:
        """Poll every pending object together: one listing per look, on the one poller. What the server refused or
        may not have done is asked again every few looks, until the deadline."""
        timeout = self.request.wait_timeout
        deadline = time.monotonic() + timeout
        pending = {t.uuid: t for t in doomed}
        states: Dict[str, Optional[str]] = {}
        looks = 0

        def all_gone() -> Optional[bool]:
            nonlocal looks
            looks += 1
            listing = self.api.list_instances(all_states=True) if kind == 'instances' else \
                self.api.list_networks(all_states=True)
            states.clear()
            states.update({item.uuid: item.state for item in listing})
            for uuid in list(pending):
                if states.get(uuid, 'deleted') in GONE[kind]:
                    pending.pop(uuid)
                    self.unsure.pop(uuid, None)
            if kind == 'instances':
                self._send_early(pending)
            if not pending:
                return True
            if looks % RETRY_EVERY == 0 and time.monotonic() < deadline:
                again = [t for uuid, t in pending.items() if uuid in self.unsure and states.get(uuid) in LIVE]
                self._singles(kind, again)
            return None

        try:
            self.api.wait_until(all_gone, timeout, f'{plural(len(pending), kind[:-1])} are deleted',
                                cap=LISTING_POLL_CAP, base=LISTING_POLL_BASE)
        except SfTimeout:
            for uuid, thing in pending.items():
                why = f'still {states.get(uuid)} after {timeout:g}s'
                if uuid in self.unsure:
                    why += f' (the delete was answered: {self.unsure[uuid]})'
                self.timed_out.add(uuid)
                self.failed.append(thing.as_dict(why))

    # Views
    def _view(self, survey: Survey, before: bool) -> Dict[str, Any]:
        view: Dict[str, Any] = {'exists': True}
        for kind in RESOURCES:
            shown = [t for t, _reason in survey.kept if t.kind + 's' == kind] + (
                survey.doomed[kind] if before else [t for t, _why in self.stays.values() if t.kind + 's' == kind])
            view[kind] = sorted(t.name or t.uuid for t in shown)
        if not before and self.request.delete_namespace and not survey.kept:
            view['exists'] = False
        return view

    def _result(self, planned: bool = False) -> Dict[str, Any]:
        survey = self.survey
        deleted = {kind: [t.as_dict() for t in survey.doomed[kind]] for kind in RESOURCES} if planned else \
            self.deleted
        return {'target_namespace': self.request.target, 'deleted': deleted,
                'kept': [thing.as_dict(reason) for thing, reason in [*survey.kept, *self.stays.values()]],
                'undeleted': list(self.failed),
                'timings': dict(self.timings)}

    def finish(self) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        after = self._view(self.survey, before=False)
        if self.request.delete_namespace:
            after['exists'] = self._namespace_exists()
        return after, self._result()


def _listed_metadata(item: Any) -> Optional[Dict[str, Any]]:
    """The metadata a listing gave, or None when it left the field out (not the same as no metadata)."""
    return dict(item.metadata) if item.carries('metadata') else None
