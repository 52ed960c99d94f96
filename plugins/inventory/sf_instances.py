# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
name: sf_instances
short_description: Shaken Fist instances, grouped by the image, version and label their disks boot from
version_added: 0.2.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Reads the instances of one or more namespaces and, for each disk, the artifact, version and label it boots from
    (from the disk's blob and base), and whether that is still what the label, or the artifact's newest version,
    points at now.
  - Puts each instance in groups by namespace (C(sf_namespace_<ns>)), label (C(sf_label_<label>)), artifact
    (C(sf_artifact_<name>)) and artifact version (C(sf_artifact_<name>_v<index>)); instances whose disk no longer
    matches are also in C(sf_outdated) and C(sf_outdated_<label>). Group names are lower case, with every character
    other than a letter, digit or underscore replaced by an underscore.
  - "Host variables: C(sf_uuid), C(sf_name), C(sf_namespace), C(sf_state), C(sf_disks) (one entry per disk with a
    blob: device, disk_base, blob_uuid, artifact, artifact_uuid, artifact_namespace, artifact_type, version, label,
    label_namespace, label_version, outdated, reason), C(sf_outdated), C(sf_interfaces), C(sf_metadata), and
    C(ansible_host), the first interface's IPv4 address, when it has one."
  - The host name is the instance name, or C(<name>_<first 8 characters of the UUID>) when several instances of the
    inventory share that name.
  - Two reads for the whole inventory, however many instances it holds, one C(GET /instances) and one
    C(GET /artifacts). The rules are in the collection's C(docs/inventory.md).
  - The file must be named C(*.sf_instances.yml) or C(*.sf_instances.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - shakenfist.storage.connection.inventory
options:
  plugin:
    description: The name of this plugin; the file is for another plugin when it names another.
    required: true
    type: str
    choices: ['shakenfist.storage.sf_instances', 'sf_instances']
  namespaces:
    description:
      - The namespaces whose instances to read. Default, the namespace the inventory authenticates as.
      - Shaken Fist lists only the caller's own instances (trust does not widen that), so naming another namespace
        needs O(namespace=system); V(all) (system only) reads every namespace.
    type: list
    elements: str
requirements:
  - python >= 3.9
  - requests
  - pydantic >= 2
notes:
  - Runs on the controller (in AWX, in the inventory update's execution environment).
  - With AWX, attach a credential of the collection's I(Shaken Fist) credential type to the inventory source; the
    plugin reads the E(SHAKENFIST_*) variables it injects.
'''

EXAMPLES = r'''
# inventory/prod.sf_instances.yml: the instances of the namespace SHAKENFIST_NAMESPACE names, connection from the
# SHAKENFIST_* variables (or an AWX credential of the Shaken Fist type)
plugin: shakenfist.storage.sf_instances
---
# inventory/all.sf_instances.yml: every namespace, as system; groups by state too; a cache of five minutes
plugin: shakenfist.storage.sf_instances
namespace: system
namespaces: [all]
keyed_groups:
  - key: sf_state
    prefix: sf_state
compose:
  web_version: sf_disks[0].version
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/sf_instances
cache_timeout: 300
'''

import hashlib  # noqa: E402
import json  # noqa: E402
from typing import Any, Dict, List, Optional  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.module_utils.common.yaml import yaml_load  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._client import (  # noqa: E402
    CONNECTION_OPTIONS,
    SfClient,
    client_for,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._config import (  # noqa: E402
    INSECURE_WARNING,
    ConnectionSettings,
    resolve_settings,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (  # noqa: E402
    SfError,
    SfUnexpected,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._instance_images import (  # noqa: E402
    inventory_records,
    read_instance_images,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._redaction import redact  # noqa: E402

NAMES = ('shakenfist.storage.sf_instances', 'sf_instances')
SUFFIXES = ('sf_instances.yml', 'sf_instances.yaml')
OUTDATED = 'sf_outdated'


def settings_digest(settings: ConnectionSettings, namespaces: Optional[List[str]]) -> str:
    """What makes two inventories of one file differ: the cluster, the caller and the namespaces read. Not the key:
    two keys of one namespace see the same instances, and an unsalted digest of a key would let anyone who can read
    the cache's names test guesses of it."""
    fields = [settings.api_url, settings.namespace, sorted(namespaces or [])]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def host_vars(record: Dict[str, Any]) -> Dict[str, Any]:
    found = {'sf_uuid': record['uuid'], 'sf_name': record['name'], 'sf_namespace': record['namespace'],
             'sf_state': record['state'], 'sf_disks': record['disks'], 'sf_outdated': record['outdated'],
             'sf_interfaces': record['interfaces'], 'sf_metadata': record['metadata']}
    if record.get('address'):
        found['ansible_host'] = record['address']
    return found


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = 'shakenfist.storage.sf_instances'

    _client: Optional[SfClient] = None
    _key: Optional[str] = None

    def verify_file(self, path: str) -> bool:
        """Ours: a readable file named *sf_instances.yml or .yaml whose `plugin:` names this plugin."""
        if not super().verify_file(path) or not path.endswith(SUFFIXES):
            return False
        try:
            with open(path, encoding='utf-8') as handle:
                data = yaml_load(handle)
        except Exception:  # not YAML: the parse would fail the same way, with the reason
            return True
        return not isinstance(data, dict) or data.get('plugin') in NAMES

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache=cache)
        try:
            self._read_config_data(path)
            records = self.records(path, cache)
            self.populate(records)
        except AnsibleParserError:
            raise
        except SfError as exc:
            raise self.error(exc) from None
        except Exception as exc:  # the last resort: a clean, redacted message, never a traceback
            raise self.error(SfUnexpected.wrap(exc)) from None

    def settings(self) -> ConnectionSettings:
        options: Dict[str, Any] = {name: self.get_option(name) for name in CONNECTION_OPTIONS}
        self._key = options.get('key') or None  # hidden from errors even when the settings are refused
        settings = resolve_settings(options)
        self._key = settings.key
        return settings

    def records(self, path: str, cache: bool) -> List[Dict[str, Any]]:
        """The records from the cache when allowed and there, else read from the cluster (and cached when asked)."""
        settings = self.settings()
        namespaces = self.get_option('namespaces')
        cache_key = f'{self.get_cache_key(path)}_{settings_digest(settings, namespaces)}'
        use_cache = bool(self.get_option('cache'))
        if use_cache and cache:
            try:
                return list(self._cache[cache_key])
            except KeyError:
                pass
        if not settings.validate_certs:
            self.display.warning(f'{self.NAME}: {INSECURE_WARNING}')
        self._client = client_for(settings, log=self.display.vvvv, read_only=True)
        records = inventory_records(read_instance_images(self._client.api, namespaces))
        if use_cache:
            self._cache[cache_key] = records
        return records

    def populate(self, records: List[Dict[str, Any]]) -> None:
        strict = self.get_option('strict')
        self.inventory.add_group(OUTDATED)
        for record in records:
            host = self.inventory.add_host(record['host'])
            found = host_vars(record)
            for name, value in found.items():
                self.inventory.set_variable(host, name, value)
            for group in record['groups']:
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
                if group.startswith('sf_label_'):
                    # Every label's outdated group exists, empty or not: `hosts: sf_outdated_web` then means
                    # "nothing to do" rather than a pattern that matches nothing.
                    self.inventory.add_group(OUTDATED + group[len('sf_label'):])
            self._set_composite_vars(self.get_option('compose'), found, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), found, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), found, host, strict=strict)

    def error(self, exc: SfError) -> AnsibleParserError:
        message = f'{self.NAME}: {exc}'
        if exc.hint:
            message += f' ({exc.hint})'
        if self._client is not None:
            message = self._client.transport.redact(message)  # the key and the session token
        # The key alone when the client was never built (settings refused): the collection's one redaction, which
        # also finds its quoted and encoded forms.
        return AnsibleParserError(redact(message, [self._key or '']))
