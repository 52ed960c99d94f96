"""`sf-emulator serve ...`: run the emulator in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sf_emulator import __version__
from sf_emulator.config import coerce, settings
from sf_emulator.http.server import DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_THREADS, tls_context
from sf_emulator.profiles import DEFAULT, PROFILES

SYSTEM_KEY_ENV = 'SF_EMULATOR_SYSTEM_KEY'

# Every registered route belongs to exactly one family, by its longest matching path prefix (a test checks this).
ROUTE_FAMILIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (('/', '/livez', '/readyz', '/healthz'), 'API root (capabilities), health checks; no token'),
    (('/auth',), 'a token for a namespace and key'),
    (('/auth/namespaces',), 'namespaces, their keys, metadata and trusts'),
    (('/artifacts',), 'artifacts: list, fetch a URL, convert an upload (upload/<name>),\n'
                      'versions, share, metadata, events, cluster operations'),
    (('/label',), 'labels: point at a blob, show, delete'),
    (('/upload',), 'uploads: create, append bytes, truncate'),
    (('/blobs', '/blob_checksums'), 'blobs: show, data, checksums, metadata, events; find by checksum'),
    (('/instances',), 'instances: create, list, delete, snapshot, interfaces, metadata, events'),
    (('/networks',), 'networks: create, list, delete, interfaces, metadata, events'),
    (('/clusteroperations',), 'cluster operations and their chains'),
    (('/_emulator',), 'emulator only (system key; gone with --no-admin-routes):\nrequest log, faults, config, info'),
)


def route_family(pattern: str) -> tuple[str, ...] | None:
    """The family of a route pattern: the one with the longest prefix that is the path or a parent of it."""
    best: tuple[int, tuple[str, ...] | None] = (-1, None)
    for prefixes, _description in ROUTE_FAMILIES:
        for prefix in prefixes:
            fits = pattern == prefix or (prefix != '/' and pattern.startswith(prefix + '/'))
            if fits and len(prefix) > best[0]:
                best = (len(prefix), prefixes)
    return best[1]


def reference_text() -> str:
    """Route families and fault kinds, for --help."""
    from sf_emulator.faults.injection import KIND_HELP

    def row(name: str, text: str) -> str:
        return '\n'.join(f'  {name if i == 0 else "":<28}{part}' for i, part in enumerate(text.split('\n')))

    lines = ['route families (GET /_emulator/info lists every method and path):']
    lines += [row(' '.join(prefixes), description) for prefixes, description in ROUTE_FAMILIES]
    lines += ['', 'fault kinds (--fault JSON or POST /_emulator/faults; all but expire_tokens match "method"',
              'and a "path" regex, and apply to the next "count" requests: default 1, null for ever):']
    lines += [row(kind, description) for kind, description in KIND_HELP.items()]
    lines += ['', f'server profiles (--server-profile, default {DEFAULT}): the Shaken Fist release the API answers as:',
              '  0.7.2                       the newest release on PyPI: its capabilities, answers and quirks',
              '  latest                      the newest upstream source (cluster operations, async deletes, ...)',
              'every difference is listed in emulator/README.md ("Server profiles").']
    lines += ['', f'system key: --system-key-file FILE or {SYSTEM_KEY_ENV} (never only the command line);',
              'with neither, one is generated and printed.']
    return '\n'.join(lines)


class OneLineParser(argparse.ArgumentParser):
    """Bad flags give a single `sf-emulator: error: ...` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'sf-emulator: error: {message} (see --help)\n')


def _fault(text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'--fault needs a JSON object, got {text!r}') from None
    if not isinstance(spec, dict):
        raise argparse.ArgumentTypeError('--fault needs a JSON object')
    return spec


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'needs a whole number, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'needs at least 1, got {value}')
    return value


def build_parser() -> argparse.ArgumentParser:
    from sf_emulator.app import load_domain_modules

    load_domain_modules()  # so every module's settings get a flag
    parser = OneLineParser(prog='sf-emulator', description='A Shaken Fist REST API emulator for tests and demos.',
                           epilog=reference_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', action='version', version=f'sf-emulator {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=OneLineParser)
    serve = commands.add_parser(
        'serve',
        help='run the API server in the foreground',
        description='Run the emulated Shaken Fist API until SIGTERM or Ctrl-C. State lives in --data-dir and '
        'survives a restart.',
        epilog=reference_text(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument('--host', default='127.0.0.1', help='address to listen on (default: %(default)s)')
    serve.add_argument('--port', type=int, default=13000, help='TCP port to listen on (default: %(default)s)')
    serve.add_argument('--data-dir', type=Path, required=True, help='directory for the database, blobs and uploads')
    key = serve.add_mutually_exclusive_group()
    key.add_argument(
        '--system-key-file', type=Path, metavar='FILE',
        help=f'read the secret of the key "deploy" in the system (admin) namespace from FILE (one line). Or set '
        f'{SYSTEM_KEY_ENV}. With neither, a key is generated and printed.',
    )
    key.add_argument(
        '--system-key', metavar='KEY',
        help=f'the system key on the command line: every local user can read it (ps); prefer {SYSTEM_KEY_ENV} '
        'or --system-key-file',
    )
    serve.add_argument('--verbose', action='store_true', help='log one line per request to stderr')
    serve.add_argument(
        '--server-profile', choices=list(PROFILES), default=DEFAULT, metavar='{' + ','.join(PROFILES) + '}',
        help='the Shaken Fist release the API answers as: 0.7.2 (its capabilities, answer shapes and quirks) or '
        'latest (the newest upstream source: cluster operations, asynchronous deletes, ...). Fixed at start; '
        'GET /_emulator/info shows it (default: %(default)s)',
    )
    serve.add_argument('--tls-cert', type=Path, metavar='FILE',
                       help='serve HTTPS (TLS 1.2 or newer) with this PEM certificate chain; needs --tls-key')
    serve.add_argument('--tls-key', type=Path, metavar='FILE', help='the PEM private key of --tls-cert')
    serve.add_argument(
        '--no-admin-routes', dest='admin_routes', action='store_false',
        help='serve without the emulator-only /_emulator/ routes (request log, faults, config, info): those paths '
        'then answer like any unknown path. --fault and --latency still apply.',
    )
    serve.add_argument(
        '--max-connections', type=_positive, default=DEFAULT_MAX_CONNECTIONS, metavar='N',
        help='open client connections at most; beyond, a new one is answered 503 "too many connections" with '
        'Retry-After: 1 (default: %(default)s). Idle keep-alive connections hold no thread.',
    )
    serve.add_argument(
        '--request-threads', type=_positive, default=DEFAULT_REQUEST_THREADS, metavar='N',
        help='requests answered at the same time at most; more wait for a free thread (default: %(default)s)',
    )
    serve.add_argument(
        '--fault',
        type=_fault,
        action='append',
        default=[],
        metavar='JSON',
        help='inject a fault from the start, same JSON as POST /_emulator/faults, e.g. '
        '\'{"kind": "fail", "method": "POST", "path": "^/upload/", "count": 2, "status": 503}\' '
        '(kinds below; repeatable)',
    )
    serve.add_argument(
        '--latency', type=float, metavar='SECONDS', help='add this delay to every request (a latency fault)'
    )
    timing = serve.add_argument_group('settings (also readable and changeable at run time via /_emulator/config)')
    for name, setting in sorted(settings().items()):
        timing.add_argument(
            '--' + name.replace('_', '-'),
            dest=f'setting_{name}',
            metavar=setting.kind.__name__.upper(),
            help=f'{setting.help} (default: {setting.default})',
        )
    return parser


def fit_file_limit(max_connections: int, reserve: int = 128) -> int:
    """The connection cap the open-file limit allows: raise the soft limit towards the hard one when the cap
    needs it (each connection is a file descriptor; `reserve` covers the database, blobs and refusals)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + reserve
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return max_connections
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft >= needed:
        return max_connections
    allowed = max(1, soft - reserve)
    print(f'sf-emulator: warning: the open-file limit ({soft}) allows {allowed} connections, not {max_connections}',
          file=sys.stderr, flush=True)
    return allowed


def system_key(args: argparse.Namespace) -> str | None:
    """The system key from --system-key-file, --system-key (warned: visible in ps) or the environment."""
    from_env = os.environ.pop(SYSTEM_KEY_ENV, None)  # not passed on to anything this process starts
    if args.system_key_file is not None:
        try:
            key = args.system_key_file.read_text(encoding='utf-8').rstrip('\r\n')
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f'cannot read --system-key-file {args.system_key_file}: {exc}') from None
        if not key:
            raise ValueError(f'--system-key-file {args.system_key_file} is empty')
        return key
    if args.system_key is not None:
        print(f'sf-emulator: warning: --system-key shows the key to every local user (ps, /proc/<pid>/cmdline); '
              f'use {SYSTEM_KEY_ENV} or --system-key-file', file=sys.stderr, flush=True)
        return str(args.system_key)
    return from_env or None


def serve(args: argparse.Namespace) -> int:
    from sf_emulator.app import App
    from sf_emulator.http.server import EmulatorHTTPServer

    values: dict[str, Any] = {}
    for name, setting in settings().items():
        raw = getattr(args, f'setting_{name}', None)
        if raw is not None:
            try:
                values[name] = coerce(setting, raw)
            except ValueError as exc:
                print(f'sf-emulator: error: --{name.replace("_", "-")}: {exc}', file=sys.stderr)
                return 2
    tls = None
    if (args.tls_cert is None) != (args.tls_key is None):
        print('sf-emulator: error: --tls-cert and --tls-key go together', file=sys.stderr)
        return 2
    if args.tls_cert is not None:
        try:
            tls = tls_context(str(args.tls_cert), str(args.tls_key))
        except (OSError, ssl.SSLError) as exc:
            print(f'sf-emulator: error: cannot use --tls-cert {args.tls_cert} and --tls-key {args.tls_key}: '
                  f'{getattr(exc, "strerror", None) or exc}', file=sys.stderr)
            return 2
    faults = list(args.fault)
    if args.latency is not None:
        faults.append({'kind': 'latency', 'seconds': args.latency, 'count': None})
    try:
        app = App(args.data_dir.resolve(), system_key=system_key(args), settings=values, faults=faults,
                  verbose=args.verbose, admin_routes=args.admin_routes, server_profile=args.server_profile)
    except ValueError as exc:
        print(f'sf-emulator: error: {exc}', file=sys.stderr)
        return 2
    try:
        app.open()
    except OSError as exc:
        print(f'sf-emulator: error: cannot use data dir {args.data_dir}: {exc.strerror or exc}', file=sys.stderr)
        return 1
    except Exception as exc:
        print(f'sf-emulator: error: cannot open the database in {args.data_dir}: {exc}', file=sys.stderr)
        return 1
    try:
        server = EmulatorHTTPServer((args.host, args.port), app, max_connections=fit_file_limit(args.max_connections),
                                    request_threads=args.request_threads, tls=tls)
    except OSError as exc:
        print(f'sf-emulator: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}', file=sys.stderr)
        return 1
    except OverflowError:
        print(f'sf-emulator: error: port {args.port} is out of range', file=sys.stderr)
        return 2

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    app.start_background()
    host, port = server.server_address[:2]
    print(f'sf-emulator listening on {server.scheme}://{host}:{port} (data dir {app.data_dir}, server profile '
          f'{app.profile.name})', flush=True)
    if app.generated_system_key:
        print(f'system key (namespace system, key name deploy): {app.generated_system_key}', flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.stop_background()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != 'serve':
        parser.print_help(sys.stderr)
        return 2
    return serve(args)


if __name__ == '__main__':
    sys.exit(main())
