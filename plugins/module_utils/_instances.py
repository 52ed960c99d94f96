# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding an instance by name or UUID, once, with a clear error when it is missing or ambiguous."""

from __future__ import annotations

import difflib
from typing import List, Optional

from ._api import SfApi
from ._errors import SfAmbiguousReference, SfConflict, SfInvalidInput, SfNotFound
from ._models import Instance
from ._refs import is_uuid

# Being deleted or deleted. 0.7.2 (and upstream) spell the waiting state `delete-wait`; some views `delete_wait`.
GONE_STATES = ('deleted', 'delete-wait', 'delete_wait')
# On the way to `created`: the disks are not known yet (0.7.2 lists none until `creating`) and snapshots are 406.
BOOTING_STATES = ('initial', 'preflight', 'creating')
READY_STATE = 'created'


def find_instance(api: SfApi, ref: str, namespace: Optional[str] = None) -> Instance:
    """The instance `ref` (a UUID, or a name in `namespace` or the caller's own namespaces)."""
    if not isinstance(ref, str) or not ref.strip():
        raise SfInvalidInput('instance must be an instance name or UUID')
    ref = ref.strip()
    if is_uuid(ref):
        try:
            found = api.get_instance(ref.lower())
        except SfNotFound:
            raise SfNotFound(f'there is no instance {ref}', hint='list instances with sf-client instance list') \
                from None
        if found.state in GONE_STATES or (namespace and found.namespace != namespace):
            raise SfNotFound(f'there is no instance {ref}' + (f' in namespace {namespace!r}' if namespace else ''))
        return found
    listing = [i for i in api.list_instances() if i.state not in GONE_STATES]
    matches = [i for i in listing if i.name == ref and (namespace is None or i.namespace == namespace)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SfAmbiguousReference(
            f'{len(matches)} instances are called {ref!r}', hint='give the instance UUID (or target_namespace)',
            candidates=[{'uuid': i.uuid, 'name': i.name, 'namespace': i.namespace, 'state': i.state}
                        for i in matches])
    near = difflib.get_close_matches(ref, sorted({i.name for i in listing}), n=5, cutoff=0.6)
    where = f' in namespace {namespace!r}' if namespace else f' visible to namespace {api.namespace!r}'
    suggestion = f'; did you mean {", ".join(near)}?' if near else ''
    raise SfNotFound(f'there is no instance called {ref!r}{where}{suggestion}', detail={'near': near},
                     hint='give the instance name or UUID exactly')


def disk_devices(instance: Instance) -> List[str]:
    """The instance's disk device names in order (vda, ...), without the config drive."""
    devices = [str(d.get('device')) for d in instance.disks if d.get('device') and not d.get('snapshot_ignores')]
    if instance.uefi:
        devices.append('nvram')
    return devices


def ready_instance(api: SfApi, instance: Instance, timeout: float) -> Instance:
    """The instance once it is `created`, waiting up to `timeout` seconds while it boots. An instance that failed or
    is being deleted is an error at once: it will never become ready."""
    if instance.state == READY_STATE:
        return instance

    def check() -> Optional[Instance]:
        try:
            current = api.get_instance(instance.uuid)
        except SfNotFound:
            raise SfNotFound(f'instance {instance.name} ({instance.uuid}) was deleted while waiting for it') from None
        if current.state == READY_STATE:
            return current
        if current.state in BOOTING_STATES:
            return None
        if current.state in GONE_STATES:
            raise SfNotFound(f'instance {instance.name} ({instance.uuid}) is being deleted ({current.state})')
        reason = f': {current.error_message}' if current.error_message else ''
        raise SfConflict(f'instance {instance.name} ({instance.uuid}) is in state {current.state}{reason}, so it '
                         'cannot be snapshotted', hint='look at the instance with sf-client instance show')

    return api.wait_until(check, timeout, f'instance {instance.name} ({instance.uuid}) is ready (created)',
                          hint='the instance is still booting: raise wait_timeout')
