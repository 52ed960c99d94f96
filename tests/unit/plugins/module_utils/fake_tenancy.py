"""The fake cluster with namespaces, instances and networks, for unit tests of the cleanup domain.

It keeps the server's rules that matter to a cleanup: an instance or network asked to go is deleted later (after
`delete_ticks` pauses of the client; the state does not change before), a network is deleted only once no live
instance is on it, a namespace with live instances or networks cannot be deleted, and a tenant sees and deletes
only its own namespace's objects. (The cleanup never uses the server's bulk routes, so this fake has none.)

Tests inject behaviour per call name (`delete_instance`, `delete_network`, `delete_artifact`): `faults[call]` is a
list of modes used one per call, `'after'` (do the work, then answer 500) or `'before'` (answer 500 without doing
it). `refuse_busy` makes network deletes refuse (403) a network with a live instance instead of waiting for it.
Every write records (call, argument, live instances, live networks) at the moment it was sent, so tests can check
the order.
"""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfForbidden,
    SfInvalidInput,
    SfNotFound,
    SfServerError,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._models import (
    Artifact,
    Instance,
    Namespace,
    Network,
    NetworkInterface,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import FakeCluster


@dataclass
class Thing:
    uuid: str
    name: str
    namespace: str
    state: str = 'created'
    metadata: Dict[str, Any] = field(default_factory=dict)
    network: Optional[str] = None  # instances: the network they are on
    boots: Optional[str] = None  # instances: the blob their disk boots from
    countdown: Optional[int] = None  # pauses until an asked-for delete is done


class FakeTenancy(FakeCluster):
    def __init__(self, namespace: str = 'system', **kwargs: Any) -> None:
        super().__init__(namespace, **kwargs)
        self.namespaces: Dict[str, str] = {'system': 'created'}
        self.instances: Dict[str, Thing] = {}
        self.networks: Dict[str, Thing] = {}
        self.delete_ticks = 2
        self.refuse_busy = False
        self.faults: Dict[str, List[str]] = {}
        self.log: List[tuple] = []  # (call, argument, live instances, live networks) per write
        self.listings = 0
        self.delete_pause = 0.0  # seconds each single artifact delete takes (to see the concurrency)
        self.busy_now = 0
        self.busy_most = 0
        # 0.7.2: the network listing has no `metadata` (only GET /networks/<uuid>[/metadata] does).
        self.network_listing_metadata = True
        # Newer views (and the emulator's) say which networks an instance is on and which blobs it boots from.
        self.instance_views_link = False
        self.metadata_faults: Dict[str, Exception] = {}  # uuid -> what its metadata route answers instead
        self.metadata_reads: List[str] = []
        self.interface_faults: Dict[str, Exception] = {}  # network uuid -> what its interfaces route answers instead
        self.interface_reads = 0
        self._lock = threading.Lock()

    # Seeding (no request recorded)
    def add_namespace(self, name: str) -> str:
        self.namespaces[name] = 'created'
        return name

    def add_network(self, name: str, namespace: str, **metadata: Any) -> str:
        thing = Thing(str(uuidlib.uuid4()), name, namespace, metadata=dict(metadata))
        self.networks[thing.uuid] = thing
        return thing.uuid

    def add_instance(self, name: str, namespace: str, network: Optional[str] = None, boots: Optional[str] = None,
                     **metadata: Any) -> str:
        thing = Thing(str(uuidlib.uuid4()), name, namespace, metadata=dict(metadata), network=network, boots=boots)
        self.instances[thing.uuid] = thing
        return thing.uuid

    def live(self, things: Dict[str, Thing], namespace: Optional[str] = None) -> List[Thing]:
        return [t for t in things.values() if t.state != 'deleted' and namespace in (None, t.namespace)]

    def calls(self) -> List[str]:
        return [entry[0] for entry in self.log]

    # Reads
    def _sees(self, thing: Thing) -> bool:
        return self.is_system or thing.namespace == self.namespace

    def get_namespace(self, name: str) -> Namespace:
        if name not in self.namespaces:
            raise SfNotFound(f'namespace {name} not found', status=404)
        return Namespace(name=name, state=self.namespaces[name])

    def list_instances(self, all_states: bool = False) -> List[Instance]:
        self.listings += 1

        def links(t: Thing) -> Dict[str, Any]:
            if not self.instance_views_link:
                return {}
            return {'interfaces': [{'network_uuid': t.network}] if t.network else [],
                    'disk_spec': [{'base': t.boots}] if t.boots else [],
                    'disks': [{'blob_uuid': t.boots}] if t.boots else []}
        return [Instance(uuid=t.uuid, name=t.name, namespace=t.namespace, state=t.state, metadata=t.metadata,
                         **links(t))
                for t in self.instances.values() if self._sees(t) and (all_states or t.state != 'deleted')]

    def list_networks(self, all_states: bool = False) -> List[Network]:
        self.listings += 1
        return [Network.model_validate({'uuid': t.uuid, 'name': t.name, 'namespace': t.namespace, 'state': t.state,
                                        **({'metadata': t.metadata} if self.network_listing_metadata else {})})
                for t in self.networks.values() if self._sees(t) and (all_states or t.state != 'deleted')]

    def network_interfaces(self, uuid: str) -> List[NetworkInterface]:
        """As 0.7.2: the interfaces of every instance on the network that is not deleted yet (what a delete waits
        for)."""
        self.interface_reads += 1
        if uuid in self.interface_faults:
            raise self.interface_faults[uuid]
        network = self.networks.get(uuid)
        if network is None or not self._sees(network) or network.state == 'deleted':
            raise SfNotFound('network not found', status=404)
        return [NetworkInterface(uuid=f'if-{i.uuid}', network_uuid=uuid, instance_uuid=i.uuid, state='created')
                for i in self.live(self.instances) if i.network == uuid]

    def get_instance(self, ref: str) -> Instance:
        found = self.instances.get(ref)
        if found is None or not self._sees(found):
            raise SfNotFound('instance not found', status=404)
        return Instance(uuid=found.uuid, name=found.name, namespace=found.namespace, state=found.state)

    def object_metadata(self, kind: str, uuid: str) -> Dict[str, Any]:
        with self._lock:
            self.metadata_reads.append(uuid)
        if uuid in self.metadata_faults:
            raise self.metadata_faults[uuid]
        things = {'instance': self.instances, 'network': self.networks}.get(kind)
        if things is None:
            return self.get_metadata(uuid)
        thing = things.get(uuid)
        if thing is None or not self._sees(thing) or thing.state == 'deleted':
            raise SfNotFound(f'{kind} not found', status=404)
        return dict(thing.metadata)

    # Writes
    def _do(self, call: str, argument: str, work: Any) -> Any:
        self._write(call, argument, forget=True)
        with self._lock:
            self.log.append((call, argument, len(self.live(self.instances)), len(self.live(self.networks))))
            modes = self.faults.get(call)
            mode = modes.pop(0) if modes else None
        if mode == 'before':
            raise SfServerError(f'{call} answered HTTP 500', status=500, method='DELETE')
        answer = work()
        if mode == 'after':
            raise SfServerError(f'{call} answered HTTP 500 (after doing it)', status=500, method='DELETE')
        return answer

    def _own(self, namespace: str) -> None:
        if not self.is_system and namespace != self.namespace:
            raise SfForbidden('you cannot delete other namespaces', status=401)
        if namespace not in self.namespaces:
            raise SfNotFound('namespace not found', status=404)

    def _ask(self, thing: Thing) -> None:
        if thing.countdown is None:
            thing.countdown = self.delete_ticks

    def _busy(self, network: Thing) -> bool:
        return any(i.network == network.uuid for i in self.live(self.instances))

    def delete_instance(self, uuid: str) -> None:
        def work() -> None:
            thing = self.instances.get(uuid)
            if thing is None or not self._sees(thing) or thing.state == 'deleted':
                raise SfNotFound('instance not found', status=404)
            self._ask(thing)
        self._do('delete_instance', uuid, work)

    def delete_network(self, uuid: str) -> None:
        def work() -> None:
            thing = self.networks.get(uuid)
            if thing is None or not self._sees(thing) or thing.state in ('deleted', 'error'):
                raise SfNotFound('network not found', status=404)
            if self.refuse_busy and self._busy(thing):
                raise SfForbidden('the network still has interfaces', status=403)
            self._ask(thing)
        self._do('delete_network', uuid, work)

    def delete_artifact(self, uuid: str) -> Optional[Artifact]:
        def work() -> Optional[Artifact]:
            with self._lock:
                self.busy_now += 1
                self.busy_most = max(self.busy_most, self.busy_now)
            time.sleep(self.delete_pause)
            with self._lock:
                self.busy_now -= 1
            row = self._row(uuid)
            if row.state == 'deleted':
                return None
            row.state, row.versions = 'deleted', {}
            return self._view(row)
        return self._do('delete_artifact', uuid, work)

    def delete_namespace(self, name: str) -> None:
        def work() -> None:
            if self.live(self.instances, name) or self.live(self.networks, name):
                raise SfInvalidInput('you cannot delete a namespace with instances or networks', status=400)
            self.namespaces[name] = 'deleted'
        self._do('delete_namespace', name, work)

    def tick(self) -> None:
        """Time passes: asked-for deletes count down; a network goes only once no live instance is on it."""
        super().tick()
        for thing in self.live(self.instances):
            if thing.countdown is not None:
                thing.countdown -= 1
                if thing.countdown <= 0:
                    thing.state = 'deleted'
        for thing in self.live(self.networks):
            if thing.countdown is not None and not self._busy(thing):
                thing.countdown -= 1
                if thing.countdown <= 0:
                    thing.state = 'deleted'


def snapshot_of(cluster: FakeTenancy, instance: str, data: bytes, namespace: str) -> str:
    return cluster.seed(f'sf://instance/{instance}/vda', [data], namespace=namespace, artifact_type='snapshot')
