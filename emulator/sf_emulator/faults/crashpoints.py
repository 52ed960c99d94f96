"""Named points where a crash-safety test can freeze the emulator, to SIGKILL it exactly there.

    SF_EMULATOR_PAUSE_AT=convert-linked sf-emulator serve ...

When a listed point is reached the process prints `sf-emulator: paused at <name>` to stderr and waits for ever
(the test then kills it and starts it again). Without the variable, `reached()` costs a set lookup.
"""

from __future__ import annotations

import os
import sys
import threading

ENV = 'SF_EMULATOR_PAUSE_AT'
POINTS = {
    'convert-linked': 'the upload file is linked as the blob file; nothing committed yet',
    'convert-committed': 'the blob row is committed; the upload file is not removed yet',
    'fetch-moved': 'a fetched file is in blobs/; the write transaction that records it is still open',
}
_PAUSE_AT = frozenset(name for name in os.environ.get(ENV, '').split(',') if name)


def reached(name: str) -> None:
    if name not in POINTS:
        raise ValueError(f'unknown crash point {name!r}')
    if name in _PAUSE_AT:
        print(f'sf-emulator: paused at {name}', file=sys.stderr, flush=True)
        threading.Event().wait()
