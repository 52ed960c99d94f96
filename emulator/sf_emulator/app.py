"""The emulator process: data directory, database, background threads, HTTP server."""

from __future__ import annotations

import importlib
import importlib.util
import secrets
import threading
from pathlib import Path
from typing import Any

from sf_emulator.authentication import authenticate
from sf_emulator.config import Config, make_current
from sf_emulator.db import Database
from sf_emulator.faults.injection import Faults
from sf_emulator.faults.requestlog import RequestLog
from sf_emulator.jobs.workers import Cleaner, Workers, run_startup_tasks
from sf_emulator.models.namespaces import SYSTEM, create_namespace, get_namespace, set_key
from sf_emulator.profiles import DEFAULT, get_profile
from sf_emulator.security import verify_secret

# Importing a module registers what it declares: routes, tables, settings, job kinds, periodic and start-up tasks
# (a route module imports the models and jobs it uses, so they register too). The optional modules are imported
# only when their file exists, so they can be added without editing this list.
CORE_MODULES = (
    'routes.root',
    'routes.auth',
    'routes.namespaces',
    'routes.blobs',
    'jobs.blob_files',
    'jobs.checksum_pass',
    'routes.uploads',
    'jobs.upload_cleanup',
    'routes.artifacts',
    'routes.labels',
    'routes.emulator_admin',
)
OPTIONAL_MODULES = ('routes.clusterops', 'routes.instances', 'routes.snapshots', 'routes.networks')


def load_domain_modules() -> list[str]:
    loaded = []
    for name in CORE_MODULES + OPTIONAL_MODULES:
        full = f'sf_emulator.{name}'
        if name in OPTIONAL_MODULES and importlib.util.find_spec(full) is None:
            continue
        importlib.import_module(full)
        loaded.append(name)
    return loaded


class App:
    """The running emulator: what `runtime.Runtime` describes to the server, the handlers and the jobs."""

    def __init__(
        self,
        data_dir: Path,
        *,
        system_key: str | None = None,
        settings: dict[str, Any] | None = None,
        faults: list[dict[str, Any]] | None = None,
        verbose: bool = False,
        admin_routes: bool = True,
        server_profile: str = DEFAULT,
    ) -> None:
        self.modules = load_domain_modules()
        self.profile = get_profile(server_profile)  # ValueError for an unknown name
        self.data_dir = data_dir
        self.blob_dir = data_dir / 'blobs'
        self.upload_dir = data_dir / 'uploads'
        self.tmp_dir = data_dir / 'tmp'
        self.config = Config(settings)
        make_current(self.config)
        self.db = Database(data_dir / 'emulator.sqlite3')
        self.faults = Faults()
        for spec in faults or []:
            self.faults.add(spec)
        self.request_log = RequestLog()
        self.verbose = verbose
        self.admin_routes = admin_routes  # False: no /_emulator/ routes at all (--no-admin-routes)
        self.system_key = system_key
        self.generated_system_key: str | None = None
        self.jwt_secret = b''
        self.state: dict[str, Any] = {}  # per-module in-memory state (e.g. running upload hashes)
        self.state_lock = threading.Lock()
        self._workers: Workers | None = None
        self._cleaner: Cleaner | None = None

    def open(self) -> None:
        """Create the data directory layout and database; make sure `system` exists with the given key."""
        for directory in (self.data_dir, self.blob_dir, self.upload_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.iterdir():  # partial downloads of a previous run
            stale.unlink(missing_ok=True)
        self.db.open()
        secret = self.db.get_setting('jwt_secret')
        if secret is None:
            secret = secrets.token_hex(32)
            self.db.set_setting('jwt_secret', secret)
        self.jwt_secret = bytes.fromhex(secret)

        key = self.system_key
        with self.db.write() as tx:
            if get_namespace(tx, SYSTEM) is None:
                create_namespace(tx, SYSTEM)
            if key is None:
                key = self.generated_system_key = secrets.token_urlsafe(24)
            stored = tx.one("SELECT hash FROM namespace_keys WHERE namespace = ? AND name = 'deploy'", (SYSTEM,))
            if stored is None or not verify_secret(key, stored['hash']):  # same key: keep its tokens valid
                set_key(tx, SYSTEM, 'deploy', key)
        self.system_key = key
        run_startup_tasks(self)

    def start_background(self) -> None:
        self._workers = Workers(self, int(self.config['workers']))
        self._workers.start()
        self._cleaner = Cleaner(self)
        self._cleaner.start()

    def stop_background(self) -> None:
        if self._cleaner is not None:
            self._cleaner.stop()
        if self._workers is not None:
            self._workers.stop()

    def authenticate(self, req: Any) -> None:
        authenticate(req)

    def module_state(self, name: str, factory: Any) -> Any:
        with self.state_lock:
            if name not in self.state:
                self.state[name] = factory()
            return self.state[name]
