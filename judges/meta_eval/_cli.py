"""``python -m judges meta-eval``: qualify a judge against human labels in one command."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from judges._judge import Judge

DEFAULT_RUBRIC = "5: fully meets the criterion\n4: mostly\n3: partly\n2: barely\n1: does not meet it"


def add_meta_eval(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``meta-eval`` command."""
    p = subparsers.add_parser(
        "meta-eval",
        help="measure a judge against human labels (agreement with CIs, bias, calibration, abstention)",
        description=(
            "Run a judge over a human-labelled set and report how far its verdicts agree with the humans, "
            "with 95%% bootstrap CIs: accuracy and Cohen's kappa for preferences, quadratic-weighted kappa, "
            "Spearman and Kendall for scores; both pairwise verdict rules, contextual and isotonic calibration "
            "(cross-validated), bias probes, the coverage-risk curve of abstaining, and optionally few-shot "
            "examples from the judge's corrected mistakes. Writes a results file the suite gates read."
        ),
        epilog=(
            "Data: llmbar:PATH (LLMBar's JSON), or a dataset JSONL with human labels: datasets/pairwise_prefs.jsonl "
            "(--kind pairwise), datasets/summarization.jsonl (--kind summarization), or a review export "
            "datasets/human/<kind>/<criterion>.jsonl. Example: python -m judges meta-eval --data "
            "llmbar:LLMBar_Natural.json --judge pairwise --criterion 'helpfulness and correctness' --limit 60 "
            "--out evals/judge_evidence/pairwise.json"
        ),
    )
    p.add_argument("--data", required=True, help="llmbar:PATH, or a labelled dataset file (see below)")
    p.add_argument("--kind", default=None, choices=["pairwise", "summarization", "rag", "qa"],
                   help="the dataset's kind (not needed for llmbar: or datasets/human/<kind>/...)")
    p.add_argument("--judge", default=None, choices=["pairwise", "pointwise", "geval"],
                   help="judge kind (default: pairwise for preferences, pointwise for scores)")
    p.add_argument("--criterion", required=True, help="what the judge assesses, as the suite's judge says it")
    p.add_argument("--rubric", default=DEFAULT_RUBRIC, help="pointwise rubric (default: a generic 1-5 rubric)")
    p.add_argument("--name", default=None, help="G-Eval metric name (default: the criterion's first word)")
    p.add_argument("--model", default=None, help="judge model spec: local, local:/path.gguf, openai:MODEL "
                   "(default: EVALHARNESS_JUDGE_MODEL or evalharness.toml)")
    p.add_argument("--rule", default="mean_prob", choices=["mean_prob", "per_order"], help="pairwise verdict rule")
    p.add_argument("--tie-margin", type=float, default=0.0, help="pairwise tie margin on P(A) - P(B)")
    p.add_argument("--contextual", action="store_true", help="configure the judge with contextual calibration")
    p.add_argument("--calibration", default=None, help="configure the judge with this isotonic map "
                   "(a JSON file, or an earlier meta-evaluation's results file)")
    p.add_argument("--limit", type=int, default=None, help="judge only the first N labelled cases")
    p.add_argument("--few-shot-corrections", type=int, default=0, metavar="K",
                   help="also try K of the judge's corrected mistakes (half the set) as examples on the other half")
    p.add_argument("--few-shot", default=None, metavar="FILE",
                   help="also try these pointwise examples (e.g. datasets/fewshot/<criterion>.jsonl from review)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the isotonic fit")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap, the folds and the split")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per CI")
    p.add_argument("--min-labels", type=int, default=50, help="labels a gate needs (default %(default)s)")
    p.add_argument("--min-agreement", type=float, default=0.4,
                   help="the agreement's CI low a gate needs (default %(default)s)")
    p.add_argument("--strict", action="store_true", help="exit 1 when the judge does not qualify")
    p.add_argument("--no-case-text", action="store_true", help="leave the cases' texts out of the results file "
                   "(ids, labels and probabilities stay): for evidence kept in a repository")
    p.add_argument("--out", default=None, help="results file (default results/meta-eval/<judge>--<model>.json); "
                   "keep it in evals/judge_evidence/ to let suite gates use the judge")
    p.set_defaults(run=_run, parser=p)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80]


def build_judge(args: argparse.Namespace, preference: bool) -> Judge:
    """The judge the arguments describe."""
    from judges import GEval, PairwiseJudge, PointwiseJudge
    from judges.calibration import IsotonicMap

    kind = args.judge or ("pairwise" if preference else "pointwise")
    calibration = IsotonicMap.load(args.calibration) if args.calibration else None
    if kind == "pairwise":
        return PairwiseJudge(args.criterion, rule=args.rule, tie_margin=args.tie_margin, contextual=args.contextual,
                             calibration=calibration)
    if kind == "geval":
        name = args.name or args.criterion.split()[0].strip(".,:;").capitalize()
        return GEval(name, args.criterion, contextual=args.contextual, calibration=calibration)
    return PointwiseJudge(args.criterion, args.rubric, contextual=args.contextual, calibration=calibration)


def _run(args: argparse.Namespace) -> int:
    from judges import get_model
    from judges.errors import JudgeError
    from judges.meta_eval import format_report, load_labelled, meta_evaluate, qualifies, write_meta_eval
    from judges.pointwise import load_few_shot

    try:
        data = load_labelled(args.data, args.kind)
        judge = build_judge(args, data.preference)
        client = get_model(args.model)
        examples = load_few_shot(args.few_shot) if args.few_shot else ()

        def progress(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                print(f"  judged {done}/{total}", file=sys.stderr, flush=True)

        async def go():  # type: ignore[no-untyped-def]
            await client.check()
            return await meta_evaluate(judge, client, data, limit=args.limit, folds=args.folds, seed=args.seed,
                                       n_resamples=args.resamples, few_shot_corrections=args.few_shot_corrections,
                                       few_shot_examples=examples, progress=progress)

        record = asyncio.run(go())
    except (JudgeError, ValueError) as exc:
        args.parser.error(str(exc))
    out = Path(args.out or f"results/meta-eval/{_slug(record.judge)}--{_slug(record.judge_model)}.json")
    if args.no_case_text:
        blank = {"input": "", "output": None, "output_a": None, "output_b": None}
        record = record.model_copy(update={"cases": [c.model_copy(update=blank) for c in record.cases]})
    print(format_report(record))
    why = qualifies(record, min_labels=args.min_labels, min_agreement=args.min_agreement)
    verdict = "QUALIFIED to gate" if why is None else f"NOT QUALIFIED to gate: {why}"
    print(f"\n{verdict} (needs >= {args.min_labels} labels and an agreement CI low >= {args.min_agreement:g})")
    print(f"results: {write_meta_eval(record, out)}")
    return 1 if args.strict and why is not None else 0
