"""Streamlit rendering of a conversation (turn by turn) and an agent trajectory (step by step).

Shared by the Review and Runs pages. Turn contents, tool arguments and outputs are model- or user-written:
shown with ``st.text``/``st.code`` only; headings and alerts go through ``_ui.md``. A malformed payload is
a message on the page, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from review.transcript import Step, TranscriptError, Turn, conversation, trajectory

from . import _ui

__all__ = ["show_conversation", "show_payload", "show_trajectory"]


def _score_text(turn: Turn, criterion: str | None) -> str:
    parts = []
    for s in turn.scores:
        value = "failed" if s.score is None else f"{s.score:.2f}"
        mark = " ✗" if s.failed else ""
        star = "*" if criterion is not None and s.criterion == criterion else ""
        parts.append(f"{s.criterion}{star} {value}{mark}")
    return " · ".join(parts)


def show_conversation(turns: tuple[Turn, ...], *, criterion: str | None = None) -> None:
    """Each turn as a chat message: its role, text, per-turn judge scores; the failing turns highlighted."""
    failing = [t.index for t in turns if t.failing]
    st.markdown(f"**Conversation** ({len(turns)} turns)")
    if failing:
        st.caption(
            "Failing turns (the judge of this item scored them below its pass mark): "
            + ", ".join(str(i) for i in failing)
        )
    for t in turns:
        avatar = "user" if t.role == "user" else "assistant"
        with st.chat_message(avatar):
            head = f"Turn {t.index} · {t.role}" + (" (simulated)" if t.simulated else "")
            if t.failing:
                st.error(_ui.md(f"{head} · failing turn"))
            else:
                st.caption(_ui.md(head))
            if t.error:
                _ui.show_text(f"[the application failed this turn: {t.error}]")
            if t.content:
                _ui.show_text(t.content)
            scores = _score_text(t, criterion)
            if scores:
                st.caption(_ui.md("Per-turn scores: " + scores))


def _arguments(args: Mapping[str, Any]) -> str:
    try:
        return json.dumps(args, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(args)


def show_trajectory(steps: tuple[Step, ...]) -> None:
    """The agent's tool calls as a numbered list: tool, arguments, then its result or its error."""
    failed = sum(1 for s in steps if not s.ok)
    st.markdown(f"**Trajectory** ({len(steps)} steps" + (f", {failed} failed)" if failed else ")"))
    if not steps:
        st.info("The agent called no tools.")
        return
    lines = []
    for s in steps:
        lines.append(f"{s.number}. {s.tool}({_arguments(s.arguments)})")
        if s.ok:
            lines.append(f"   -> {s.output if s.output is not None else '(no output)'}")
        else:
            lines.append(f"   !! error: {s.error or 'the tool call failed (no message)'}")
    st.code(_ui.plain("\n".join(lines)), language=None, wrap_lines=True)


def show_payload(
    meta: Mapping[str, Any], output: str | None, *, criterion: str | None = None, output_label: str = "Output"
) -> None:
    """The output as a reviewer reads it: a conversation turn by turn (instead of its flattened text), an
    agent's final output then its trajectory, anything else as plain text. A payload that cannot be
    shown is a warning saying why, followed by the plain output."""
    try:
        turns = conversation(meta)
    except TranscriptError as exc:
        st.warning(_ui.md(f"The transcript cannot be shown turn by turn: {exc}."))
        turns = None
    if turns is not None:
        show_conversation(turns, criterion=criterion)
    elif output is not None:  # None: the caller shows the output itself
        st.markdown(f"**{_ui.md(output_label)}**")
        _ui.show_text(output)
    try:
        steps = trajectory(meta)
    except TranscriptError as exc:
        st.warning(_ui.md(f"The trajectory cannot be shown: {exc}."))
        steps = None
    if steps is not None:
        show_trajectory(steps)
