"""The embedded judge: today's llama-cpp-python path vs llama.cpp's server in process (xllamacpp), in one run.

Both engines judge the same cases of the example datasets with the same judges, one kind after the other:

- ``pointwise``  the rag-faithfulness suite's PointwiseJudge on ``datasets/rag_qa.jsonl`` (label + reason)
- ``geval``      the summaries suite's GEval on ``datasets/summarization.jsonl`` (the reference summaries; the
                 evaluation steps pinned, so both engines read the same prompt)
- ``pairwise``   the prompt-ab suite's PairwiseJudge on ``datasets/pairwise_prefs.jsonl`` (both orders)

Each engine loads its model once (the load is timed apart), the client's cache is off, and every case of a
kind is submitted at once (the client's concurrency limit applies). Reported per kind and engine: judgements
per second (median over ``--repeats``), the ratio new / today, and the largest difference of any label's
probability between the engines on the same label request (``max_abs_dprob``).

    python bench/local_judge.py                      # 10 cases per kind, 1 repeat
    python bench/local_judge.py --quick --json out.json
    python bench/local_judge.py --repeats 3 --slots 4 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges import Case, GEval, ModelClient
from judges.types import Completion, ModelRequest

# pinned G-Eval steps: generated steps would differ between engines (greedy text), the label prompt must not
GEVAL_STEPS = (
    "Read the article and note its key facts.",
    "Check that every statement in the summary appears in the article.",
    "Check that the summary states the key facts in one well-structured sentence.",
)
KINDS = ("pointwise", "geval", "pairwise")


def _suite(module: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_bench_{module}", ROOT / "evals" / f"{module}.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot read evals/{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


def workload(n: int | None = None) -> dict[str, list[tuple[Any, Case]]]:
    """(judge, case) pairs per kind, from the example suites and their datasets (the first ``n`` of each)."""
    rag = _suite("test_rag_qa", "FAITHFULNESS")
    summaries = _suite("test_summaries", "SUMMARIES")
    pairs = _suite("test_pairwise", "PROMPTS")
    geval = next(s for s in summaries.scorers if isinstance(s, GEval))
    geval = dataclasses.replace(geval, evaluation_steps=GEVAL_STEPS)
    out = {
        "pointwise": [(rag.judge, c) for c in rag.cases()],
        "geval": [(geval, Case(c.id, c.input, output=c.expected)) for c in summaries.cases()],
        "pairwise": [(pairs.judge, c) for c in pairs.cases()],
    }
    return {k: v[:n] for k, v in out.items()}


class Recording:
    """A provider wrapper that keeps every label distribution it returned, by request (to compare engines)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.info = provider.info
        self.label_probs: dict[str, dict[str, float]] = {}

    async def generate(self, request: ModelRequest) -> Completion:
        out: Completion = await self.provider.generate(request)
        if request.labels is not None and out.label_probs is not None:
            self.label_probs[request.cache_key("", "")] = out.label_probs
        return out

    async def check(self) -> None:
        await self.provider.check()


def _engine(name: str, slots: int) -> Any:
    if name == "today":
        from judges.providers.llama import LlamaCppProvider

        return LlamaCppProvider()
    from judges.providers.embedded import EmbeddedLlamaProvider

    return EmbeddedLlamaProvider(slots=slots)


async def _run_kind(client: ModelClient, items: list[tuple[Any, Case]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(judge.judge(client, case) for judge, case in items))
    elapsed = time.perf_counter() - t0
    failures = sum(1 for r in results if not getattr(r, "ok", False))
    return elapsed, failures


def run_engine(name: str, n: int | None, repeats: int, slots: int, concurrency: int) -> dict[str, Any]:
    """One engine in this process: model load, then every kind ``repeats`` times; its label distributions."""
    work = workload(n)
    rec = Recording(_engine(name, slots))
    client = ModelClient(rec, cache=None, trace=False, max_concurrency=concurrency)
    t0 = time.perf_counter()
    asyncio.run(client.check())
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - t0, 2), "per_s": {}, "failures": {}}
    for kind in KINDS:
        rates, fails = [], 0
        for _ in range(repeats):
            elapsed, failed = asyncio.run(_run_kind(client, work[kind]))
            rates.append(len(work[kind]) / elapsed)
            fails += failed
        out["per_s"][kind] = round(statistics.median(rates), 4)
        out["failures"][kind] = fails
        print(f"  {name:>5} {kind:<9} {statistics.median(rates):7.3f} judgements/s  (failures {fails})", flush=True)
    out["label_probs"] = rec.label_probs
    return out


def run(n: int | None, repeats: int, slots: int, concurrency: int, passive_both: bool) -> dict[str, Any]:
    """Each engine in a child process of its own: both load libgomp, which reads its wait policy once."""
    import subprocess
    import tempfile

    work = workload(n)
    report: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_start": os.getloadavg()},
        "settings": {"cases_per_kind": {k: len(v) for k, v in work.items()}, "repeats": repeats, "slots": slots,
                     "concurrency": concurrency, "cache": False, "passive_both": passive_both},
        "load_s": {}, "per_s": {}, "failures": {}, "ratio": {},
    }
    engines = ["new"]
    if importlib.util.find_spec("llama_cpp") is not None:
        engines.insert(0, "today")
    else:
        print("llama-cpp-python is not installed (pip install 'evalharness[llama-cpp]'): only the new engine runs")
    results: dict[str, dict[str, Any]] = {}
    for name in engines:
        env = dict(os.environ)
        if name == "today" and passive_both:
            env["OMP_WAIT_POLICY"] = "PASSIVE"  # the new engine sets it itself (judges.providers.llama_server)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "engine.json"
            cmd = [sys.executable, __file__, "--engine", name, "--repeats", str(repeats), "--slots", str(slots),
                   "--concurrency", str(concurrency), "--json", str(out)] + (["--cases", str(n)] if n else [])
            subprocess.run(cmd, env=env, check=True)
            results[name] = json.loads(out.read_text())
        report["load_s"][name] = results[name]["load_s"]
        for kind in KINDS:
            report["per_s"].setdefault(kind, {})[name] = results[name]["per_s"][kind]
            report["failures"].setdefault(kind, {})[name] = results[name]["failures"][kind]
    if "today" in results:
        old, new = results["today"]["label_probs"], results["new"]["label_probs"]
        common = old.keys() & new.keys()
        diffs = [abs(old[k][lab] - new[k][lab]) for k in common for lab in old[k]]
        report["label_requests"] = {"compared": len(common), "labels": len(diffs)}
        report["max_abs_dprob"] = round(max(diffs), 6) if diffs else None
        report["mean_abs_dprob"] = round(statistics.fmean(diffs), 6) if diffs else None
        for kind in KINDS:
            report["ratio"][kind] = round(report["per_s"][kind]["new"] / report["per_s"][kind]["today"], 2)
    report["machine"]["loadavg_end"] = os.getloadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 cases per kind")
    parser.add_argument("--cases", type=int, default=None, help="the first N cases of each dataset")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--slots", type=int, default=4, help="the new engine's parallel sequences")
    parser.add_argument("--concurrency", type=int, default=8, help="the client's in-flight requests")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--passive-both", action="store_true",
                        help="give today's engine OMP_WAIT_POLICY=PASSIVE too (the new one sets it itself)")
    parser.add_argument("--engine", choices=("today", "new"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 3 if args.quick else args.cases
    if args.engine:  # a child: one engine, results as JSON for the parent
        args.json.write_text(json.dumps(run_engine(args.engine, n, args.repeats, args.slots, args.concurrency)))
        return
    report = run(n, args.repeats, args.slots, args.concurrency, args.passive_both)
    print(f"\nmachine: {report['machine']['platform']}, {report['machine']['cpus']} CPUs, load average "
          f"{report['machine']['loadavg_start'][0]:.1f} at start, {report['machine']['loadavg_end'][0]:.1f} at end")
    print(f"model load: {report['load_s']}")
    print(f"{'kind':<10}{'today/s':>10}{'new/s':>10}{'new/today':>11}")
    for kind in KINDS:
        per = report["per_s"][kind]
        today = per.get("today")
        ratio = report["ratio"].get(kind)
        print(f"{kind:<10}{today if today is not None else float('nan'):>10.3f}{per['new']:>10.3f}"
              f"{ratio if ratio is not None else float('nan'):>10.2f}x")
    if report.get("max_abs_dprob") is not None:
        print(f"label probabilities, {report['label_requests']['compared']} label requests: max |Δp| "
              f"{report['max_abs_dprob']:.4f}, mean {report['mean_abs_dprob']:.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
