"""LLM judges that gate CI: providers, the model client, pointwise / pairwise / G-Eval judges, panels, statistics.

    from judges import get_model, GEval, Case
    client = get_model()                     # EVALHARNESS_JUDGE_MODEL, default: the embedded local model
    result = await GEval("coherence", "...").judge(client, Case("1", "article", output="summary"))
"""

from judges._judge import Judge
from judges.case import Case
from judges.choice import ChoiceJudge
from judges.client import ModelClient
from judges.config import get_model
from judges.datasets import load_cases
from judges.errors import (
    DatasetError,
    JudgeConfigError,
    JudgeError,
    ModelUnavailableError,
    ProviderError,
    RetryableProviderError,
)
from judges.geval import GEval
from judges.pairwise import PairwiseJudge
from judges.panel import JudgePanel
from judges.pointwise import PointwiseJudge, load_few_shot
from judges.results import JudgeFailure, Judgement
from judges.types import Completion, ModelRequest

__all__ = [
    "Case",
    "ChoiceJudge",
    "Completion",
    "DatasetError",
    "GEval",
    "Judge",
    "JudgeConfigError",
    "JudgeError",
    "JudgeFailure",
    "JudgePanel",
    "Judgement",
    "ModelClient",
    "ModelRequest",
    "ModelUnavailableError",
    "PairwiseJudge",
    "PointwiseJudge",
    "ProviderError",
    "RetryableProviderError",
    "get_model",
    "load_cases",
    "load_few_shot",
]
