"""Human-labelled sets for a meta-evaluation: the project's datasets, review exports, and LLMBar.

A labelled case is a ``Case`` whose metadata holds the human label: ``preferred`` ("A", "B" or "tie")
for pairs, ``human_score`` for graded outputs. Datasets of ``judges.load_cases`` carry them already
(``datasets/*.jsonl``, and the review store's exports under ``datasets/human/<kind>/<criterion>.jsonl``);
``load_llmbar`` reads the LLMBar file (princeton-nlp/LLMBar: an instruction, two outputs and the
expert's choice "1" or "2").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from judges.case import Case
from judges.datasets import dataset_path, load_cases
from judges.errors import DatasetError


@dataclass(frozen=True)
class LabelledSet:
    """Cases with human labels, the dataset's identity, and how many rows carried no label."""

    name: str
    kind: str  # "pairwise" or a pointwise dataset kind
    sha256: str
    rows: int
    cases: tuple[Case, ...]  # only the labelled ones, in file order

    @property
    def preference(self) -> bool:
        return self.kind == "pairwise"


def human_label(case: Case, kind: str) -> str | float | None:
    """The human label of ``case``: "A" / "B" / "tie" for a pair, the score otherwise (None when unlabelled)."""
    if kind == "pairwise":
        value = case.metadata.get("preferred")
        return value if value in ("A", "B", "tie") else None
    score = case.metadata.get("human_score")
    return float(score) if isinstance(score, (int, float)) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_llmbar(path: str | Path) -> LabelledSet:
    """The LLMBar pairs of ``path`` (a JSON list of {"input", "output_1", "output_2", "label"}) as labelled cases.

    ``output_1`` is candidate A; label 1 (or "1") means the experts preferred it.
    """
    p = Path(path)
    try:
        rows = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(f"LLMBar file not found: {p}; it is LLMBar_Natural.json from princeton-nlp/LLMBar") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{p} is not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(rows, list):
        raise DatasetError(f"{p} holds a JSON {type(rows).__name__}; an LLMBar file is a list of pairs")
    cases = []
    for i, r in enumerate(rows):
        try:
            label = {"1": "A", "2": "B"}[str(r["label"])]
            cases.append(Case(f"llmbar-{i:03d}", r["input"], output_a=r["output_1"], output_b=r["output_2"],
                              metadata={"preferred": label, "source": "LLMBar"}))
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{p}: pair {i} lacks input/output_1/output_2 or has a label other than 1 or 2") from exc
    return LabelledSet(f"LLMBar ({p.stem})", "pairwise", _sha256(p), len(rows), tuple(cases))


def load_labelled(spec: str, kind: str | None = None) -> LabelledSet:
    """A human-labelled set: ``llmbar:PATH``, or a dataset file of ``kind`` (rows without a label are left out).

    ``kind`` defaults to the folder name for review exports (``human/<kind>/<criterion>.jsonl``).
    """
    if spec.startswith("llmbar:"):
        return load_llmbar(spec.removeprefix("llmbar:"))
    path = dataset_path(spec)
    if kind is None:
        parts = path.parts
        kind = parts[-2] if len(parts) >= 3 and parts[-3] == "human" else None
    if kind is None:
        raise DatasetError(f"say which kind of dataset {spec} is (--kind pairwise, summarization, rag or qa)")
    cases = load_cases(path, kind)
    labelled = tuple(c for c in cases if human_label(c, kind) is not None)
    if not labelled:
        field = "preferred" if kind == "pairwise" else "human_score"
        raise DatasetError(f"{path} has no rows with a human label ({field!r}); label some in the review dashboard "
                           "and export them, or pick a dataset with human labels")
    return LabelledSet(path.name, kind, _sha256(path), len(cases), labelled)
