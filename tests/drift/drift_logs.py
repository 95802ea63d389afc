"""Synthetic logged LLM calls in the example app's JSONL format (test helper)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_QUESTIONS = {
    "billing": "Why was my credit card charged twice this month?",
    "shipping": "When will my parcel arrive, the tracking has not moved?",
    "returns": "How do I send back the shoes that do not fit?",
    "crypto": "Can I pay with bitcoin and what is the ethereum gas fee?",
}


def make_log_rows(n: int, *, seed: int = 0, shift: bool = False, start: str = "2026-01-01T00:00:00Z",
                  hours: float = 48.0) -> list[dict]:
    """``n`` logged calls spread over ``hours``; ``shift=True`` makes prompts longer, adds a new
    topic and a new model version, slows latency and lowers the pass rate."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    offsets = np.sort(rng.uniform(0, hours * 3600, n))
    topics = ["billing", "shipping", "returns"] + (["crypto"] if shift else [])
    topic_p = [0.3, 0.3, 0.2, 0.2] if shift else [0.4, 0.35, 0.25]
    rows = []
    for i in range(n):
        p_words = int(rng.poisson(60 if shift else 30)) + 1
        r_words = int(rng.poisson(40)) + 1
        prompt_tokens = int(p_words * 1.3)
        completion_tokens = int(r_words * 1.3)
        ttft = float(rng.lognormal(np.log(300 if shift else 200), 0.3))
        tpot = float(rng.lognormal(np.log(25), 0.2))
        passed = rng.random() < (0.6 if shift else 0.85)
        topic = str(rng.choice(topics, p=topic_p))
        rows.append({
            "timestamp": (t0 + pd.Timedelta(seconds=float(offsets[i]))).isoformat().replace("+00:00", "Z"),
            "prompt": f"{_QUESTIONS[topic]} " + " ".join(["word"] * p_words), "response": " ".join(["answer"] * r_words),
            "model": ("gpt-x-2" if shift and rng.random() < 0.7 else "gpt-x-1"),
            "topic": topic, "language": str(rng.choice(["en", "de", "fr"], p=[0.7, 0.2, 0.1])),
            "latency_ms": ttft + tpot * completion_tokens, "ttft_ms": ttft, "tpot_ms": tpot,
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cost_usd": prompt_tokens * 1e-6 + completion_tokens * 3e-6,
            "judge_score": float(np.clip(rng.normal(0.8 if passed else 0.3, 0.15), 0, 1)) if rng.random() < 0.9 else None,
            "label": (int(passed) if rng.random() < 0.5 else None),
            "session_id": f"s{i // 5}", "user_id": f"u{i % 17}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}",
        })
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON Lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
