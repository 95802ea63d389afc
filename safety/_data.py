"""The data files written for this project (``safety/data/``), read once per process."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def read_json(name: str) -> Any:
    """A JSON file of ``safety/data``."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@functools.cache
def read_jsonl(name: str) -> tuple[dict[str, Any], ...]:
    """The rows of a JSONL file of ``safety/data``."""
    text = (DATA / name).read_text(encoding="utf-8")
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())
