"""Label distributions from top-logprobs and samples, and G-Eval weighting, against hand-computed values."""

import math

import pytest

from judges.scoring import (
    parse_label,
    probs_from_samples,
    probs_from_top_logprobs,
    token_index_at,
    weighted_score,
)
from judges.types import TokenLogprob, TopLogprob


def tok(token, p, alts=()):
    return TokenLogprob(token, math.log(p), tuple(TopLogprob(t, math.log(q)) for t, q in alts))


def test_weighted_score_by_hand():
    # 0.1*1 + 0.2*2 + 0.4*3 + 0.2*4 + 0.1*5 = 3.0
    assert weighted_score({"1": 0.1, "2": 0.2, "3": 0.4, "4": 0.2, "5": 0.1}) == pytest.approx(3.0)
    # renormalised: mass 0.5 on the labels -> (0.25*2 + 0.25*4)/0.5 = 3.0
    assert weighted_score({"2": 0.25, "4": 0.25}) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        weighted_score({"1": 0.0})


def test_top_logprobs_renormalised_over_valid_labels():
    lps = [tok("Score", 0.9), tok(":", 0.99),
           tok(" 4", 0.5, [(" 4", 0.5), (" 3", 0.2), (" 5", 0.1), (" maybe", 0.2)])]
    probs = probs_from_top_logprobs(lps, ["1", "2", "3", "4", "5"], 2)
    assert probs == pytest.approx({"1": 0, "2": 0, "3": 0.25, "4": 0.625, "5": 0.125})


def test_space_then_digit_labels_are_followed_along_the_path():
    # Gemma-style: a lone space token, then the digit token carries the alternatives
    lps = [tok(":", 1.0), tok(" ", 0.95), tok("4", 0.6, [("4", 0.6), ("2", 0.3), ("x", 0.1)])]
    probs = probs_from_top_logprobs(lps, ["1", "2", "3", "4", "5"], 1)
    assert probs["4"] == pytest.approx(0.6 / 0.9)
    assert probs["2"] == pytest.approx(0.3 / 0.9)


def test_multi_token_label_ten_versus_one():
    # "10" = "1" then "0"; P(1 then 0) = 0.5 * 0.8 = 0.4 ; P("1" and stop) = 0.5 * 0.2 = 0.1 ; P("9") = 0.3
    labels = [str(i) for i in range(1, 11)]
    lps = [tok("1", 0.5, [("1", 0.5), ("9", 0.3)]), tok("0", 0.8, [("0", 0.8), ("\n", 0.2)])]
    probs = probs_from_top_logprobs(lps, labels, 0)
    total = 0.4 + 0.1 + 0.3
    assert probs["10"] == pytest.approx(0.4 / total)
    assert probs["1"] == pytest.approx(0.1 / total)
    assert probs["9"] == pytest.approx(0.3 / total)


def test_parse_label_and_token_index():
    assert parse_label("Score: 10\nbecause", [str(i) for i in range(1, 11)], marker="Score:") == ("10", 7)
    assert parse_label("I think 4.", ["1", "2", "3", "4", "5"], marker="Score:") is None
    assert parse_label("Score: 45", ["4", "5"], marker="Score:") is None
    lps = [tok("Score", 1), tok(":", 1), tok(" 4", 1)]
    assert token_index_at(lps, 7) == 2


def test_probs_from_samples():
    texts = ["Score: 4", "Score: 4", "Score: 2", "no idea", "Score: 4"]
    assert probs_from_samples(texts, ["1", "2", "3", "4", "5"], marker="Score:") == pytest.approx(
        {"1": 0, "2": 0.25, "3": 0, "4": 0.75, "5": 0}
    )
    assert probs_from_samples(["nothing"], ["1", "2"]) is None
