"""``python -m synth``: generate a set from documents, golden cases and the production log, write it and its report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from synth._critic import Critic
from synth._pipeline import SynthConfig, synthesize
from synth._rows import write_set
from synth._sources import Chunk, Skipped, load_documents, load_golden, load_log
from synth.errors import SynthError

EXAMPLES = """examples:
  python -m synth --from-docs examples/qa_corpus.jsonl --n 60 --seed 0 --out synth_out/qa_corpus.jsonl
  python -m synth --from-golden datasets/rag_qa.jsonl --from-log logs/prod.jsonl --n 20 --out synth_out/mixed.jsonl
The set goes to --out (JSONL), its report to <out>.report.json. Review it in the dashboard's
"Synthetic" page; accepted rows are exported to datasets/synth/<kind>/<name>.jsonl.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m synth", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-docs", nargs="+", default=[], metavar="PATH", help="text, Markdown or JSONL documents, or folders")
    p.add_argument("--from-golden", nargs="+", default=[], metavar="PATH", help="golden rag datasets whose cases are varied")
    p.add_argument("--from-log", nargs="+", default=[], metavar="PATH", help="production logs (JSONL); prompts are redacted first")
    p.add_argument("--n", type=int, default=50, help="rows to generate (default 50)")
    p.add_argument("--seed", type=int, default=0, help="the seed: same seed, same sources, same set (default 0)")
    p.add_argument("--out", required=True, type=Path, help="the generated set (JSONL)")
    p.add_argument("--model", default=None, help="the model (default: the judge model setting, 'local')")
    p.add_argument("--mix", default=None, help="evolution weights, e.g. 'reasoning=2,comparative=1' (default: equal)")
    p.add_argument("--critic-threshold", type=float, default=3.0, help="critic pass mark on 1..5 (default 3)")
    p.add_argument("--critic-retries", type=int, default=2, help="regenerations of a rejected candidate (default 2)")
    p.add_argument("--no-critic", action="store_true", help="keep candidates without the critic")
    p.add_argument("--dedup-threshold", type=float, default=0.9, help="cosine that makes a duplicate (default 0.9)")
    p.add_argument("--max-ratio", type=float, default=3.0, help="bound on per-source max/min row counts (default 3)")
    p.add_argument("--chunk-chars", type=int, default=1200, help="characters per document chunk (default 1200)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _inputs(args: argparse.Namespace) -> tuple[list[Chunk], list[Skipped], list[str]]:
    chunks: list[Chunk] = []
    skipped: list[Skipped] = []
    golden_questions: list[str] = []
    if args.from_docs:
        c, s = load_documents(args.from_docs, size=args.chunk_chars, overlap=min(200, args.chunk_chars // 5))
        chunks += c
        skipped += s
    for path in args.from_golden:
        c, s = load_golden(path)
        chunks += c
        skipped += s
        golden_questions += [x.seed_question for x in c if x.seed_question]
    for path in args.from_log:
        try:
            c, s = load_log(path)
        except SynthError as exc:  # one empty log among several inputs is reported, not fatal
            if args.from_docs or args.from_golden or len(args.from_log) > 1:
                skipped.append(Skipped(str(path), str(exc)))
                continue
            raise
        chunks += c
        skipped += s
    return chunks, skipped, golden_questions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 when the set has every requested row, 1 when fewer came out, 2 on bad input."""
    args = build_parser().parse_args(argv)
    if not (args.from_docs or args.from_golden or args.from_log):
        build_parser().error("give at least one of --from-docs, --from-golden, --from-log")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from judges import get_model
    from judges.errors import JudgeError

    try:
        chunks, skipped, golden_questions = _inputs(args)
        cfg = SynthConfig(
            n=args.n, seed=args.seed, mix=args.mix, dedup_threshold=args.dedup_threshold, max_ratio=args.max_ratio,
            critic=None if args.no_critic else Critic(args.critic_threshold, args.critic_retries),
        )
        client = get_model(args.model)
        result = asyncio.run(synthesize(client, chunks, cfg, golden_questions=golden_questions, skipped=skipped,
                                        progress=not args.no_progress))
    except (SynthError, JudgeError, ValueError, OSError) as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 2
    out = write_set(args.out, result.rows)
    report_path = out.with_name(out.name + ".report.json")
    report_path.write_text(result.report.model_dump_json(indent=2), encoding="utf-8")
    print(result.report.summary())
    print(f"wrote {len(result.rows)} rows to {out} and the report to {report_path}")
    return 0 if result.report.rows >= args.n else 1
