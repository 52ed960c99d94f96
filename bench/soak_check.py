"""The soak's consistency check: what the cluster holds after the run, read through the API and the emulator's data
directory, never through the code under test.

Each finding is one line a person can act on: what is wrong, where, and the evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.sfsupport.backend import Backend

HISTORY_PREFIX = 'shakenfist.storage.resolved_from.'


@dataclass
class Finding:
    text: str
    # What the soak can look up in its task records for evidence: ('upload', size) or ('label', ref, versions).
    clue: tuple[Any, ...] = ()


@dataclass
class Check:
    name: str
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    def fail(self, text: str, *clue: Any) -> None:
        self.findings.append(Finding(text, clue))


@dataclass
class Consistency:
    checks: list[Check]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not any(check.findings for check in self.checks)


def blob_sha512(backend: Backend, uuid: str) -> tuple[str, int]:
    """Hash a blob's bytes as the API serves them (GET /blobs/<uuid>/data), streamed."""
    token = backend._token('system', backend.system_key)
    request = urllib.request.Request(f'{backend.url}/blobs/{uuid}/data', headers={'Authorization': f'Bearer {token}'})
    digest = hashlib.sha512()
    size = 0
    with urllib.request.urlopen(request, timeout=60) as answer:
        while chunk := answer.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def resumable_uploads(state_dirs: Iterable[Path]) -> set[str]:
    """The uploads the runs recorded for their next run to resume (a conversion that never answered keeps its
    upload rather than emptying what the server may still be converting)."""
    kept = set()
    for state_dir in state_dirs:
        for record in (state_dir / 'uploads').glob('*.json') if (state_dir / 'uploads').is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                uuid = json.loads(record.read_text()).get('upload_uuid')
                if uuid:
                    kept.add(str(uuid))
    return kept


def check_cluster(backend: Backend, namespace: str, uploads_dir: Path,
                  publishes: Iterable[tuple[int, str, str, dict[str, Any], str]],
                  resumable: frozenset[str] = frozenset()) -> Consistency:
    """Every check the soak promises. `publishes`: (op id, host, artifact name, result, expected sha512) of each
    successful publish of a file."""
    blobs_check = Check("every stored blob's bytes hash to its recorded sha512")
    versions_check = Check('every artifact version holds a created blob with a sha512')
    initial_check = Check('no artifact left in `initial` with no versions')
    uploads_check = Check('no upload with bytes left, but those recorded for the next run to resume')
    history_check = Check('label history keys exist exactly for the kept versions')
    publish_check = Check("every successful publish reported its file's sha512")
    reported_check = Check('every successful publish reported a version')
    label_check = Check('a publish with label reports the label version it made, at its own blob')

    artifacts = backend.call('GET', '/artifacts') or []
    counts = {'artifacts': 0, 'labels': 0, 'versions': 0, 'blobs': 0, 'blob_bytes': 0}
    for artifact in artifacts:
        if artifact.get('namespace') != namespace:
            continue
        counts['artifacts'] += 1
        uuid = artifact['uuid']
        where = f"{artifact['artifact_type']} {artifact.get('source_url')} ({uuid}, state {artifact['state']})"
        versions = backend.call('GET', f'/artifacts/{uuid}/versions') or []
        counts['versions'] += len(versions)
        initial_check.checked += 1
        if artifact['state'] == 'initial' and not versions:
            initial_check.fail(f'{where} is in state initial with no versions')
        for version in versions:
            versions_check.checked += 1
            if version.get('state') != 'created' or not version.get('sha512'):
                versions_check.fail(f"{where} version {version.get('index')}: blob {version.get('uuid')} is "
                                    f"{version.get('state')} with sha512 {version.get('sha512')}")
        if artifact['artifact_type'] == 'label':
            counts['labels'] += 1
            history_check.checked += 1
            kept = {int(v['index']) for v in versions}
            metadata = backend.call('GET', f'/artifacts/{uuid}/metadata') or {}
            keyed = {int(k[len(HISTORY_PREFIX):]) for k in metadata
                     if k.startswith(HISTORY_PREFIX) and k[len(HISTORY_PREFIX):].isdigit()}
            ref = artifact.get('source_url')
            if kept - keyed:
                history_check.fail(f'{where}: kept versions {sorted(kept - keyed)} have no history key '
                                   f'(kept {sorted(kept)}, keys {sorted(keyed)})', 'label', ref,
                                   sorted(kept - keyed))
            if keyed - kept:
                history_check.fail(f'{where}: history keys for versions {sorted(keyed - kept)} the server no '
                                   f'longer keeps (kept {sorted(kept)}, keys {sorted(keyed)})', 'label', ref,
                                   sorted(keyed - kept))

    for blob in backend.call('GET', '/blobs') or []:
        blobs_check.checked += 1
        if blob['state'] != 'created':
            blobs_check.fail(f"blob {blob['uuid']} is {blob['state']} (size {blob.get('size')}, references "
                             f"{blob.get('reference_count')})")
            continue
        counts['blobs'] += 1
        try:
            digest, size = blob_sha512(backend, blob['uuid'])
        except OSError as exc:
            blobs_check.fail(f"blob {blob['uuid']}: its bytes cannot be read: {exc}")
            continue
        counts['blob_bytes'] += size
        if digest != blob.get('sha512') or size != blob.get('size'):
            blobs_check.fail(f"blob {blob['uuid']}: bytes hash to {digest[:16]}... ({size} bytes), recorded "
                             f"{str(blob.get('sha512'))[:16]}... ({blob.get('size')} bytes)")

    for path in sorted(uploads_dir.iterdir()) if uploads_dir.exists() else []:
        uploads_check.checked += 1
        size = path.stat().st_size
        if size and path.name in resumable:
            counts['uploads_kept'] = counts.get('uploads_kept', 0) + 1
        elif size:
            uploads_check.fail(f'upload {path.name} holds {size} bytes', 'upload', size)

    for op_id, host, name, result, expected in publishes:
        reported_check.checked += 1
        version = result.get('version') or {}
        if not version:
            # Not a wrong answer but none: kept apart from a mismatch, with what deleted the artifact meanwhile.
            reported_check.fail(f'op {op_id} on {host}: ok and changed, but no version and no artifact reported; '
                                f'actions: {result.get("actions")}', 'deleted', name, op_id)
            continue
        publish_check.checked += 1
        if version.get('sha512') != expected:
            publish_check.fail(f'op {op_id} on {host}: reported version {version.get("index")} with sha512 '
                               f'{str(version.get("sha512"))[:16]}..., the file has {expected[:16]}...; '
                               f'actions: {result.get("actions")}')
        if result.get('sha512') not in (None, expected):
            publish_check.fail(f'op {op_id} on {host}: reported sha512 {str(result["sha512"])[:16]}..., the file '
                               f'has {expected[:16]}...')
        label = result.get('label')
        if label:
            label_check.checked += 1
            if label.get('blob_uuid') != version.get('blob_uuid'):
                label_check.fail(f'op {op_id} on {host}: label {label.get("ref")} reported as version '
                                 f'{label.get("version")} at blob {label.get("blob_uuid")}, but the published version '
                                 f'is blob {version.get("blob_uuid")}; actions: {result.get("actions")}')

    checks = [blobs_check, versions_check, initial_check, uploads_check, history_check, reported_check, publish_check,
              label_check]
    return Consistency(checks, counts)
