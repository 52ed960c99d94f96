"""Server profiles: every way the emulator answers differently for one Shaken Fist release, declared in one place.

`sf-emulator serve --server-profile NAME` picks one at start (`DEFAULT` when not given); the app keeps it as
`app.profile`, handlers read `req.app.profile` and model and job functions get it passed in, as they get `config`.
Code asks a profile what it does (`profile.metadata_refuses_falsy`), never which release it is.

- `0.7.2`: the newest release on PyPI, as its source (tag v0.7.2) and a running 0.7.2 server answer.
- `latest`: the emulator's own behaviour before profiles existed, which follows the newest upstream source.

emulator/README.md ("Server profiles") lists every field in one line each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A route as a release implements it: the handler name its 400 for an unexpected body key shows
    (`<name>() got an unexpected keyword argument 'x'`), and the body keys it takes (None: whatever the emulator's
    handler takes)."""

    name: str
    arguments: frozenset[str] | None = None


@dataclass(frozen=True)
class ServerProfile:
    name: str
    # --- GET / ---------------------------------------------------------------------------------------------------
    capabilities: Mapping[str, tuple[str, ...]]  # group -> names, in page order; clients test substrings
    root_page: str  # the whole page, with `{items}` where the capability list goes
    root_page_item: str  # one group, with `{group}` and `{names}` (comma and space separated)
    root_page_item_separator: str
    # --- routing and arguments -----------------------------------------------------------------------------------
    unserved_routes: frozenset[str]  # 'METHOD pattern' of emulator routes this release has not: Flask's 404/405
    served_segments: Mapping[str, Mapping[str, frozenset[str]]]  # route -> segment -> the only values it routes
    endpoints: Mapping[str, Endpoint]  # route -> how this release names it and which body keys it takes
    reads_query_arguments: bool  # API routes take query parameters as arguments (body wins); False: body only
    # --- views ---------------------------------------------------------------------------------------------------
    view_versions: Mapping[str, int]  # object type -> the `version` its views show
    absent_view_keys: Mapping[str, frozenset[str]]  # view -> keys of the emulator's view this release lacks
    #   ('blobs.*.instances': that key in every value of the `blobs` object)
    network_listing_fields: Mapping[str, Any] | None  # GET /networks marshalled to these keys (value: the default
    #   of a key the view lacks); None: the full view
    blob_locations_for_everyone: bool  # False: `locations` only for system callers
    system_trusts_itself: bool  # the system namespace's view lists `system` in `trust.full`
    # --- metadata ------------------------------------------------------------------------------------------------
    metadata_refuses_falsy: bool  # any falsy value is 400 `no value specified` (False: only null)
    metadata_missing_key_is_404: bool  # deleting a key that is not there: 404 (False: 200 null)
    instance_metadata_rules: bool  # instance `tags` must be a list, `affinity` a dict of integers
    # --- networks ------------------------------------------------------------------------------------------------
    network_flags_default: bool | None  # omitted provide_dhcp/provide_nat: this value (None: stored as null)
    network_delete_answer: str  # 'view': 200 with the view (200 null once deleted); 'operation': 202 op handle
    bulk_network_delete_answer: str  # 'uuids': 200 [uuid, ...]; 'operations': 202 [{network_uuid, op...}, ...]
    bulk_network_delete_takes_dying: bool  # DELETE /networks also takes delete-wait and error networks
    bulk_deletes_system_means_all: bool  # DELETE /networks and /instances with namespace system: every namespace
    delete_wait_state: str  # how the state between a delete request and `deleted` is spelled
    # --- instances -----------------------------------------------------------------------------------------------
    instance_delete_waits: bool  # a deleted instance passes through the delete-wait state
    bulk_instance_delete_lists_deleted: bool  # DELETE /instances takes (and lists) deleted instances too
    instance_side_channels_default: tuple[str, ...]  # side_channels when the create request has none
    instance_side_channels_checked: bool  # unknown side channels are a 400
    instance_sizes_checked: bool  # cpus and memory must be positive integers (False: any number)
    instance_placed_at_create: bool  # `node` is set in the create answer (False: once the create op ran)
    # --- events --------------------------------------------------------------------------------------------------
    event_limit_checked: bool  # limit coerced, 1 to 1000 (False: any number; 0 none, negative all; else 400)
    unknown_event_type_fails: bool  # an unknown event_type is a 500 once the object has events (False: [])
    shared_artifact_foreign_read_fails: bool  # another namespace reading a shared artifact: 500 by UUID
    name_lookups_widen: bool  # a name not in the caller's namespace is looked for in what it can see; system's own
    #   name wins (False: the caller's namespace only, system's every namespace at once)
    # --- blobs and artifacts -------------------------------------------------------------------------------------
    blob_data_streamed: bool  # chunked text/plain, no length, query offset only, limit ignored (False: ranged)
    convert_checks_qcow2_header: bool  # a broken qcow2 header fails the convert with qemu-img's 500
    max_versions_checked: bool  # max_versions a non-negative integer (False: any integer, as given, trims)
    label_max_versions_at_create_only: bool  # POST /label max_versions ignored for an existing label
    artifact_listing_filters_by_node: bool  # GET /artifacts `node` keeps artifacts whose newest blob is there
    failed_refetch_keeps_versions: bool  # a failed fetch of an artifact with versions leaves its state as it was
    #   and only says so in an event (False: the artifact turns to `error`)
    # --- snapshots -----------------------------------------------------------------------------------------------
    snapshot_checksums_deferred: bool  # disk snapshot blobs get their sha512 from the checksum pass, not at once
    nvram_snapshot_skips_unchanged: bool  # an NVRAM equal to its newest version adds no version (False: forced)
    snapshot_failure_deletes_instance: bool  # a failed disk copy: instance `created-error`, then deleted
    thin_snapshot_needs_base: bool  # a thin snapshot whose base blob is gone never appears

    def serves(self, route_key: str, params: Mapping[str, Any]) -> bool:
        """Whether this release routes a request that the emulator's route `route_key` matched with `params`."""
        if route_key in self.unserved_routes:
            return False
        allowed = self.served_segments.get(route_key, {})
        return all(params.get(segment) in values for segment, values in allowed.items())

    def endpoint(self, route_key: str) -> Endpoint | None:
        return self.endpoints.get(route_key)

    def view(self, kind: str, view: dict[str, Any]) -> dict[str, Any]:
        """`view` without the keys this release's view of `kind` lacks, with this release's `version`."""
        for key in self.absent_view_keys.get(kind, ()):
            outer, _, inner = key.partition('.*.')
            if not inner:
                view.pop(key, None)
                continue
            for entry in (view.get(outer) or {}).values():
                entry.pop(inner, None)
        object_type = kind.split('-')[0]
        if object_type in self.view_versions and 'version' in view:
            view['version'] = self.view_versions[object_type]
        return view


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


# --- latest: what the emulator did before profiles, after the newest upstream source -------------------------------
NEWEST_CAPABILITIES = _frozen({
    'admin': ('cluster-cacert', 'cluster-resources', 'vdi-token-pubkey'),
    'agent-operations': ('agentoperations-crud', 'instance-agentoperations', 'instance-agentoperations-all',
                         'agentoperations-put-with-mode'),
    'artifacts': ('artifact-metadata', 'artifact-upload-types', 'artifact-clusteroperations'),
    'auth': ('trusted-issuers', 'generated-key-secrets', 'scope-enforcement', 'mapping-rules', 'federated-exchange'),
    'blobs': ('blob-metadata', 'blob-search-by-hash', 'blob-data-limit', 'blob-hash-sha1', 'blob-hash-sha256',
              'blob-hash-xxh128', 'blob-events', 'blob-checksums', 'blob-single-checksum'),
    'cluster-operations': ('get-cluster-operations', 'cluster-operation-chain', 'cluster-operations-by-target'),
    'events': ('events-by-type',),
    'instances': ('pure-affinity', 'spice-vdi-console', 'vdi-console-helper', 'vdi-console-proxy',
                  'instance-put-blob', 'instance-execute', 'instance-get', 'instance-screenshot',
                  'get-instance-namespace', 'hot-plug-interface', 'include-queued-agent-operations',
                  'instance-clusteroperations'),
    'networks': ('list-addresses', 'route-addresses', 'get-network-namespace', 'provide-dns', 'extra-dns-entries',
                 'network-clusteroperations', 'network-delete-async'),
    'networkinterfaces': ('interface-metadata',),
    'nodes': ('node-get', 'node-metadata', 'node-process-metrics'),
})
EMULATOR_ROOT_PAGE = '''<html>
<head><title>Shaken Fist REST API service (emulator)</title></head>
<body>
<h1>Shaken Fist REST API service</h1>
<p>You might be interested in the <a href="/apidocs">API documentation</a>.</p>
<p>This is sf-emulator, a stand-in for tests and demos.</p>
<p>Machine searchable API capabilities:</p>
<ul>
{items}
</ul>
</body>
</html>
'''

LATEST = ServerProfile(
    name='latest',
    capabilities=NEWEST_CAPABILITIES,
    root_page=EMULATOR_ROOT_PAGE,
    root_page_item='    <li>{group}: {names}</li>',
    root_page_item_separator='\n',
    unserved_routes=frozenset(),
    served_segments=_frozen({}),
    endpoints=_frozen({}),
    reads_query_arguments=True,
    view_versions=_frozen({}),
    absent_view_keys=_frozen({}),
    network_listing_fields=None,
    blob_locations_for_everyone=False,
    system_trusts_itself=False,
    metadata_refuses_falsy=False,
    metadata_missing_key_is_404=True,
    instance_metadata_rules=False,
    network_flags_default=True,
    network_delete_answer='operation',
    bulk_network_delete_answer='operations',
    bulk_network_delete_takes_dying=False,
    bulk_deletes_system_means_all=False,
    delete_wait_state='delete_wait',
    instance_delete_waits=False,
    bulk_instance_delete_lists_deleted=False,
    instance_side_channels_default=('sf-agent', 'sf-agent2'),
    instance_side_channels_checked=True,
    instance_sizes_checked=True,
    instance_placed_at_create=False,
    event_limit_checked=True,
    unknown_event_type_fails=False,
    shared_artifact_foreign_read_fails=False,
    name_lookups_widen=True,
    blob_data_streamed=False,
    convert_checks_qcow2_header=False,
    max_versions_checked=True,
    label_max_versions_at_create_only=False,
    artifact_listing_filters_by_node=False,
    snapshot_checksums_deferred=False,
    nvram_snapshot_skips_unchanged=False,
    snapshot_failure_deletes_instance=False,
    thin_snapshot_needs_base=False,
    failed_refetch_keeps_versions=False,
)

# --- 0.7.2 -----------------------------------------------------------------------------------------------------
# external_api/app.py `Root.get`: one line of HTML, these groups in this order.
CAPABILITIES_072 = _frozen({
    'admin': ('cluster-cacert',),
    'agent-operations': ('agentoperations-crud', 'instance-agentoperations', 'instance-agentoperations-all'),
    'artifacts': ('artifact-metadata', 'artifact-upload-types'),
    'blobs': ('blob-metadata', 'blob-search-by-hash'),
    'events': ('events-by-type',),
    'instances': ('pure-affinity', 'spice-vdi-console', 'vdi-console-helper', 'instance-put-blob', 'instance-execute',
                  'instance-get'),
    'networkinterfaces': ('interface-metadata',),
    'nodes': ('node-get', 'node-metadata'),
})
ROOT_PAGE_072 = (
    '<html><head><title>Shaken Fist REST API service</title></head><body><h1>Shaken Fist REST API service</h1>'
    '<p>You might be interested in the <a href="/apidocs">apidocs</a>.</p><p>Machine searchable API '
    'capabilities:</p><ul>{items}</ul></p></body></html>'
)


def _endpoints(table: str) -> Mapping[str, Endpoint]:
    """Lines of `METHOD pattern Class arg arg ...` (emulator patterns; an indented line goes on) -> Endpoint."""
    out = {}
    for line in table.strip().replace('\n    ', ' ').splitlines():
        method, pattern, cls, *arguments = line.split()
        out[f'{method} {pattern}'] = Endpoint(f'{cls}.{method.lower()}', frozenset(arguments))
    return _frozen(out)


# Each handler of 0.7.2 with the parameters flask-restful can fill from a JSON body (the `*_from_db` ones its
# decorators set are left out). A body key outside them is a 400 naming the class; one the emulator's handler lacks
# is ignored, as 0.7.2 ignores it.
ENDPOINTS_072 = _endpoints('''
GET / Root
POST /auth AuthEndpoint namespace key
GET /auth/namespaces AuthNamespacesEndpoint
POST /auth/namespaces AuthNamespacesEndpoint namespace key_name key
GET /auth/namespaces/<namespace> AuthNamespaceEndpoint namespace
DELETE /auth/namespaces/<namespace> AuthNamespaceEndpoint namespace
GET /auth/namespaces/<namespace>/keys AuthNamespaceKeysEndpoint namespace
POST /auth/namespaces/<namespace>/keys AuthNamespaceKeysEndpoint namespace key_name key
PUT /auth/namespaces/<namespace>/keys/<key_name> AuthNamespaceKeyEndpoint namespace key_name key
DELETE /auth/namespaces/<namespace>/keys/<key_name> AuthNamespaceKeyEndpoint namespace key_name
POST /auth/namespaces/<namespace>/trust AuthNamespaceTrustsEndpoint namespace external_namespace
DELETE /auth/namespaces/<namespace>/trust/<external_namespace> AuthNamespaceTrustEndpoint namespace external_namespace
GET /auth/namespaces/<namespace>/metadata AuthMetadatasEndpoint namespace
POST /auth/namespaces/<namespace>/metadata AuthMetadatasEndpoint namespace key value
PUT /auth/namespaces/<namespace>/metadata/<key> AuthMetadataEndpoint namespace key value
DELETE /auth/namespaces/<namespace>/metadata/<key> AuthMetadataEndpoint namespace key value
GET /blobs BlobsEndpoint node
GET /blobs/<blob_uuid> BlobEndpoint blob_uuid
GET /blobs/<blob_uuid>/data BlobDataEndpoint blob_uuid offset
GET /blob_checksums/<algorithm>/<value> BlobChecksumsEndpoint hash
GET /blobs/<blob_uuid>/metadata BlobMetadatasEndpoint blob_uuid
POST /blobs/<blob_uuid>/metadata BlobMetadatasEndpoint blob_uuid key value
PUT /blobs/<blob_uuid>/metadata/<key> BlobMetadataEndpoint blob_uuid key value
DELETE /blobs/<blob_uuid>/metadata/<key> BlobMetadataEndpoint blob_uuid key value
POST /upload UploadCreateEndpoint
POST /upload/<upload_uuid>/truncate/<int:offset> UploadTruncateEndpoint upload_uuid offset
GET /artifacts ArtifactsEndpoint node
POST /artifacts ArtifactsEndpoint url shared namespace
DELETE /artifacts ArtifactsEndpoint confirm namespace
GET /artifacts/<artifact_ref> ArtifactEndpoint artifact_ref
DELETE /artifacts/<artifact_ref> ArtifactEndpoint artifact_ref
GET /artifacts/<artifact_ref>/versions ArtifactVersionsEndpoint artifact_ref
POST /artifacts/<artifact_ref>/versions ArtifactVersionsEndpoint artifact_ref max_versions
DELETE /artifacts/<artifact_ref>/versions/<version_id> ArtifactVersionEndpoint artifact_ref version_id
POST /artifacts/<artifact_ref>/share ArtifactShareEndpoint artifact_ref
POST /artifacts/<artifact_ref>/unshare ArtifactUnshareEndpoint artifact_ref
GET /artifacts/<artifact_ref>/events ArtifactEventsEndpoint artifact_ref event_type limit
GET /artifacts/<artifact_ref>/metadata ArtifactMetadatasEndpoint artifact_ref
POST /artifacts/<artifact_ref>/metadata ArtifactMetadatasEndpoint artifact_ref key value
PUT /artifacts/<artifact_ref>/metadata/<key> ArtifactMetadataEndpoint artifact_ref key value
DELETE /artifacts/<artifact_ref>/metadata/<key> ArtifactMetadataEndpoint artifact_ref key value
POST /artifacts/upload/<artifact_name> ArtifactUploadEndpoint artifact_name upload_uuid blob_uuid source_url shared
    namespace artifact_type
GET /label/<path:label_name> LabelEndpoint label_name
POST /label/<path:label_name> LabelEndpoint label_name blob_uuid max_versions
DELETE /label/<path:label_name> LabelEndpoint label_name
GET /instances InstancesEndpoint all
POST /instances InstancesEndpoint name cpus memory network disk ssh_key user_data placed_on namespace video uefi
    configdrive metadata nvram_template secure_boot side_channels
DELETE /instances InstancesEndpoint confirm namespace
GET /instances/<instance_ref> InstanceEndpoint instance_ref
DELETE /instances/<instance_ref> InstanceEndpoint instance_ref namespace
GET /instances/<instance_ref>/interfaces InstanceInterfacesEndpoint instance_ref
GET /instances/<instance_ref>/events InstanceEventsEndpoint instance_ref event_type limit
GET /instances/<instance_ref>/metadata InstanceMetadatasEndpoint instance_ref
POST /instances/<instance_ref>/metadata InstanceMetadatasEndpoint instance_ref key value
PUT /instances/<instance_ref>/metadata/<key> InstanceMetadataEndpoint instance_ref key value
DELETE /instances/<instance_ref>/metadata/<key> InstanceMetadataEndpoint instance_ref key
GET /instances/<instance_ref>/snapshot InstanceSnapshotEndpoint instance_ref
POST /instances/<instance_ref>/snapshot InstanceSnapshotEndpoint instance_ref all device max_versions thin
GET /networks NetworksEndpoint all
POST /networks NetworksEndpoint netblock provide_dhcp provide_nat name namespace
DELETE /networks NetworksEndpoint confirm namespace clean_wait
GET /networks/<network_ref> NetworkEndpoint network_ref
DELETE /networks/<network_ref> NetworkEndpoint network_ref namespace
GET /networks/<network_ref>/interfaces NetworkInterfacesEndpoint network_ref
GET /networks/<network_ref>/events NetworkEventsEndpoint network_ref event_type limit
GET /networks/<network_ref>/metadata NetworkMetadatasEndpoint network_ref
POST /networks/<network_ref>/metadata NetworkMetadatasEndpoint network_ref key value
PUT /networks/<network_ref>/metadata/<key> NetworkMetadataEndpoint network_ref key value
DELETE /networks/<network_ref>/metadata/<key> NetworkMetadataEndpoint network_ref key
''')

# Emulator routes 0.7.2 has no rule for (the health checks stay: tools wait on them).
UNSERVED_072 = frozenset({
    'GET /clusteroperations',
    'GET /clusteroperations/<op_uuid>/chain',
    'GET /clusteroperations/<operation_type>/<operation_uuid>',
    'GET /artifacts/<artifact_ref>/clusteroperations',
    'GET /instances/<instance_ref>/clusteroperations',
    'GET /networks/<network_ref>/clusteroperations',
    'GET /blobs/<blob_uuid>/events',
    'GET /blobs/<blob_uuid>/checksum/<algorithm>',
})
NEWER_ARTIFACT_KEYS = frozenset({'error_message', 'last_cluster_operation', 'references_to', 'references_from'})
NEWER_BLOB_KEYS = frozenset({'checksums', 'references_to', 'references_from'})

V0_7_2 = ServerProfile(
    name='0.7.2',
    capabilities=CAPABILITIES_072,
    root_page=ROOT_PAGE_072,
    root_page_item='<li>{group}: {names}</li>',
    root_page_item_separator='',
    unserved_routes=UNSERVED_072,
    served_segments=_frozen({'GET /blob_checksums/<algorithm>/<value>': {'algorithm': frozenset({'sha512'})}}),
    endpoints=ENDPOINTS_072,
    reads_query_arguments=False,
    view_versions=_frozen({'artifact': 6, 'blob': 6, 'namespace': 5, 'upload': 3, 'network': 4, 'instance': 13}),
    absent_view_keys=_frozen({
        'artifact': NEWER_ARTIFACT_KEYS | {'instances'},
        'artifact-listing': NEWER_ARTIFACT_KEYS | {'instances', 'blobs.*.instances'},
        'blob': NEWER_BLOB_KEYS,
        'blob-listing': NEWER_BLOB_KEYS | {'instances'},
        'instance': frozenset({'last_cluster_operation', 'agent_operations_queue', 'references_to',
                               'references_from'}),
        'network': frozenset({'provide_dns', 'vxlan_id', 'last_cluster_operation'}),
    }),
    # flask-restful's marshal_with on NetworksEndpoint.get: the view has `vxid`, so `vxlan_id` is Integer's 0.
    network_listing_fields=_frozen({'uuid': None, 'vxlan_id': 0, 'netblock': None, 'provide_dhcp': None,
                                    'provide_nat': None, 'namespace': None, 'name': None, 'state': None}),
    blob_locations_for_everyone=True,
    system_trusts_itself=True,
    metadata_refuses_falsy=True,
    metadata_missing_key_is_404=False,
    instance_metadata_rules=True,
    network_flags_default=None,
    network_delete_answer='view',
    bulk_network_delete_answer='uuids',
    bulk_network_delete_takes_dying=True,
    bulk_deletes_system_means_all=True,
    delete_wait_state='delete-wait',
    instance_delete_waits=True,
    bulk_instance_delete_lists_deleted=True,
    instance_side_channels_default=('sf-agent',),
    instance_side_channels_checked=False,
    instance_sizes_checked=False,
    instance_placed_at_create=True,
    event_limit_checked=False,
    unknown_event_type_fails=True,
    shared_artifact_foreign_read_fails=True,
    name_lookups_widen=False,
    blob_data_streamed=True,
    convert_checks_qcow2_header=True,
    max_versions_checked=False,
    label_max_versions_at_create_only=True,
    artifact_listing_filters_by_node=True,
    snapshot_checksums_deferred=True,
    nvram_snapshot_skips_unchanged=True,
    snapshot_failure_deletes_instance=True,
    thin_snapshot_needs_base=True,
    failed_refetch_keeps_versions=True,
)

PROFILES: Mapping[str, ServerProfile] = _frozen({p.name: p for p in (V0_7_2, LATEST)})
DEFAULT = V0_7_2.name


def get_profile(name: str) -> ServerProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f'unknown server profile {name!r} (known: {", ".join(PROFILES)})') from None
