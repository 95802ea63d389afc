"""Meta-evaluation: measure a judge against human labels before it gates anything.

    from judges.meta_eval import load_labelled, meta_evaluate
    record = await meta_evaluate(PairwiseJudge("helpfulness"), get_model(), load_labelled("llmbar:LLMBar_Natural.json"))
    print(format_report(record)); write_meta_eval(record, "evals/judge_evidence/pairwise.json")

``python -m judges meta-eval`` does the same from the command line (docs/judges.md).
"""

from judges.meta_eval._data import LabelledSet, human_label, load_labelled, load_llmbar
from judges.meta_eval._record import MetaEvalRecord, load_meta_eval, write_meta_eval
from judges.meta_eval._report import format_report
from judges.meta_eval._run import meta_evaluate, qualifies

__all__ = [
    "LabelledSet",
    "MetaEvalRecord",
    "format_report",
    "human_label",
    "load_labelled",
    "load_llmbar",
    "load_meta_eval",
    "meta_evaluate",
    "qualifies",
    "write_meta_eval",
]
