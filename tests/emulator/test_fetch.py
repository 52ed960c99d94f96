"""POST /artifacts with a URL: asynchronous fetch over real HTTP, shorthands, errors, refresh without change."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from sfe_helpers import Api, make_namespace, marked_profile

from sf_emulator.testing import EmulatorProcess


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for images.shakenfist.com and download.cirros-cloud.net."""
    root = tmp_path / 'site'
    root.mkdir()
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/', root
    server.shutdown()
    server.server_close()


@pytest.fixture
def fetching(request: pytest.FixtureRequest, tmp_path: Path,
             image_site: tuple[str, Path]) -> Iterator[tuple[Api, Path, str]]:
    base, root = image_site
    args = ['--op-delay', '0.05', '--fetch-delay', '0.1', '--image-base-url', base, '--cirros-base-url',
            base + 'cirros/']
    with EmulatorProcess(tmp_path / 'data', extra_args=args, server_profile=marked_profile(request.node)) as sf:
        yield Api(sf.url, 'system', sf.system_key), root, base


def wait_for(api: Api, uuid: str, states: tuple[str, ...] = ('created', 'error'), count: int = 1) -> dict:
    """Poll the artifact until it is in one of `states` and has `count` completed fetches."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        view = api.ok('GET', f'/artifacts/{uuid}')
        done = [e for e in api.ok('GET', f'/artifacts/{uuid}/events') if e['message'].startswith('artifact fetch')]
        if view['state'] in states and len(done) >= count:
            return view
        time.sleep(0.05)
    raise AssertionError(f'artifact {uuid} never reached {states}')


def test_fetch_url_creates_a_version_and_refresh_only_when_changed(fetching: tuple[Api, Path, str]) -> None:
    api, root, base = fetching
    (root / 'x').mkdir()
    data = os.urandom(300_000)
    (root / 'x' / 'disk.qcow2').write_bytes(data)
    url = base + 'x/disk.qcow2'
    art = api.ok('POST', '/artifacts', {'url': url})
    assert art['state'] == 'initial' and art['index'] == 0 and 'blob_uuid' not in art
    assert art['source_url'] == url
    done = wait_for(api, art['uuid'])
    assert done['state'] == 'created' and done['index'] == 1
    blob = api.ok('GET', f'/blobs/{done["blob_uuid"]}')
    assert blob['sha512'] == hashlib.sha512(data).hexdigest() and blob['size'] == len(data)
    assert api.ok('GET', '/artifacts/disk.qcow2')['uuid'] == art['uuid']  # the name is the URL's last part
    again = api.ok('POST', '/artifacts', {'url': url})
    assert again['uuid'] == art['uuid']  # reused: the namespace owns an image with that URL
    assert wait_for(api, art['uuid'], count=2)['index'] == 1  # unchanged: no new version
    (root / 'x' / 'disk.qcow2').write_bytes(os.urandom(1000))
    api.ok('POST', '/artifacts', {'url': url})
    assert wait_for(api, art['uuid'], count=3)['index'] == 2


@pytest.mark.server_profile('latest')  # error_message in the artifact view
def test_fetch_failure_sets_error(fetching: tuple[Api, Path, str]) -> None:
    api, _, base = fetching
    art = api.ok('POST', '/artifacts', {'url': base + 'missing/image.qcow2'})
    failed = wait_for(api, art['uuid'])
    assert failed['state'] == 'error' and '404' in failed['error_message']
    refused = api.ok('POST', '/artifacts', {'url': 'http://127.0.0.1:9/nothing.qcow2'})
    assert wait_for(api, refused['uuid'])['state'] == 'error'


@pytest.mark.parametrize('profile', [pytest.param('0.7.2', marks=pytest.mark.server_profile('0.7.2')),
                                     pytest.param('latest', marks=pytest.mark.server_profile('latest'))])
def test_a_failed_refetch_of_an_image_it_has(fetching: tuple[Api, Path, str], profile: str) -> None:
    """0.7.2 keeps the cached version and says so only in an event; newer servers turn the artifact to error."""
    api, root, base = fetching
    (root / 'gone.qcow2').write_bytes(os.urandom(1000))
    art = api.ok('POST', '/artifacts', {'url': base + 'gone.qcow2'})
    assert wait_for(api, art['uuid'])['state'] == 'created'
    (root / 'gone.qcow2').unlink()
    api.ok('POST', '/artifacts', {'url': base + 'gone.qcow2'})
    deadline = time.monotonic() + 15
    messages: list[str] = []
    while time.monotonic() < deadline and not any('failed' in m for m in messages):
        messages = [e['message'] for e in api.ok('GET', f'/artifacts/{art["uuid"]}/events')]
        time.sleep(0.05)
    view = api.ok('GET', f'/artifacts/{art["uuid"]}')
    if profile == '0.7.2':
        assert 'updating image failed, using already cached version' in messages and view['state'] == 'created'
    else:
        assert 'artifact fetch failed' in messages and view['state'] == 'error'
    assert view['index'] == 1


def test_shorthands_resolve_through_the_image_base_url(fetching: tuple[Api, Path, str]) -> None:
    api, root, _ = fetching
    (root / 'debian:12').mkdir()
    (root / 'debian:12' / 'latest.qcow2').write_bytes(b'debian twelve')
    (root / 'cirros' / '0.6.2').mkdir(parents=True)
    (root / 'cirros' / '0.6.2' / 'cirros-0.6.2-x86_64-disk.img').write_bytes(b'cirros 0.6.2')
    (root / 'cirros' / '0.5.1').mkdir(parents=True)
    (root / 'cirros' / '0.5.1' / 'cirros-0.5.1-x86_64-disk.img').write_bytes(b'cirros 0.5.1')
    for url, expected in (('debian:12', b'debian twelve'), ('cirros:0.5.1', b'cirros 0.5.1'),
                          ('cirros', b'cirros 0.6.2')):
        art = api.ok('POST', '/artifacts', {'url': url})
        done = wait_for(api, art['uuid'])
        assert done['state'] == 'created', done['error_message']
        assert done['source_url'] == url
        assert api.call('GET', f'/blobs/{done["blob_uuid"]}/data').content == expected
    unknown = api.ok('POST', '/artifacts', {'url': 'mylabel'})
    assert wait_for(api, unknown['uuid'])['state'] == 'error'


def test_fetch_errors_and_sharing(fetching: tuple[Api, Path, str]) -> None:
    api, root, base = fetching
    tenant = make_namespace(api)
    assert api.error('POST', '/artifacts', {}) == (400, 'no url specified')
    assert tenant.error('POST', '/artifacts', {'url': base + 'a', 'shared': True}) == (
        403, 'only the system namespace can create shared artifacts')
    (root / 'shared.img').write_bytes(b'shared')
    art = api.ok('POST', '/artifacts', {'url': base + 'shared.img', 'shared': True})
    assert art['shared'] is True
    assert wait_for(api, art['uuid'])['state'] == 'created'
    assert art['uuid'] in [a['uuid'] for a in tenant.ok('GET', '/artifacts')]
    mine = tenant.ok('POST', '/artifacts', {'url': base + 'shared.img'})
    assert mine['uuid'] != art['uuid'] and mine['namespace'] == tenant.namespace


class Redirects(Quiet):
    """`/to/<target>` answers a 302 to the percent-decoded target URL."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        if not self.path.startswith('/to/'):
            super().do_GET()
            return
        self.send_response(302)
        self.send_header('Location', unquote(self.path[len('/to/'):]))
        self.send_header('Content-Length', '0')
        self.end_headers()


@pytest.fixture
def redirect_site(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / 'redirect-site'
    root.mkdir()
    (root / 'real.img').write_bytes(b'reached over http')
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(Redirects, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/'
    server.shutdown()
    server.server_close()


def test_only_http_and_https_urls_are_fetched(tmp_path: Path) -> None:
    """A tenant must not read local files (the system key in /proc/self/cmdline, the database) through a fetch."""
    data_dir = tmp_path / 'data'
    with EmulatorProcess(data_dir, extra_args=['--op-delay', '0.05', '--fetch-delay', '0.05']) as sf:
        system = Api(sf.url, 'system', sf.system_key)
        tenant = make_namespace(system)
        local = ['file:///proc/self/cmdline', 'file:///proc/self/environ', 'file:///etc/passwd',
                 f'file://{data_dir / "emulator.sqlite3"}', f'file://localhost{data_dir / "emulator.sqlite3"}',
                 'FILE:///etc/passwd', ' file:///etc/passwd', '<URL:file:///etc/passwd>', 'file:/etc/passwd',
                 'ftp://127.0.0.1/etc/passwd', 'data:,hello', 'data:text/plain;base64,aGVsbG8=',
                 'gopher://127.0.0.1:70/x', 'http:///etc/passwd', 'https://']
        for url in local:
            status, message = tenant.error('POST', '/artifacts', {'url': url})
            assert status == 400 and 'only http and https' in message, (url, message)
        # A shorthand expands to a base URL: that is checked too (settings are system-only, but still).
        sf.set_config(image_base_url='file:///etc/')
        assert tenant.error('POST', '/artifacts', {'url': 'debian:12'})[0] == 400
        assert system.error('POST', '/artifacts', {'url': 'file:///etc/passwd', 'shared': True})[0] == 400
        # Nothing was created, and no blob holds the files' bytes.
        assert tenant.ok('GET', '/artifacts') == [] and system.ok('GET', '/artifacts') == []
        assert system.ok('GET', '/blobs') == []
        secret = sf.system_key.encode()
        for blob_file in (data_dir / 'blobs').iterdir():
            assert secret not in blob_file.read_bytes()


def test_redirects_to_other_schemes_are_not_followed(fetching: tuple[Api, Path, str], redirect_site: str) -> None:
    api, _, _ = fetching
    for target in ('file:///etc/passwd', 'ftp://127.0.0.1/etc/passwd', 'data:,hello', 'gopher://127.0.0.1/x'):
        art = api.ok('POST', '/artifacts', {'url': f'{redirect_site}to/{quote(target, safe="")}'})
        failed = wait_for(api, art['uuid'])
        assert failed['state'] == 'error' and 'blob_uuid' not in failed, (target, failed)
    followed = api.ok('POST', '/artifacts', {'url': f'{redirect_site}to/{quote(redirect_site + "real.img")}'})
    done = wait_for(api, followed['uuid'])
    assert done['state'] == 'created'
    assert api.call('GET', f'/blobs/{done["blob_uuid"]}/data').content == b'reached over http'
