"""Deterministic hash sampling and the rate derived from a target CI width (checked by simulation)."""

from __future__ import annotations

import numpy as np
import pytest
from monitor_helpers import NOW, make_config

from monitor.online import resolve_rates
from monitor.sampling import in_sample, rate_for_ci_width, sample_size_for_ci_width
from monitor.scores import ScoresTable

IDS = [f"{i:032x}" for i in range(20_000)]


def test_the_sample_is_deterministic_nested_and_about_the_rate():
    at_10 = {t for t in IDS if in_sample(t, 0.10)}
    at_20 = {t for t in IDS if in_sample(t, 0.20)}
    assert at_10 == {t for t in IDS if in_sample(t, 0.10)}  # a rerun picks the same traces
    assert at_10 < at_20  # a lower rate's sample lies inside a higher rate's
    assert abs(len(at_10) / len(IDS) - 0.10) < 0.01
    assert all(in_sample(t, 1.0) for t in IDS[:100]) and not any(in_sample(t, 0.0) for t in IDS[:100])


def test_sample_size_matches_the_textbook_formula():
    # n0 = (2 z sigma / w)^2 = (2 * 1.95996 * 1 / 0.2)^2 = 384.1 -> 385; with N = 1000: 385 / (1 + 384/1000) = 278.2
    assert sample_size_for_ci_width(0.2, 1.0) == 385
    assert sample_size_for_ci_width(0.2, 1.0, population=1000) == 278


@pytest.mark.parametrize("daily, sd, width", [(20_000, 1.2, 0.1), (5_000, 0.8, 0.2)])
def test_the_derived_rate_gives_the_target_ci_width_by_simulation(daily, sd, width):
    """A day of traffic sampled at the derived rate gives a daily-mean CI of about the target width."""
    rate = rate_for_ci_width(width, daily_traces=daily, score_sd=sd)
    rng = np.random.default_rng(0)
    widths, covered = [], 0
    for day in range(200):
        scores = np.clip(rng.normal(3.5, sd, daily), -10, 10)
        keep = rng.random(daily) < rate  # the hash is uniform, so this is the same sample law
        s = scores[keep]
        half = 1.959964 * s.std(ddof=1) / np.sqrt(s.size) * np.sqrt(1 - s.size / daily)
        widths.append(2 * half)
        covered += abs(s.mean() - scores.mean()) <= half
    assert np.mean(widths) <= width * 1.02  # never wider than asked (the rate is rounded up) ...
    assert np.mean(widths) >= width * 0.9  # ... and not much narrower: no wasted judge calls
    assert covered / 200 >= 0.9


def test_rates_come_from_config_history_or_the_scale_bound(tmp_path):
    cfg = make_config(tmp_path, evaluator=[
        {"name": "fixed", "rubric": "r", "sample_rate": 0.25},
        {"name": "target", "rubric": "r", "target_ci_width": 0.3, "daily_traces": 10_000},
        {"name": "unknown", "rubric": "r", "target_ci_width": 0.3},
    ])
    rates = resolve_rates(cfg, ScoresTable(tmp_path / "scores"), NOW)
    assert rates["fixed"].rate == 0.25
    # no history: the largest sd on a 1..5 scale is 2 -> n0 = (2*1.96*2/0.3)^2 = 683, fpc over 10,000 -> 640
    assert rates["target"].rate == pytest.approx(0.064) and "largest sd" in rates["target"].reason
    assert rates["unknown"].rate == 1.0 and "daily_traces" in rates["unknown"].reason
