"""Entry point for ``python -m drift``."""

import sys

from .cli import main

sys.exit(main())
