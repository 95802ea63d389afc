"""Importers: eval suites from ``openai/evals`` registries and promptfoo configs become a dataset and a suite file.

    python -m experiments import openai-evals registry/evals/capitals.yaml --task myapp:answer
    python -m experiments import openai-evals eval.json --items items.jsonl      # a hosted OpenAI Evals definition
    python -m experiments import promptfoo promptfooconfig.yaml

The generated suites use these scorers and the :class:`ChoiceJudge`; see docs/migration-openai-evals.md and
docs/migration-promptfoo.md for what maps to what.
"""

from experiments.importers._choice import CLOSEDQA_PROMPT, FACT_PROMPT, RUBRIC_PROMPT, ImportedChoiceJudge
from experiments.importers._scorers import (
    EvalsFuzzyMatch,
    EvalsIncludes,
    EvalsJsonMatch,
    EvalsMatch,
    PromptfooAsserts,
    StringCheck,
)
from experiments.importers._write import ImportReport, SuiteImportError
from experiments.importers.hosted import import_hosted_eval
from experiments.importers.openai_evals import import_openai_evals
from experiments.importers.promptfoo import import_promptfoo

__all__ = [
    "CLOSEDQA_PROMPT",
    "FACT_PROMPT",
    "RUBRIC_PROMPT",
    "EvalsFuzzyMatch",
    "EvalsIncludes",
    "EvalsJsonMatch",
    "EvalsMatch",
    "ImportReport",
    "ImportedChoiceJudge",
    "PromptfooAsserts",
    "StringCheck",
    "SuiteImportError",
    "import_hosted_eval",
    "import_openai_evals",
    "import_promptfoo",
]
