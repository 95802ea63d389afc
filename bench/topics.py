"""Topics against known intents (BANKING77's test split: 3,080 banking queries, 77 intents), and their cost.

1. **quality**: fit on all 3,080 queries without the number of intents; NMI and adjusted Rand index against the
   intents (outliers counted as one more cluster), topics found, outlier share; beside k-means told k = 77 (what
   the embedder allows at the right number) and a sweep of ``merge_distance`` x ``min_size``;
2. **stability**: (a) a refit with another seed on a sample of 2,000 (the seed draws the fit sample; on all data
   the clustering is deterministic) and (b) the data split in two halves, a model fitted on each, the second as a
   refit of the first (ids carried over): the share of all inputs assigned the same topic id by both models;
3. **planted new intent** (10 trials): one intent held out of the reference (28 of each other intent's 40
   queries), present in the current window (20 of its queries, beside 12 of every other intent): found when a
   candidate new topic's queries are mostly of the held-out intent;
4. **no change** (20 trials): reference and current window drawn from the same 77 intents (28 and 12 queries of
   each, another split per trial): a false alarm when any candidate new topic or any moved share is reported;
5. **scale**: time and peak memory (RSS, each size in its own process) to fit and assign 1e4, 1e5 and 1e6 inputs
   (vectors resampled from the real ones, with noise), and the embedder's rate measured on real queries.

    python bench/topics.py --json topics.json          # all parts
    python bench/topics.py --part quality,planted
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.topics import TopicParams, embed_texts, fit_topics, new_topic_candidates

DATA = ROOT / "bench" / "data" / "banking77" / "test.csv"
CACHE = Path(os.environ.get("TOPICS_BENCH_CACHE", "/tmp/banking77_vectors.npy"))


def load() -> tuple[list[str], np.ndarray, np.ndarray]:
    with DATA.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    texts = [r["text"] for r in rows]
    intents = np.array([r["category"] for r in rows])
    if CACHE.exists() and len(np.load(CACHE)) == len(texts):
        vectors = np.load(CACHE)
    else:
        t0 = time.perf_counter()
        vectors = embed_texts(texts, progress=False)
        print(f"  embedded {len(texts)} queries in {time.perf_counter() - t0:.1f}s", flush=True)
        np.save(CACHE, vectors)
    return texts, intents, vectors


def quality(texts: list[str], y: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    out: dict[str, Any] = {"sweep": []}
    t0 = time.perf_counter()
    model = fit_topics(texts, x)
    fit_s = time.perf_counter() - t0
    lab = model.assign(x)
    out["default"] = {"params": model.params.__dict__, "topics": len(model.topics),
                      "outlier_share": model.outlier_share, "nmi": normalized_mutual_info_score(y, lab),
                      "ari": adjusted_rand_score(y, lab), "fit_s": fit_s}
    d = out["default"]
    print(f"  default (merge {model.params.merge_distance}, min size {model.params.min_size}): {d['topics']} topics "
          f"for 77 intents, outliers {d['outlier_share']:.1%}, NMI {d['nmi']:.3f}, ARI {d['ari']:.3f} "
          f"(fit {fit_s:.1f}s)", flush=True)
    km = KMeans(77, n_init=5, random_state=0).fit_predict(x)
    out["kmeans_told_k"] = {"nmi": normalized_mutual_info_score(y, km), "ari": adjusted_rand_score(y, km)}
    print(f"  k-means told k=77: NMI {out['kmeans_told_k']['nmi']:.3f}, ARI {out['kmeans_told_k']['ari']:.3f}",
          flush=True)
    for md in (0.4, 0.45, 0.5, 0.55, 0.6):
        for ms in (5, 8, 12):
            m = fit_topics(texts, x, params=TopicParams(merge_distance=md, min_size=ms))
            lab = m.assign(x)
            row = {"merge_distance": md, "min_size": ms, "topics": len(m.topics), "outlier_share": m.outlier_share,
                   "nmi": normalized_mutual_info_score(y, lab), "ari": adjusted_rand_score(y, lab)}
            out["sweep"].append(row)
            print(f"    merge {md:<4} min size {ms:<2}: {row['topics']:>3} topics, outliers {row['outlier_share']:5.1%},"
                  f" NMI {row['nmi']:.3f}, ARI {row['ari']:.3f}", flush=True)
    return out


def stability(texts: list[str], y: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    a = fit_topics(texts, x, params=TopicParams(fit_sample=2000, seed=1))
    b = fit_topics(texts, x, params=TopicParams(fit_sample=2000, seed=2), previous=a)
    same_seed = float(np.mean(a.assign(x) == b.assign(x)))
    half = rng.permutation(len(texts))
    h1, h2 = np.sort(half[: len(half) // 2]), np.sort(half[len(half) // 2:])
    m1 = fit_topics([texts[i] for i in h1], x[h1])
    m2 = fit_topics([texts[i] for i in h2], x[h2], previous=m1)
    same_half = float(np.mean(m1.assign(x) == m2.assign(x)))
    kept = len(m2.history[-1]["kept"]) if m2.history else 0
    out = {"seed_refit_same_topic": same_seed, "seed_refit_topics": [len(a.topics), len(b.topics)],
           "halves_same_topic": same_half, "halves_topics": [len(m1.topics), len(m2.topics)], "halves_kept_ids": kept}
    print(f"  refit with another seed (samples of 2,000): {same_seed:.1%} of inputs keep their topic id "
          f"({len(a.topics)} and {len(b.topics)} topics)", flush=True)
    print(f"  two halves, one model each (second a refit of the first): {same_half:.1%} of inputs keep their topic "
          f"id ({len(m1.topics)} and {len(m2.topics)} topics, {kept} ids carried over)", flush=True)
    return out


def _split(y: np.ndarray, seed: int, held: str | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref, cur = [], []
    for intent in sorted(set(y.tolist())):
        idx = rng.permutation(np.flatnonzero(y == intent))
        if intent == held:
            cur += idx[:20].tolist()
        else:
            ref += idx[:28].tolist()
            cur += idx[28:40].tolist()
    return np.array(ref), np.array(cur)


def _window(texts: list[str], x: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> tuple[list[Any], int]:
    """Candidates in the current window, and how many topic shares moved (Holm at 0.05)."""
    from monitor.sources import TraceRow
    from monitor.topic_report import topics_report

    model = fit_topics([texts[i] for i in ref], x[ref])
    cur_texts = [texts[i] for i in cur]
    assigned = model.assign(x[cur])
    cands = new_topic_candidates(model, cur_texts, x[cur], assigned)
    stamp = __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC)
    rows = [TraceRow(str(i), str(i), None, stamp, t, "", {}) for i, t in zip(cur.tolist(), cur_texts, strict=True)]
    report = topics_report(model, rows, assigned, start="", end="", candidates=cands)
    return cands, len(report.changed(10_000))


def planted(texts: list[str], y: np.ndarray, x: np.ndarray, trials: int) -> dict[str, Any]:
    intents = sorted(set(y.tolist()))
    rng = np.random.default_rng(7)
    found, rows = 0, []
    for t in range(trials):
        held = intents[int(rng.integers(len(intents)))]
        ref, cur = _split(y, 100 + t, held)
        cands, moved = _window(texts, x, ref, cur)
        cur_y = y[cur]
        hit = None
        for c in cands:
            members = cur_y[list(c.indices)]
            purity = float(np.mean(members == held))
            if purity >= 0.5:
                hit = {"size": c.size, "purity": purity, "recall": float(np.sum(members == held) / 20),
                       "name": c.name}
                break
        found += hit is not None
        rows.append({"held_out": held, "candidates": len(cands), "found": hit, "moved_shares": moved})
        print(f"    trial {t}: held out {held!r}: {len(cands)} candidate(s); "
              + (f"found as {hit['name']!r} ({hit['size']} queries, {hit['purity']:.0%} of them the held-out intent, "
                 f"{hit['recall']:.0%} of its 20)" if hit else "NOT found"), flush=True)
    print(f"  planted new intent found in {found} of {trials} trials", flush=True)
    return {"trials": trials, "found": found, "rows": rows}


def no_change(texts: list[str], y: np.ndarray, x: np.ndarray, trials: int) -> dict[str, Any]:
    alarms, cand_alarms, rows = 0, 0, []
    for t in range(trials):
        ref, cur = _split(y, 500 + t, None)
        cands, moved = _window(texts, x, ref, cur)
        alarms += bool(cands or moved)
        cand_alarms += bool(cands)
        rows.append({"candidates": len(cands), "moved_shares": moved,
                     "candidate_names": [c.name for c in cands]})
    print(f"  no change: a candidate new topic in {cand_alarms} of {trials} trials, any alarm (candidate or moved "
          f"share) in {alarms} of {trials}", flush=True)
    return {"trials": trials, "candidate_alarms": cand_alarms, "any_alarm": alarms, "rows": rows}


def _scale_child(n: int) -> None:
    """In its own process: fit and assign ``n`` inputs resampled from the real vectors with noise."""
    texts, _, x = load()
    rng = np.random.default_rng(n)
    idx = rng.integers(len(x), size=n)
    noisy = x[idx]
    for lo in range(0, n, 65_536):  # noise in float32 chunks: the vectors themselves are the memory measured
        part = noisy[lo:lo + 65_536]
        part += rng.standard_normal(part.shape, dtype=np.float32) * np.float32(0.01)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    t0 = time.perf_counter()
    model = fit_topics([f"{texts[i]} #{k}" for k, i in enumerate(idx)], noisy)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.assign(noisy)
    assign_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "fit_s": fit_s, "assign_s": assign_s, "peak_rss_mb": rss_mb, "topics": len(model.topics)}))


def scale(texts: list[str]) -> dict[str, Any]:
    from embed import TextEmbedder

    emb = TextEmbedder()
    emb.embed(texts[:64])  # loaded
    t0 = time.perf_counter()
    embed_texts(texts[:2000], embedder=emb, progress=False)
    rate = 2000 / (time.perf_counter() - t0)
    out: dict[str, Any] = {"embed_per_s": rate, "sizes": []}
    print(f"  embedder: {rate:.0f} queries/s (2 threads of numpy; 1e6 inputs ≈ {1e6 / rate / 3600:.1f} h)", flush=True)
    for n in (10_000, 100_000, 1_000_000):
        proc = subprocess.run([sys.executable, __file__, "--scale-child", str(n)], capture_output=True, text=True,
                              check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["embed_s_estimate"] = n / rate
        out["sizes"].append(row)
        print(f"    {n:>9,} inputs: fit {row['fit_s']:.1f}s, assign {row['assign_s']:.2f}s, peak RSS "
              f"{row['peak_rss_mb']:.0f} MB, {row['topics']} topics; embedding them ≈ {n / rate:,.0f}s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="quality,stability,planted,nochange,scale")
    ap.add_argument("--trials", type=int, default=10, help="planted-intent trials (no-change: twice as many)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale_child:
        _scale_child(args.scale_child)
        return
    parts = set(args.part.split(","))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    texts, y, x = load()
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                       "load_average": os.getloadavg()[0]}, "n": len(texts)}
    if "quality" in parts:
        print("quality against 77 intents:", flush=True)
        out["quality"] = quality(texts, y, x)
    if "stability" in parts:
        print("stability:", flush=True)
        out["stability"] = stability(texts, y, x)
    if "planted" in parts:
        print("planted new intent:", flush=True)
        out["planted"] = planted(texts, y, x, args.trials)
    if "nochange" in parts:
        print("no change:", flush=True)
        out["no_change"] = no_change(texts, y, x, 2 * args.trials)
    if "scale" in parts:
        print("scale:", flush=True)
        out["scale"] = scale(texts)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
