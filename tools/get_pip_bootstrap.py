"""Stand-in for the pip bootstrap script that ansible-test downloads from a host this network cannot reach.

ansible-test runs it as `python get_pip.py [options] pip==X ...` inside each new sanity venv, with a stripped
environment. We install the interpreter's bundled pip with ensurepip, point the venv's pip at the system CA
bundle (the environment that would say so is stripped), then let pip install exactly what was asked for.
"""

import ensurepip
import os
import subprocess
import sys

IGNORED = {'--no-setuptools', '--no-wheel'}
CA_BUNDLES = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt')


def main() -> int:
    ensurepip.bootstrap(upgrade=True)
    bundle = next((path for path in CA_BUNDLES if os.path.isfile(path)), None)
    if bundle:
        with open(os.path.join(sys.prefix, 'pip.conf'), 'w', encoding='utf-8') as handle:
            handle.write(f'[global]\ncert = {bundle}\n')
    args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
    if bundle:
        args = ['--cert', bundle, *args]
    return subprocess.call([sys.executable, '-m', 'pip', 'install', *args])


if __name__ == '__main__':
    sys.exit(main())
