"""Runs INSIDE the shakenfist==0.7.2 server venv; started by harness.py, never imported by the test tier.

0.7.2 assumes a full node (syslog on /dev/log, libvirt, /srv/shakenfist). This shim supplies the few stand-ins
needed to run its real code on a bare machine:

- every log handler that Shaken Fist would point at /dev/log writes to stderr instead (the harness sends
  stderr to a log file in the state directory);
- `bootstrap`: what `sf-ctl bootstrap-system-key` and the start of `sf-daemon` do for an API-only node: the
  `system` namespace with the key named `deploy`, and this node's record in state `created`, observed now
  (the upload-to-blob path records the blob's location on that node);
- `eventlog`: the real eventlog daemon, with the CPU count taken from the OS instead of libvirt and its
  Prometheus endpoint bound to 127.0.0.1.

Configuration comes only from SHAKENFIST_* environment variables set by the harness.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any

SYSTEM_KEY_NAME = 'deploy'


class _StderrInsteadOfSyslog(logging.StreamHandler):
    """Takes SysLogHandler's arguments and ignores them: records go to stderr."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(sys.stderr)


def log_to_stderr() -> None:
    """Must run before any shakenfist module is imported: they set up logging at import time."""
    logging.handlers.SysLogHandler = _StderrInsteadOfSyslog  # type: ignore[misc,assignment]


def bootstrap(key_file: str) -> int:
    import base64

    import bcrypt
    from shakenfist.config import config
    from shakenfist.namespace import Namespace
    from shakenfist.node import Node

    with open(key_file, encoding='utf-8') as f:
        key = f.read().strip()

    ns = Namespace.new('system')
    current = ns.keys.get('nonced_keys', {}).get(SYSTEM_KEY_NAME)
    if current and bcrypt.checkpw(key.encode('utf-8'), base64.b64decode(current['key'])):
        print(f'system key {SYSTEM_KEY_NAME!r} already present', file=sys.stderr)
    else:
        ns.add_key(SYSTEM_KEY_NAME, key)
        print(f'system key {SYSTEM_KEY_NAME!r} stored', file=sys.stderr)

    node = Node.new(config.NODE_NAME, config.NODE_MESH_IP)
    node.state = Node.STATE_CREATED
    Node.observe_this_node()
    print(f'node {config.NODE_NAME!r} ({config.NODE_MESH_IP}) registered in state created', file=sys.stderr)
    return 0


def eventlog() -> int:
    import functools

    import prometheus_client
    from shakenfist.daemons import eventlog as eventlog_daemon
    from shakenfist.util import libvirt as util_libvirt

    util_libvirt.get_cpu_count = lambda: os.cpu_count() or 1
    eventlog_daemon.start_http_server = functools.partial(prometheus_client.start_http_server, addr='127.0.0.1')
    eventlog_daemon.Monitor('eventlog').run()
    return 0


def main(argv: list[str]) -> int:
    log_to_stderr()
    if len(argv) == 2 and argv[0] == 'bootstrap':
        return bootstrap(argv[1])
    if len(argv) == 1 and argv[0] == 'eventlog':
        return eventlog()
    print('usage: sf_shim.py bootstrap KEY_FILE | eventlog', file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
