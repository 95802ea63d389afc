"""``python -m drift`` for spark-submit, which runs files rather than modules:

    spark-submit --master spark://HOST:7077 scripts/drift_spark_submit.py report --engine spark \
        --profile profile.json --current TABLE_OR_PATH --out reports/today

The report takes the session spark-submit configured (master, executors, --conf settings)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout; an installed package works as well

from drift.cli import main

if __name__ == "__main__":
    sys.exit(main())
