"""`python -m sf_emulator serve ...`"""

import sys

from sf_emulator.cli import main

sys.exit(main())
