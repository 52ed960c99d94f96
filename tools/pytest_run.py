"""Run pytest, treating "no tests collected" (exit 5) as a failure with a clear message.

CI must never pass because a path was empty: an empty selection is a bug in the test layout.
"""

import sys

import pytest

NO_TESTS_COLLECTED = 5


def main() -> int:
    code = pytest.main(sys.argv[1:])
    if code == NO_TESTS_COLLECTED:
        print(f'pytest collected no tests from {sys.argv[1:]}: refusing to call that a pass', file=sys.stderr)
        return 1
    return int(code)


if __name__ == '__main__':
    sys.exit(main())
