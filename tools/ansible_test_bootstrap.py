"""Put our pip bootstrap where ansible-test looks for its cached copy, for the pip version it wants.

ansible-test downloads get-pip from a host outside the package registries this machine can reach; when a
cached copy exists it uses that instead. Run with the Python of the venv that holds ansible-test.
"""

import re
import shutil
import sys
from pathlib import Path

import ansible_test

HERE = Path(__file__).resolve().parent


def main() -> int:
    source = Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
    versions = sorted(set(re.findall(r"pip='([0-9.]+)'", source.read_text())))
    if not versions:
        print(f'cannot find the pip version ansible-test wants in {source}', file=sys.stderr)
        return 1
    cache = Path.home() / '.ansible' / 'test' / 'cache'
    cache.mkdir(parents=True, exist_ok=True)
    for version in versions:
        shutil.copyfile(HERE / 'get_pip_bootstrap.py', cache / f'get_pip_{version.replace(".", "_")}.py')
    return 0


if __name__ == '__main__':
    sys.exit(main())
