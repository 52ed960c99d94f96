"""What the property tests share: a seeded in-memory cluster, a module runner and strategies for hostile input.

The runner puts the cluster where the module's client would be by replacing `build_client` in _module.py; the real
AnsibleModule, argument validation, connection settings, resolver, planners and error boundary all run. The fake
refuses every write while the task is in check mode (whatever the module asked for) and records every other one.

Everything is deterministic for one example (UUIDs come from a counter, state lives in a fresh temporary home), so
hypothesis can shrink a failure and replay it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import itertools
import json
import os
import shutil
import tempfile
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional
from unittest import mock

from ansible.module_utils.common import warnings as ansible_warnings
from hypothesis import strategies as st

from ansible_collections.shakenfist.storage.plugins.module_utils import _module
from ansible_collections.shakenfist.storage.plugins.module_utils._client import CONNECTION_OPTIONS, SfClient
from ansible_collections.shakenfist.storage.plugins.module_utils._config import resolve_settings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput, SfServerError
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact
from ansible_collections.shakenfist.storage.plugins.module_utils._module import connection_argument_spec
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import DEFAULT_IMAGE_BASE_URL
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import (
    as_module_process,
    patch_module_args,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import FakeCluster

KEY = 'sk-live-6f1d0c9a8b7e4d3c2b1a'
TOKEN = 'tok-3e8a1f5b9c2d7e4a6b0c'
API_URL = 'https://sf.example/api'
ECHO = 'echo-secrets'  # a name whose writes the cluster refuses with an answer that repeats the credentials


def sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def counting_uuids(start: int = 1) -> Callable[[], uuidlib.UUID]:
    """uuid4 stand-in: the same sequence every time, so an example replays exactly."""
    counter = itertools.count(start)
    return lambda: uuidlib.UUID(int=(0x5F << 120) | next(counter), version=4)


# Local files a publish can read. Created once and never changed, so every example sees the same bytes.
FILES = Path(tempfile.mkdtemp(prefix='sf-properties-'))
atexit.register(shutil.rmtree, FILES, True)
NEW_FILE = FILES / 'new.qcow2'
KNOWN_FILE = FILES / 'known.qcow2'  # the same bytes as the newest version of ci's upload `web`
EMPTY_FILE = FILES / 'empty.qcow2'
NEW_FILE.write_bytes(b'fresh image bytes ' * 64)
KNOWN_FILE.write_bytes(b'web-2')
EMPTY_FILE.write_bytes(b'')
(FILES / 'directory').mkdir()

URL = 'https://images.example.com/web.qcow2'
NEW_URL = 'https://images.example.com/new.qcow2'
BROKEN_URL = 'https://images.example.com/broken.qcow2'
MISSING_URL = 'https://images.example.com/missing.qcow2'


class EchoingCluster(FakeCluster):
    """A cluster whose answers repeat the credentials: in an artifact's error message, in label metadata, and in the
    message and structured detail of a refused write (servers have echoed Authorization headers)."""

    def _echo(self, what: str) -> SfInvalidInput:
        return SfInvalidInput(f'{what} refused: Authorization: Bearer {TOKEN} (key {KEY})', status=400,
                              detail={'headers': {'Authorization': f'Bearer {TOKEN}'}, 'key': KEY})

    def convert_upload(self, name: str, **kwargs: Any) -> Artifact:
        if name == ECHO:
            self._write('convert_upload', name, None, None)
            raise self._echo('POST /artifacts/upload')
        return super().convert_upload(name, **kwargs)

    def update_label(self, namespace: str, name: str, blob_uuid: str, max_versions: Optional[int] = None) -> Artifact:
        if name == ECHO:
            self._write('update_label', f'{namespace}/{name}', blob_uuid)
            raise SfServerError(f'POST /label/{name} failed: server error: token {TOKEN}', status=500,
                                detail={'echo': f'Bearer {TOKEN}'})
        return super().update_label(namespace, name, blob_uuid, max_versions)


@dataclass
class World:
    """The seeded cluster of one example, and the UUIDs tests refer to."""

    cluster: EchoingCluster
    uuids: Dict[str, str] = field(default_factory=dict)
    blobs: Dict[str, str] = field(default_factory=dict)
    # What module runs create is numbered on from here, so a second run against the same world makes new UUIDs.
    new_uuid: Callable[[], uuidlib.UUID] = field(default_factory=lambda: counting_uuids(1000))


def _label(cluster: FakeCluster, namespace: str, name: str, blob_uuid: str, shared: bool = False) -> str:
    uuid = cluster.seed(f'sf://label/{namespace}/{name}', [], namespace=namespace, artifact_type='label',
                        shared=shared)
    cluster.add_version(uuid, blob_uuid)
    return uuid


def build_world() -> World:
    """Every kind of thing a reference can meet: own, trusted, shared system and invisible uploads; labels of each;
    a cached upstream image; fetched URLs (one in error); a snapshot; names that are ambiguous on purpose."""
    cluster = EchoingCluster('ci', trusted_by=('friend',))
    world = World(cluster)
    uuids = world.uuids
    with mock.patch.object(uuidlib, 'uuid4', counting_uuids(1)):
        uuids['web'] = cluster.upload_named('web', [b'web-1', b'web-2'], namespace='ci')
        uuids['db'] = cluster.upload_named('db', [b'db-1'], namespace='ci')
        uuids['friend-web'] = cluster.upload_named('web', [b'friend-web'], namespace='friend')
        uuids['secret'] = cluster.upload_named('secret', [b'stranger'], namespace='stranger')
        uuids['base'] = cluster.upload_named('base', [b'base-1'], namespace='system', shared=True)
        for name, uuid in list(uuids.items()):
            world.blobs[name] = cluster.artifacts[uuid].versions[max(cluster.artifacts[uuid].versions)]
        uuids['label-web'] = _label(cluster, 'ci', 'web', world.blobs['web'])
        uuids['label-centos'] = _label(cluster, 'system', 'centos:7', world.blobs['base'], shared=True)
        uuids['label-friend'] = _label(cluster, 'friend', 'staging', world.blobs['friend-web'])
        cluster.artifacts[uuids['label-web']].metadata.update({
            'owner': 'team-web', 'note': f'moved with Bearer {TOKEN} and key {KEY}',
            'shakenfist.storage.resolved_from.1': json.dumps({'input': 'web', 'ref': 'sf://upload/ci/web'})})
        uuids['debian'] = cluster.seed('debian:12', [b'debian'], namespace='system', shared=True)
        uuids['url'] = cluster.seed(URL, [b'url-1'], namespace='ci')
        uuids['broken'] = cluster.seed(BROKEN_URL, [], namespace='ci', state='error',
                                       error_message=f'fetching failed: sent Authorization: Bearer {TOKEN}')
        uuids['snapshot'] = cluster.seed(f'sf://instance/{uuidlib.uuid4()}/vda', [b'snap'], namespace='ci',
                                         artifact_type='snapshot')
        uuids['other'] = cluster.upload_named('notes', [b'notes-1'], namespace='ci', artifact_type='other')
    for url in (URL, NEW_URL):
        cluster.remote[url] = cluster.web[url] = b'content at ' + url.encode()
    return world


CONNECTION_SPEC = connection_argument_spec()
TEMPLATE = build_world()  # the same UUIDs every time: strategies name seeded artifacts by them


class SecretTransport:
    """What the module boundary reads of the transport: the real redaction over the credentials, and counts."""

    redact = SfTransport.redact

    def __init__(self, cluster: FakeCluster, settings: Any) -> None:
        self.cluster = cluster
        self.settings = settings
        self._token = TOKEN

    @property
    def write_count(self) -> int:
        return len(self.cluster.writes)

    @property
    def request_count(self) -> int:
        return len(self.cluster.writes)


@dataclass
class Run:
    """How one module run ended."""

    args: Dict[str, Any]
    stdout: str
    stderr: str
    exit_code: Any
    writes: List[tuple]
    built: List[bool]  # read_only of every client the module asked for (empty: it failed before building one)

    @property
    def result(self) -> Dict[str, Any]:
        return dict(json.loads(self.stdout))

    @property
    def check_mode(self) -> bool:
        return bool(self.args.get('_ansible_check_mode'))


@contextlib.contextmanager
def private_home() -> Iterator[str]:
    """A fresh HOME (the checksum cache and upload records default under it) and no SHAKENFIST_* settings."""
    with tempfile.TemporaryDirectory(prefix='sf-home-') as home:
        environ = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
        with mock.patch.dict(os.environ, {**environ, 'HOME': home}, clear=True):
            yield home


def run_module(module_class: type, args: Dict[str, Any], world: Optional[World] = None) -> Run:
    """Run a module as Ansible would, in process; only SystemExit is expected to leave it."""
    world = world or build_world()
    cluster = world.cluster
    check_mode = bool(args.get('_ansible_check_mode'))
    built: List[bool] = []

    def build_client(options: Any, *, log: Any = None, read_only: bool = False,
                     image_base_url: Optional[str] = None) -> SfClient:
        built.append(read_only)
        settings = resolve_settings({name: options.get(name) for name in CONNECTION_OPTIONS}, environ={},
                                    config_files=[])
        # Read-only whenever the task is in check mode, whatever the module asked for: a write then fails loudly.
        cluster.settings, cluster.read_only = settings, read_only or check_mode
        cluster.forget()
        return SfClient(settings, SecretTransport(cluster, settings), cluster,
                        Resolver(cluster, image_base_url or DEFAULT_IMAGE_BASE_URL))

    # A module process starts with no warnings; in this one process the previous run's are still held.
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
    out, err = io.StringIO(), io.StringIO()
    exit_code: Any = None
    with private_home(), patch_module_args(args), as_module_process(), \
            mock.patch.object(_module, 'build_client', build_client), \
            mock.patch.object(uuidlib, 'uuid4', world.new_uuid), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module_class()()
        except SystemExit as exc:
            exit_code = exc.code
        else:
            raise AssertionError('the module returned without calling exit_json or fail_json')
    return Run(args, out.getvalue(), err.getvalue(), exit_code, list(cluster.writes), built)


# Strategies
SPECIAL_TEXT = [
    '', ' ', '.', '..', '/', '//', '%2F', '%2e%2e', 'a/b', 'a/b/c', '../etc/passwd', '/etc/passwd', 'web\n', ' web',
    'web ', '\x00', 'web\x00', '\x7f', '\t', 'web%2Fx', 'ＷＥＢ', 'web\u200b', 'café', 'sf://', 'sf:///',
    'sf://label/', 'sf://label/ci', 'sf://label/ci/', 'sf://label//web', 'sf://label/ci/web/x', 'sf://upload/ci/..',
    'sf://artifact/not-a-uuid', 'sf://blob/', 'sf://nope/x', 'label:', 'label:a/b', 'file:///etc/passwd',
    'ftp://example/x', 'http://', 'https://', '://', 'c:\\windows', '*', '[', '?', 'latest', 'null', 'None',
    '{{ lookup("pipe", "id") }}', '$(id)', 'x' * 100_000, 'é' * 5000,
]
REFERENCES = [
    'web', 'db', 'base', 'notes', 'new-image', 'centos:7', 'debian:12', 'debian:11', 'cirros:0.6.2', 'cirros',
    'ubuntu', 'staging', 'secret', 'ci/web', 'friend/web', 'friend/staging', 'system/base', 'system/centos:7',
    'stranger/secret', 'label:web', 'label:staging', 'label:centos:7', 'sf://label/ci/web',
    'sf://label/system/centos:7', 'sf://label/friend/staging', 'sf://upload/ci/web', 'sf://upload/friend/web', 'sf://upload/system/base',
    'sf://upload/stranger/secret', URL, NEW_URL, BROKEN_URL, MISSING_URL, ECHO, f'ci/{ECHO}',
] + [f'sf://artifact/{uuid}' for uuid in TEMPLATE.uuids.values()] + list(TEMPLATE.uuids.values()) + [
    f'sf://snapshot/{TEMPLATE.uuids["snapshot"]}', f'sf://blob/{TEMPLATE.blobs["web"]}',
    TEMPLATE.uuids['web'].upper(), str(uuidlib.UUID(int=7)),
]
NAMESPACES = ['ci', 'system', 'friend', 'stranger', 'nobody']
SHA512S = [sha(b'web-2'), sha(b'web-1'), sha(b'db-1'), sha(NEW_FILE.read_bytes()), 'sha512:' + sha(b'web-2'),
           sha(b'web-2').upper(), ' ' + sha(b'web-2'), sha(b'web-2')[:127], sha(b'web-2') + '0', 'g' * 128]
PATHS = [str(NEW_FILE), str(KNOWN_FILE), str(EMPTY_FILE), str(FILES / 'directory'), str(FILES / 'missing'),
         '/dev/null', 'relative/missing.qcow2', '~/missing']
# Lone surrogates crash ansible-core's own _log_invocation (UnicodeEncodeError) before a module's code runs, so only
# the pure-Python tests use them.
SURROGATES = ['\udcff', '\ud800', 'web\udc80']
INFINITIES = [float('inf'), float('-inf'), 'inf', '-inf', 'Infinity']

texts = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_TEXT), st.uuids().map(str),
                  st.uuids().map(lambda u: str(u).upper()))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)
edge_numbers = st.one_of(
    st.sampled_from([0, 1, 2, 3, -1, -(2 ** 63), 2 ** 63, 10 ** 30, 1.5, 2.0, -0.0, float('nan'), '.inf', 'nan',
                     'NaN', '1e3', '1e400', '١٢', '0x10', ' 7 ', '3', '-1', '1.5', '']),
    st.integers(), st.floats(allow_infinity=False))
edge_floats = edge_numbers | st.sampled_from(INFINITIES)
bool_like = st.booleans() | st.sampled_from(['yes', 'no', 'true', 'off', 'maybe', 1, 0, 2, '', None])

# Values that make sense for an option of that name (then the hostile ones are mixed in by the option's type).
DOMAIN: Dict[str, st.SearchStrategy[Any]] = {
    'api_url': st.sampled_from([API_URL, API_URL + '/', 'http://127.0.0.1:1', 'sf.example/api', 'ftp://sf.example',
                                '']),
    'namespace': st.sampled_from(NAMESPACES),
    'key': st.sampled_from([KEY, '', None]),
    'name': st.sampled_from(REFERENCES),
    'target': st.sampled_from(REFERENCES),
    'ref': st.sampled_from(REFERENCES),
    'label': st.sampled_from(REFERENCES),
    'blob': st.sampled_from(list(TEMPLATE.blobs.values()) + [str(uuidlib.UUID(int=9))]),
    'owner': st.sampled_from(NAMESPACES),
    'target_namespace': st.sampled_from(NAMESPACES),
    'pattern': st.sampled_from(['*', 'web*', '[', '[!', '**', '?', 'web', '*/*']),
    'src': st.sampled_from(PATHS),
    'ca_path': st.sampled_from(PATHS),
    'checksum_cache_dir': st.sampled_from(['~/state', '/dev/null', '/proc/sf-nowhere', '~']),
    'url': st.sampled_from([URL, NEW_URL, BROKEN_URL, MISSING_URL, 'file:///etc/passwd', 'ftp://x/y', 'debian:12',
                            'http://', URL + '?x=%2F..']),
    'image_base_url': st.sampled_from([DEFAULT_IMAGE_BASE_URL, 'https://mirror.example', '', 'not a url']),
    'checksum': st.sampled_from(SHA512S),
    'target_sha512': st.sampled_from(SHA512S),
    'target_version': st.sampled_from([1, 2, 3, 'latest', 'LATEST', '2', 0, -1, 99]),
    'prefer': st.lists(st.sampled_from(['namespace', 'system', 'trusted', 'upstream']), max_size=4),
    'metadata': st.dictionaries(st.sampled_from(['owner', 'tier', 'shakenfist.storage.x', 'a/b', '..', '', 'é']),
                                json_values, max_size=3),
    'chunk_size': st.sampled_from([1, 16, 512, 513]),
    'max_versions': st.sampled_from([0, 1, 3, 5]),
    'rollback': st.sampled_from([1, 2, 5]),
    'version': st.sampled_from([1, 2, 3]),
    'wait_timeout': st.sampled_from([1, 900]),
    'retries': st.sampled_from([0, 2]),
    'timeout': st.sampled_from([0.5, 60]),
}
# Options whose arbitrary text could reach the host outside the example's private home.
NO_FREE_TEXT = {'checksum_cache_dir', 'key'}


def value_for(name: str, option: Dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid-looking values for the option, then values hostile to its declared type, then wrong types."""
    kind = option.get('type', 'str')
    domain = DOMAIN.get(name)
    if option.get('choices'):
        domain = st.sampled_from(option['choices'])
        if kind == 'list':
            domain = st.lists(domain, max_size=3)
    if name in NO_FREE_TEXT:
        return domain if domain is not None else st.nothing()
    hostile: st.SearchStrategy[Any]
    if kind == 'int':
        # Infinities crash ansible-core itself; test_int_options_refuse_infinity covers them.
        hostile = edge_numbers
    elif kind == 'float':
        hostile = edge_floats
    elif kind == 'bool':
        hostile = bool_like
    elif kind == 'list':
        hostile = st.lists(texts, max_size=3) | texts
    elif kind == 'dict':
        hostile = st.dictionaries(texts, json_values, max_size=3) | st.sampled_from(['a=1 b=2', 'a', '{'])
    elif kind == 'raw':
        hostile = edge_numbers | texts | json_values
    else:
        hostile = texts
    options = ([domain] if domain is not None else []) + [hostile, json_values]
    return st.one_of(*options)


def connection(namespace: str = 'ci') -> Dict[str, Any]:
    return {'api_url': API_URL, 'namespace': namespace, 'key': KEY}


@st.composite
def module_arguments(draw: st.DrawFn, spec: Dict[str, Dict[str, Any]], bases: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A valid base (so runs go deep), then a few changes: an option set to any value, removed, or an unknown one.
    Connection options change less often: a broken connection ends a run before the module's own code."""
    args = dict(draw(st.sampled_from(bases)))
    own = sorted(set(spec) - set(CONNECTION_SPEC))
    for _change in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(['own'] * 6 + ['connection', 'remove', 'remove', 'unknown']))
        if change in ('own', 'connection'):
            name = draw(st.sampled_from(own if change == 'own' else sorted(CONNECTION_SPEC)))
            args[name] = draw(value_for(name, spec[name]))
        elif change == 'remove' and set(args) - set(CONNECTION_SPEC):
            args.pop(draw(st.sampled_from(sorted(set(args) - set(CONNECTION_SPEC)))))
        elif change == 'unknown':
            unknown = st.text(min_size=1, max_size=8).filter(lambda k: k not in spec and not k.startswith('_'))
            args[draw(unknown)] = draw(json_values)
    args['_ansible_check_mode'] = draw(st.booleans())
    args['_ansible_diff'] = draw(st.booleans())
    args['_ansible_verbosity'] = draw(st.sampled_from([0, 3]))
    return args
