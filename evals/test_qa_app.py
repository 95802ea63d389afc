"""The example QA app (TF-IDF retrieval + the local model) as the task under test, gated against main's run.

Every case runs the app; the answer is scored against the reference by deterministic scorers and by the
judge, and the suite fails when the paired mean token-F1 drop against the baseline run is significant.
``QA_APP_VARIANT=no-context`` runs the degraded app (retrieved passages left out of the prompt); the
gate catches it (docs/experiments.md shows both reports).
"""

import os
import sys
from pathlib import Path

import pytest

from experiments import EvalSuite, Gate, RougeL, TokenF1
from judges import PointwiseJudge

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/ is a folder of scripts, not a package
from examples.qa_app import eval_task

QA_APP = EvalSuite(
    name="qa-app",
    dataset="qa_app.jsonl",
    kind="rag",
    task=eval_task(os.environ.get("QA_APP_VARIANT", "default")),
    # token F1 against the reference gates: on the embedded judge it is the scorer that sees a regression
    scorers=(
        TokenF1(),
        RougeL(),
        PointwiseJudge(
            criterion="correctness",
            rubric="5: agrees with the reference answer\n3: partly agrees\n1: wrong or does not answer",
            explain=False,
        ),
    ),
    gate=Gate(max_drop=0.02, alpha=0.05),
)


@pytest.mark.parametrize("case", QA_APP.cases(), ids=lambda c: c.id)
def test_qa_app(case, evaluate):
    evaluate(QA_APP, case)


def test_qa_app_gate(evaluate_suite):
    evaluate_suite(QA_APP)
