"""Caching artifacts from URLs: well-known shorthands and the background fetch job.

The job downloads over real HTTP into DATA/tmp while hashing, then (under the write lock) adds the bytes as a new
version unless they equal the newest version (so re-caching unchanged content adds nothing).

Only http and https are ever fetched: `POST /artifacts` refuses anything else (after shorthand expansion) before it
creates anything, and the job's opener has no handler for other schemes and follows no redirect to one. Otherwise a
tenant could cache `file:///proc/self/environ` or the emulator's own database and read it back as a blob.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sf_emulator.config import Config
from sf_emulator.db import Tx
from sf_emulator.faults.crashpoints import reached
from sf_emulator.hooks import HOOKS
from sf_emulator.jobs.queue import enqueue, register_job_kind
from sf_emulator.models import artifacts as model
from sf_emulator.models.blobs import blob_path, checksums, create_blob
from sf_emulator.models.events import add_event

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

OP_TYPE = 'artifact_fetch_op'
READ_SIZE = 4 * 1024 * 1024
DISTRIBUTIONS = ('centos', 'debian', 'fedora', 'rocky', 'ubuntu')
USER_AGENT = 'Mozilla/5.0 (Ubuntu; Linux x86_64) Shaken Fist emulator'
SCHEMES = ('http', 'https')


class FetchError(Exception):
    pass


def require_http(url: str) -> None:
    """Refuse a URL that is not http(s) with a host, judged the way urllib will read it (it unwraps `<URL:...>`
    and surrounding blanks, and lowercases the scheme)."""
    try:
        request = urllib.request.Request(url)
    except ValueError:
        raise FetchError(f'{url!r} is not a URL') from None
    if request.type not in SCHEMES or not request.host:
        raise FetchError(f'only http and https URLs can be fetched, not {url!r}')


def check_url(config: Config, url: str) -> None:
    """What `POST /artifacts` checks before creating anything: the URL, or the base URL a shorthand expands to.

    A bare word that is no known shorthand (no scheme, no `/`) is left to the job, which fails it as before.
    """
    if '/' not in url:
        if url.startswith(DISTRIBUTIONS):
            require_http(config['image_base_url'])
            return
        if url.startswith('cirros'):
            require_http(config['cirros_base_url'])
            return
        if not urlsplit(url.strip()).scheme:
            return
    require_http(url)


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """urllib follows redirects to ftp: too; only http(s) targets are followed here."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        try:
            require_http(newurl)
        except FetchError:
            raise FetchError(f'fetching {req.full_url} failed: refusing a redirect to {newurl!r}') from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """An opener with http(s) handlers only: no file:, ftp: or data: (urlopen's default opener has them all)."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    _HttpRedirectsOnly(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _join(base: str, tail: str) -> str:
    return base if base.endswith('/') else base + '/'


def resolve_url(config: Config, url: str) -> str:
    """Expand a well-known shorthand (only strings without '/'); anything else is used as given."""
    if '/' in url:
        return url
    if url.startswith(DISTRIBUTIONS):
        return f'{_join(config["image_base_url"], url)}{url}/latest.qcow2'
    if url.startswith('cirros'):
        base = _join(config['cirros_base_url'], 'x')
        version = url.split(':', 1)[1] if ':' in url else _latest_cirros(base, config)
        return f'{base}{version}/cirros-{version}-x86_64-disk.img'
    raise FetchError(f'unknown image name {url!r}: not a URL nor a well-known image')


def _latest_cirros(base: str, config: Config) -> str:
    body = _open(base, config).read(1024 * 1024).decode('utf-8', 'replace')
    versions = re.findall(r'href="([0-9]+\.[0-9]+\.[0-9]+)/"', body)
    if not versions:
        raise FetchError(f'no cirros versions listed at {base}')
    return max(versions, key=lambda v: tuple(int(p) for p in v.split('.')))


def _open(url: str, config: Config) -> Any:
    require_http(url)  # again here: settings may have changed since the request was accepted
    request = urllib.request.Request(url, headers={'User-Agent': USER_AGENT})
    try:
        return _opener().open(request, timeout=float(config['fetch_timeout']))
    except urllib.error.HTTPError as exc:
        raise FetchError(f'fetching {url} failed: HTTP {exc.code} {exc.reason}') from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        raise FetchError(f'fetching {url} failed: {reason}') from None


def queue_fetch(tx: Tx, config: Config, artifact_uuid: str, url: str, namespace: str) -> str | None:
    """Record a cluster operation (when the ops module is present) and queue the fetch job."""
    op_uuid = HOOKS.cluster_ops.create(tx, OP_TYPE, 'artifact', artifact_uuid, namespace,
                                       {'url': url, 'instance_uuid': None})
    if op_uuid is not None:
        model.set_last_op(tx, artifact_uuid, OP_TYPE, op_uuid)
    enqueue(tx, 'artifact_fetch', {'artifact_uuid': artifact_uuid, 'url': url, 'op_uuid': op_uuid},
            delay=float(config['op_delay']))
    add_event(tx, 'artifact', artifact_uuid, 'fetch queued', extra={'url': url})
    return op_uuid


def _set_op(app: Runtime, op_uuid: str | None, state: str) -> None:
    if op_uuid is not None:
        with app.db.write() as tx:
            HOOKS.cluster_ops.set_state(tx, op_uuid, state)


def run_fetch(app: Runtime, payload: dict[str, Any]) -> None:
    artifact_uuid, url, op_uuid = payload['artifact_uuid'], payload['url'], payload.get('op_uuid')
    _set_op(app, op_uuid, 'executing')
    started = time.monotonic()
    tmp = app.tmp_dir / f'fetch-{uuid.uuid4()}'
    try:
        time.sleep(float(app.config['fetch_delay']))
        resolved = resolve_url(app.config, url)
        digest = hashlib.sha512()
        size = 0
        with _open(resolved, app.config) as answer, open(tmp, 'wb') as out:
            while chunk := answer.read(READ_SIZE):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except FetchError as exc:
        tmp.unlink(missing_ok=True)
        _fail(app, artifact_uuid, op_uuid, str(exc))
        return
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        _fail(app, artifact_uuid, op_uuid, f'fetching {url} failed: {exc}')
        return
    sha512 = digest.hexdigest()
    blob_uuid = str(uuid.uuid4())
    with app.db.write() as tx:
        art = model.get_artifact(tx, artifact_uuid)
        if art is None or art['state'] == 'deleted':
            tmp.unlink(missing_ok=True)
            if op_uuid:
                HOOKS.cluster_ops.set_state(tx, op_uuid, 'complete')
            return
        current = model.versions(tx, artifact_uuid)
        unchanged = bool(current) and checksums(tx, current[-1]['blob_uuid']).get('sha512') == sha512
        if unchanged:
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, blob_path(app.blob_dir, blob_uuid))
            reached('fetch-moved')  # killed here: the file has no row, start-up removes it, the job runs again
            create_blob(tx, blob_uuid, size, sha512)
            model.add_version(tx, app.config, artifact_uuid, blob_uuid)
        tx.execute("UPDATE artifacts SET state = 'created', error_message = NULL WHERE uuid = ?", (artifact_uuid,))
        add_event(tx, 'artifact', artifact_uuid, 'artifact fetch complete', event_type='status',
                  extra={'url': url, 'resolved_url': resolved, 'size': size, 'new_version': not unchanged},
                  duration=time.monotonic() - started)
        if op_uuid:
            HOOKS.cluster_ops.set_state(tx, op_uuid, 'complete')


def _fail(app: Runtime, artifact_uuid: str, op_uuid: str | None, message: str) -> None:
    with app.db.write() as tx:
        art = model.get_artifact(tx, artifact_uuid)
        if art is not None and art['state'] != 'deleted':
            if app.profile.failed_refetch_keeps_versions and model.versions(tx, artifact_uuid):
                # 0.7.2 takes a failure to update an image it has as transient: the cached version stays.
                add_event(tx, 'artifact', artifact_uuid, 'updating image failed, using already cached version',
                          extra={'message': message})
            else:
                model.set_state(tx, artifact_uuid, 'error', message)
                add_event(tx, 'artifact', artifact_uuid, 'artifact fetch failed', event_type='status',
                          extra={'error': message})
        if op_uuid:
            HOOKS.cluster_ops.set_state(tx, op_uuid, 'error')


register_job_kind('artifact_fetch', run_fetch)
