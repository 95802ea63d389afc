"""Synthetic test data: evolved questions from documents, golden cases and the production log.

    from synth import SynthConfig, load_documents, synthesize, write_set
    chunks, skipped = load_documents(["examples/qa_corpus.jsonl"])
    result = await synthesize(get_model("local"), chunks, SynthConfig(n=60, seed=0), skipped=skipped)
    write_set("synth_out/qa.jsonl", result.rows); print(result.report.summary())

Or ``python -m synth --from-docs examples/qa_corpus.jsonl --n 60 --out synth_out/qa.jsonl``. Generated
rows go to human review (the dashboard's Synthetic page); ``write_golden`` exports the accepted ones.
See docs/synth.md.
"""

from synth._critic import Critic
from synth._evolutions import EVOLUTIONS, PERSONAS
from synth._pipeline import SynthConfig, synthesize
from synth._report import SynthReport
from synth._review import review_fields, reviewed
from synth._rows import (
    REVIEW_QUEUE,
    ReviewDecision,
    SyntheticRow,
    edit_note,
    golden_rows,
    read_set,
    write_golden,
    write_set,
)
from synth._sources import Chunk, load_documents, load_golden, load_log
from synth.errors import SynthConfigError, SynthError, SynthSourceError

__all__ = [
    "EVOLUTIONS",
    "PERSONAS",
    "REVIEW_QUEUE",
    "Chunk",
    "Critic",
    "ReviewDecision",
    "SynthConfig",
    "SynthConfigError",
    "SynthError",
    "SynthReport",
    "SynthSourceError",
    "SyntheticRow",
    "edit_note",
    "golden_rows",
    "load_documents",
    "load_golden",
    "load_log",
    "read_set",
    "review_fields",
    "reviewed",
    "synthesize",
    "write_golden",
    "write_set",
]
