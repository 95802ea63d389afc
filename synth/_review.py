"""Human review of generated rows through the dashboard's review store (``queue="synthetic"``).

``synth`` does not import the dashboard (the dashboard imports the libraries, never the reverse): these
functions give the fields of a review item for a generated row, and read the stored labels back into
rows and :class:`ReviewDecision` records for :func:`synth.write_golden`. A reviewer answers with a
category (accept, edit, reject); an edit's new question and expected output travel in the label's note
as JSON (:func:`edit_note`), since a label holds a category and a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from synth._rows import DECISIONS, REVIEW_QUEUE, ReviewDecision, SyntheticRow, decision_from_label


class StoredLabel(Protocol):
    """What is read from a stored label (``dashboard.models.LabelRecord`` has these attributes)."""

    @property
    def queue(self) -> str: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def note(self) -> str: ...
    @property
    def created(self) -> float: ...
    @property
    def meta(self) -> dict[str, Any]: ...


def review_fields(row: SyntheticRow) -> dict[str, Any]:
    """The keyword arguments of a ``dashboard.models.NewItem`` that puts ``row`` up for review."""
    o = row.origin
    context = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(row.contexts or [], 1)) or None
    critic = "no critic" if o.critic_score is None else f"critic {o.critic_score:.2f}"
    return {
        "queue": REVIEW_QUEUE,
        "source_id": f"synth:{row.id}",
        "input": row.question,
        "output": row.reference or "",
        "context": context,
        "criterion": "synthetic",
        "categories": DECISIONS,
        "judge_score": o.critic_score,
        "reason": f"generated ({o.evolution}, {o.persona}, {critic}) from {o.source}",
        "meta": {"synth": row.model_dump(mode="json", exclude_none=True)},
    }


def reviewed(labels: Iterable[StoredLabel]) -> tuple[list[SyntheticRow], list[ReviewDecision]]:
    """The generated rows that have labels in the synthetic queue, and the reviewers' decisions on them.

    Flags (a reviewer saying the item cannot be reviewed) are not decisions and are left out.
    """
    rows: dict[str, SyntheticRow] = {}
    decisions = []
    for lab in labels:
        if lab.queue != REVIEW_QUEUE or lab.kind != "label" or "synth" not in lab.meta:
            continue
        row = SyntheticRow.model_validate(lab.meta["synth"])
        rows.setdefault(row.id, row)
        decisions.append(decision_from_label(row.id, lab.reviewer, lab.category, lab.note, lab.created))
    return list(rows.values()), decisions
