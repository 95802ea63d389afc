"""Experiments: run the application under test over a dataset, score it, compare with a baseline run.

    from experiments import EvalSuite, Gate, PromptTask, TokenF1
    SUITE = EvalSuite("qa", "rag_app.jsonl", "rag", task=my_app, scorers=(TokenF1(),),
                      gate=Gate(max_drop=0.05))          # fail when the mean drop vs baseline is significant

The pytest plugin (``from experiments.pytest_plugin import *`` in ``evals/conftest.py``) runs every suite
this way; ``load_run`` reads a results file (``results/<run-id>.json``) as the one typed ``experiments.record.RunRecord``
(the record's types are imported from ``experiments.record``).
"""

from experiments.errors import BaselineError, ExperimentError, ResultsError, TaskError
from experiments.record import load_run
from experiments.scorers import Contains, ExactMatch, JsonValid, Regex, RougeL, SemanticSimilarity, TokenF1
from experiments.suite import EvalSuite, Gate, VersusBaseline
from experiments.task import PromptTask, Task, TaskOutput

__all__ = [
    "BaselineError",
    "Contains",
    "EvalSuite",
    "ExactMatch",
    "ExperimentError",
    "Gate",
    "JsonValid",
    "PromptTask",
    "Regex",
    "ResultsError",
    "RougeL",
    "SemanticSimilarity",
    "Task",
    "TaskError",
    "TaskOutput",
    "TokenF1",
    "VersusBaseline",
    "load_run",
]
