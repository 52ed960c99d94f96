"""gunicorn config for the real 0.7.2 API (harness.py passes it with --config; bind, workers etc. come as flags).

gunicorn runs this file in its master before it forks workers, so the stand-in installed here is in place when
each worker imports shakenfist.external_api.app: Shaken Fist's syslog handler (/dev/log, missing on a bare
machine) becomes a stderr handler, and stderr goes to the API log in the state directory.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sf_shim  # noqa: E402

sf_shim.log_to_stderr()

worker_class = 'sync'
