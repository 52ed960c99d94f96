"""Command line entry point (placeholder until the server lands)."""

import sys


def main() -> int:
    print('sf-emulator: not built yet', file=sys.stderr)
    return 1
