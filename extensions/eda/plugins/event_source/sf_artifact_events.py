# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""shakenfist.storage.sf_artifact_events: an Event-Driven Ansible source of Shaken Fist artifact changes.

Polls the artifacts (images, labels, snapshots) of the given namespaces and puts one event on the queue per change:
a version added, a label moved (from version, to version, the image it points at, who when the server can say),
a version deleted, an artifact or label deleted. docs/events.md has the arguments and every event's fields.

Arguments:
  api_url, namespace, key, validate_certs, ca_path, timeout, retries: the connection, as the modules take it
    (when not given: SHAKENFIST_* environment variables, then ~/.shakenfist, then /etc/sf/shakenfist.json).
  namespaces: the namespaces to watch (default: the one authenticated as; '*': every namespace visible).
  include_shared: also watch shared artifacts of other namespaces (default false).
  names, types: only artifacts with these names / of these types (image, label, snapshot, other).
  interval: seconds between polls (default 30). max_backoff: longest wait after failed polls (default 300).
  state_file: where to remember what was seen, so a restart emits only what changed meanwhile. Without one, the
    first poll is a baseline and emits nothing (emit_initial: true emits everything there as added instead).
  who: read a moved label's events to say which request moved it (default true).

Example:
  sources:
    - shakenfist.storage.sf_artifact_events:
        namespaces: [ci]
        interval: 30
        state_file: /var/lib/eda/sf-ci.json
  rules:
    - name: Roll out when the web label moves
      condition: event.type == "label_moved" and event.label == "web"
      action:
        run_playbook:
          name: rollout.yml
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any, Dict

try:
    from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_watch import (
        ArtifactWatcher,
        WatchOptions,
        backoff_delay,
    )
except ModuleNotFoundError as missing:
    # ansible-rulebook runs this file by path, outside Ansible's collection loader: the collections root is seven
    # directories up (<root>/ansible_collections/shakenfist/storage/extensions/eda/plugins/event_source/<this
    # file>). abspath, not realpath: a collection reached through a symlink (a development checkout) keeps its place.
    # ansible_collections is a namespace package, so one already imported from elsewhere sees the new path too.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    _ROOT = os.path.abspath(os.path.join(_HERE, *['..'] * 7))
    if not (missing.name or '').startswith('ansible_collections') or \
            not os.path.isdir(os.path.join(_ROOT, 'ansible_collections', 'shakenfist', 'storage')):
        raise
    sys.path.insert(0, _ROOT)
    from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_watch import (
        ArtifactWatcher,
        WatchOptions,
        backoff_delay,
    )
from ansible_collections.shakenfist.storage.plugins.module_utils._client import build_client
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfError
from ansible_collections.shakenfist.storage.plugins.module_utils._redaction import redact

LOG = logging.getLogger('shakenfist.storage.sf_artifact_events')


async def main(queue: Any, args: Dict[str, Any]) -> None:
    """Poll until cancelled. Wrong arguments or an unreadable state file are a ValueError before the first poll;
    after that a failed poll is logged (never the key) and tried again after a capped exponential backoff."""
    try:
        options = WatchOptions.from_args(args or {})
        client = build_client(options.connection, read_only=True, log=LOG.debug)
        watcher = ArtifactWatcher(client.api, options.scope(client.settings.namespace), options.state_file,
                                  emit_initial=options.emit_initial, who=options.who, log=LOG.warning)
        watcher.load()
    except SfError as exc:
        hint = f' ({exc.hint})' if exc.hint else ''
        raise ValueError(f'shakenfist.storage.sf_artifact_events: {exc}{hint}') from None
    secrets = [client.settings.key]
    LOG.info('watching artifacts at %s as %s (%s), every %gs', client.settings.api_url, client.settings.namespace,
             watcher.scope.to_json(), options.interval)
    failures = 0
    while True:
        try:
            events = await asyncio.to_thread(watcher.poll)
        except Exception as exc:  # any failure: keep polling, as EDA sources do
            failures += 1
            delay = backoff_delay(options.interval, failures, options.max_backoff)
            hint = f' ({exc.hint})' if isinstance(exc, SfError) and exc.hint else ''
            LOG.warning('polling %s failed (%d in a row), next poll in %.2fs: %s', client.settings.api_url, failures,
                        delay, redact(f'{exc.__class__.__name__}: {exc}{hint}', secrets))
            await asyncio.sleep(delay)
            continue
        if failures:
            LOG.info('polling %s works again after %d failure(s)', client.settings.api_url, failures)
            failures = 0
        for event in events:
            await queue.put(event)
        baseline = watcher.seen is None
        try:
            await asyncio.to_thread(watcher.commit)
        except OSError as exc:
            LOG.warning('state_file %s cannot be written, so a restart would emit these events again: %s',
                        options.state_file, redact(str(exc), secrets))
        if baseline:
            LOG.info('baseline taken: %d artifact(s) seen; every change from now on is emitted',
                     len(watcher.seen or {}))
        await asyncio.sleep(options.interval)


if __name__ == '__main__':
    # By hand: python sf_artifact_events.py '{"namespaces": ["ci"], "interval": 5}' prints each event.
    import json

    class _PrintQueue:
        async def put(self, event: Dict[str, Any]) -> None:
            print(json.dumps(event, sort_keys=True), flush=True)

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
