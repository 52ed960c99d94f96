"""Shared unit-test fixtures: a scripted local HTTP server for the transport, a fake domain API for the resolver."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """Answers each request from a handler function; records every request it saw."""

    url: str
    handler: Callable[[Recorded], tuple[int, Any, dict[str, str]]]
    requests: list[Recorded] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [f'{r.method} {r.path}' for r in self.requests]


@pytest.fixture
def scripted_server() -> Iterator[Callable[[Callable[[Recorded], tuple[int, Any, dict[str, str]]]], ScriptedServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Callable[[Recorded], tuple[int, Any, dict[str, str]]]) -> ScriptedServer:
        state = ScriptedServer(url='', handler=handler)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                record = Recorded(self.command, self.path, dict(self.headers), body)
                state.requests.append(record)
                status, payload, headers = state.handler(record)
                if isinstance(payload, bytes):
                    data = payload
                    headers = {'Content-Type': 'text/html', **headers}
                else:
                    data = json.dumps(payload).encode()
                    headers = {'Content-Type': 'application/json', **headers}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        # A client that gave up (a timeout test) makes the answer's write fail: expected, not worth a traceback.
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        state.url = f'http://127.0.0.1:{server.server_address[1]}'
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# Property tests (hypothesis): CI replays the same examples every run (derandomize) and keeps no database; a developer
# explores new examples each run and keeps failures under .tmp/ (ignored by git and the collection build) to replay.
# HYPOTHESIS_PROFILE=deep runs many more examples for a longer fuzzing session. Failures print the falsifying example
# and a reproduction blob.
_HYPOTHESIS_DIR = Path(__file__).resolve().parents[2] / '.tmp' / 'hypothesis'
set_hypothesis_home_dir(str(_HYPOTHESIS_DIR))  # its caches too, not a .hypothesis/ in the checkout
settings.register_profile('ci', max_examples=50, deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('dev', settings.get_profile('ci'), derandomize=False,
                          database=DirectoryBasedExampleDatabase(str(_HYPOTHESIS_DIR / 'examples')))
settings.register_profile('deep', settings.get_profile('dev'), max_examples=3000)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE') or ('ci' if os.environ.get('CI') else 'dev'))
