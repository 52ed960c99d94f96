"""`GET /` (capability strings, what the official client probes) and the health checks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sf_emulator.http.responses import RawResponse
from sf_emulator.http.router import route

if TYPE_CHECKING:
    from sf_emulator.http.request import Request

# Everything the newest server advertises, grouped as it groups them. The client does a substring test on the page.
CAPABILITIES: dict[str, list[str]] = {
    'admin': ['cluster-cacert', 'cluster-resources', 'vdi-token-pubkey'],
    'agent-operations': [
        'agentoperations-crud',
        'instance-agentoperations',
        'instance-agentoperations-all',
        'agentoperations-put-with-mode',
    ],
    'artifacts': ['artifact-metadata', 'artifact-upload-types', 'artifact-clusteroperations'],
    'auth': ['trusted-issuers', 'generated-key-secrets', 'scope-enforcement', 'mapping-rules', 'federated-exchange'],
    'blobs': [
        'blob-metadata',
        'blob-search-by-hash',
        'blob-data-limit',
        'blob-hash-sha1',
        'blob-hash-sha256',
        'blob-hash-xxh128',
        'blob-events',
        'blob-checksums',
        'blob-single-checksum',
    ],
    'cluster-operations': ['get-cluster-operations', 'cluster-operation-chain', 'cluster-operations-by-target'],
    'events': ['events-by-type'],
    'instances': [
        'pure-affinity',
        'spice-vdi-console',
        'vdi-console-helper',
        'vdi-console-proxy',
        'instance-put-blob',
        'instance-execute',
        'instance-get',
        'instance-screenshot',
        'get-instance-namespace',
        'hot-plug-interface',
        'include-queued-agent-operations',
        'instance-clusteroperations',
    ],
    'networks': [
        'list-addresses',
        'route-addresses',
        'get-network-namespace',
        'provide-dns',
        'extra-dns-entries',
        'network-clusteroperations',
        'network-delete-async',
    ],
    'networkinterfaces': ['interface-metadata'],
    'nodes': ['node-get', 'node-metadata', 'node-process-metrics'],
}


def root_page() -> bytes:
    items = '\n'.join(
        f'    <li>{html.escape(group)}: {html.escape(", ".join(names))}</li>' for group, names in CAPABILITIES.items()
    )
    page = f'''<html>
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
    return page.encode('utf-8')


@route('GET', '/', public=True)
def get_root(req: Request) -> RawResponse:
    return RawResponse(root_page(), 'text/html; charset=utf-8')


@route('GET', '/livez', public=True)
def get_livez(req: Request) -> RawResponse:
    return RawResponse(b'ok')


def _ready(req: Request) -> RawResponse:
    try:
        with req.db.read() as tx:
            tx.scalar('SELECT 1')
    except Exception:
        return RawResponse(b'not ready', status=503)
    return RawResponse(b'ready')


@route('GET', '/readyz', public=True)
def get_readyz(req: Request) -> RawResponse:
    return _ready(req)


@route('GET', '/healthz', public=True)
def get_healthz(req: Request) -> RawResponse:
    return _ready(req)
