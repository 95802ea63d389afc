"""Entry point for ``python -m dashboard``."""

import sys

from .cli import main

sys.exit(main())
