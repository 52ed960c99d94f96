# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a network a cleanup would delete is still used by an instance the cleanup leaves alone.

Shaken Fist 0.7.2 takes `DELETE /networks/<uuid>` while instances are on the network: it marks the network
delete-wait, lets no new instance join it, and destroys it once the interfaces it lists are gone (its network node
defers the delete; shakenfist/external_api/network.py and daemons/queues.py at v0.7.2). A kept instance, or one booted
after the plan, would lose its network when it is next deleted, and could not be rebuilt on it meanwhile. So the
network's own interface listing, the list that delete waits for, is read first: any interface of an instance that is
neither being deleted by this cleanup nor already going keeps the network, and so does an interface listing that cannot
be read (fail closed).
"""

from __future__ import annotations

from typing import Mapping, Optional, Set

from ._api import SfApi
from ._errors import SfError, SfNotFound

DYING = ('deleted', 'delete_wait', 'delete-wait')  # an instance in these is going: its interface goes with it
WHY = 'Shaken Fist 0.7.2 takes a network delete while instances use it and destroys the network when they are gone'


def why_network_stays(api: SfApi, network_uuid: str, ours: Set[str], states: Mapping[str, str],
                      names: Mapping[str, str]) -> Optional[str]:
    """None when only instances in `ours` (or going anyway) are on the network; else why it must stay. `states` and
    `names` are what an instance listing said; an instance not in it is read. SfNotFound: the network is gone."""
    try:
        interfaces = api.network_interfaces(network_uuid)
    except SfNotFound:
        raise
    except SfError as exc:
        return f'its interfaces could not be read ({exc}), so an instance may be on it (kept to be safe)'
    for interface in interfaces:
        owner = interface.instance_uuid
        if interface.state == 'deleted' or (owner and owner in ours):
            continue
        if not owner:
            return f'interface {interface.uuid}, of no instance this cleanup deletes, is on it ({WHY})'
        state, name = states.get(owner), names.get(owner)
        if state is None:
            try:
                instance = api.get_instance(owner)
            except SfNotFound:
                return f'an interface of instance {owner}, which this namespace cannot see, is on it ({WHY})'
            except SfError as exc:
                return f'instance {owner} is on it and its state could not be read ({exc}); kept to be safe'
            state, name = instance.state, instance.name
        if state not in DYING:
            return f'instance {name or owner} is on it and this cleanup does not delete it ({WHY})'
    return None
