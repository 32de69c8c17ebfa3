"""`python -m netlang` runs the command line."""

import sys

from netlang.cli import main

sys.exit(main())
