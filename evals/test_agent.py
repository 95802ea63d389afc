"""The example tool agent (examples/agent_app.py: the local model choosing among calculator, lookup and
convert) over ``datasets/agent_tasks.jsonl``; the trajectory is read from the spans the agent emitted.

Gated on deterministic trajectory metrics: ``trajectory_superset`` (every expected tool was called) must not
drop against the baseline run, and no task may error. Strict match, argument match, step efficiency and the
LLM trajectory judge are reported; loops and repeated failing calls show as flags.
"""

import sys
from pathlib import Path

import pytest

from experiments import EvalSuite, Gate
from judges.trajectory import ArgumentMatch, StepEfficiency, TrajectoryJudge, TrajectoryMatch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/ is a folder of scripts, not a package
from examples.agent_app import eval_task

AGENT = EvalSuite(
    name="agent",
    dataset="agent_tasks.jsonl",
    kind="agent",
    task=eval_task,
    scorers=(TrajectoryMatch("superset"), TrajectoryMatch("strict"), ArgumentMatch(), StepEfficiency(),
             TrajectoryJudge()),
    gate=Gate(max_drop=0.0, max_task_error_rate=0.0),
    task_concurrency=1,
)


@pytest.mark.parametrize("case", AGENT.cases(), ids=lambda c: c.id)
def test_agent(case, evaluate):
    evaluate(AGENT, case)


def test_agent_gate(evaluate_suite):
    evaluate_suite(AGENT)
