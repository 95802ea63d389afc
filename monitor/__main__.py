"""``python -m monitor run --config monitor.toml``."""

import sys

from monitor.cli import main

sys.exit(main())
