"""``python -m synth``: see ``synth._cli``."""

import sys

from synth._cli import main

sys.exit(main())
