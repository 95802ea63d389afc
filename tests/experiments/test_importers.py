"""Importers: openai/evals registry evals and promptfoo configs become suites that `pytest` runs, baselines and
gates; the basic classes keep the original rules (verdicts checked against openai/evals' rules by hand on the same
samples); every construct that is not imported is reported by name."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from experiments.importers import (
    EvalsFuzzyMatch,
    EvalsIncludes,
    EvalsJsonMatch,
    EvalsMatch,
    ImportedChoiceJudge,
    PromptfooAsserts,
    StringCheck,
    SuiteImportError,
    import_hosted_eval,
    import_openai_evals,
    import_promptfoo,
)
from judges import Case, Completion, ModelClient
from judges.providers import FakeFunctionProvider

HARNESS = Path(__file__).resolve().parents[2]
EXAMPLES = HARNESS / "examples"
REGISTRY = EXAMPLES / "openai-evals" / "registry" / "evals"
PROMPTFOO = EXAMPLES / "promptfoo" / "promptfooconfig.yaml"
HOSTED = EXAMPLES / "openai-evals" / "hosted"
FAKE_JUDGE = '''
import pytest
from judges import Completion, ModelClient
from judges.providers import FakeFunctionProvider


def reply(req):  # a fake judge: "correct" with p = 0.9 (exact label probabilities), a one-line reason
    if not req.labels:
        return Completion(text=" it names the capital", provider="fake", model="fake-judge")
    probs = {lab: (0.9 if lab.strip() == "correct" else 0.1) for lab in req.labels}
    return Completion(text=" correct", provider="fake", model="fake-judge", label_probs=probs)


@pytest.fixture(scope="session")
def judge_client():
    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)
'''


def verdict(scorer: object, output: str, ideal: str | list[str]) -> float:
    ref = json.dumps(ideal if isinstance(ideal, list) else [ideal])
    result = asyncio.run(scorer.judge(None, Case("c", "q", output=output, expected=ref)))  # type: ignore[attr-defined]
    assert result.ok, result
    return float(result.score)


# (completion, ideal, verdict by the original rule); the rule is quoted from openai/evals in each comment
@pytest.mark.parametrize(("output", "ideal", "want"), [
    ("Paris", "Paris", 1.0), ("Paris, France", "Paris", 1.0),  # sampled.startswith(option)
    (" Paris", "Paris", 0.0), ("paris", "Paris", 0.0),  # no stripping, no case folding
    ("Roma", ["Rome", "Roma"], 1.0), ("The capital is Paris", "Paris", 0.0),
])
def test_match_is_startswith_any_ideal(output: str, ideal: str | list[str], want: float) -> None:
    assert verdict(EvalsMatch(), output, ideal) == want


@pytest.mark.parametrize(("output", "ideal", "ignore_case", "want"), [
    ("The capital is Paris.", "Paris", False, 1.0),  # get_answer: text.rfind(answer) != -1
    ("the capital is paris", "Paris", False, 0.0), ("the capital is paris", "Paris", True, 1.0),
    ("anything", "", False, 0.0),  # an empty ideal gives an empty (falsy) slice
    ("Rome!", ["Roma", "Rome"], False, 1.0),
])
def test_includes_is_substring_any_ideal(output: str, ideal: str | list[str], ignore_case: bool, want: float) -> None:
    assert verdict(EvalsIncludes(ignore_case=ignore_case), output, ideal) == want


@pytest.mark.parametrize(("output", "ideal", "want"), [
    ("The Eiffel Tower!", "eiffel tower", 1.0),  # normalize: lower, no punctuation, no articles
    ("tower", "The Eiffel Tower", 1.0),  # either contains the other
    ("Big Ben", "Eiffel Tower", 0.0), ("", "", 1.0), ("the", "Paris", 0.0),  # "the" normalises to ""
])
def test_fuzzy_match_is_mutual_containment_after_normalising(output: str, ideal: str, want: float) -> None:
    assert verdict(EvalsFuzzyMatch(), output, ideal) == want


def test_fuzzy_match_keeps_the_f1_of_the_best_ideal() -> None:
    r = asyncio.run(EvalsFuzzyMatch().judge(None, Case("c", "q", output="paris france",
                                                       expected=json.dumps(["paris", "lyon"]))))
    assert r.details["f1_score"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # P = 1/2, R = 1/1


@pytest.mark.parametrize(("output", "ideal", "want"), [
    ('{"a": 1, "b": [1, 2]}', '{"b": [1, 2], "a": 1}', 1.0),  # key order does not matter
    ('{"a": 1}', '{"a": 1, "b": null}', 0.0),  # a missing value is never correct
    ("[1, 2]", "[1, 2, 3]", 0.0),  # lists must have the same length
    ("not json", '{"a": 1}', 0.0), ('{"a": 1.0}', '{"a": 1}', 1.0),  # direct comparison of scalars
])
def test_json_match_component_by_component(output: str, ideal: str, want: float) -> None:
    assert verdict(EvalsJsonMatch(), output, ideal) == want


def test_promptfoo_asserts_all_must_hold() -> None:
    asserts = [{"type": "icontains", "value": "paris"}, {"type": "not-contains", "value": "London"},
               {"type": "regex", "value": "^[A-Z]"}, {"type": "starts-with", "value": "Par"},
               {"type": "contains-json", "value": None}]
    case = Case("c", "q", output='Paris {"ok": true}', expected=json.dumps({"assert": asserts}))
    r = asyncio.run(PromptfooAsserts().judge(None, case))
    assert (r.score, r.label) == (1.0, "pass")
    case = Case("c", "q", output="London", expected=json.dumps({"assert": asserts[:2]}))
    r = asyncio.run(PromptfooAsserts().judge(None, case))
    assert (r.score, r.label) == (0.0, "fail") and "icontains 'paris'" in str(r.reasoning)


@pytest.mark.parametrize(("operation", "output", "want"), [
    ("eq", "Paris", 1.0), ("eq", "paris", 0.0), ("ne", "Lyon", 1.0), ("like", "It is Paris.", 1.0),
    ("like", "it is paris", 0.0), ("ilike", "it is PARIS", 1.0),
])
def test_string_check_operations(operation: str, output: str, want: float) -> None:
    r = asyncio.run(StringCheck(operation).judge(None, Case("c", "q", output=output, expected="Paris")))
    assert r.score == want
    with pytest.raises(ValueError, match="StringCheck\\(operation='regex'\\): use eq, ne, like or ilike"):
        StringCheck("regex")


def test_a_hosted_eval_maps_its_graders_and_names_the_rest(tmp_path: Path) -> None:
    report = import_hosted_eval(HOSTED / "capitals-eval.json", HOSTED / "capitals-items.jsonl", tmp_path)
    assert [line.split(" -> ")[0] for line in report.imported] == [
        "string_check grader 'names the capital'", "text_similarity grader 'close to the expected answer'",
        "label_model grader 'correct'"]
    text = "\n".join(report.unsupported)
    assert "text_similarity grader 'bleu': evaluation_metric 'bleu'" in text
    assert "python grader 'short answer': python graders run code on OpenAI's side; port it" in text
    assert all(len(line) <= 120 for line in report.lines(tmp_path))
    suite = (tmp_path / "evals" / "test_capitals_hosted.py").read_text()
    assert "ImportedChoiceJudge('correct', 'system: Label the answer correct or incorrect.\\n\\nQuestion: {input}" in suite
    rows = [json.loads(x) for x in (tmp_path / "datasets" / "capitals_hosted.jsonl").read_text().splitlines()]
    assert rows[0] == {"id": "item-0", "question": "What is the capital of France?", "reference": "Paris"}
    with pytest.raises(SuiteImportError, match="--input-field 'answer' is not a text field of the items"):
        import_hosted_eval(HOSTED / "capitals-eval.json", HOSTED / "capitals-items.jsonl", tmp_path / "x",
                           input_field="answer")


def test_every_unsupported_construct_is_named(tmp_path: Path) -> None:
    report = import_promptfoo(PROMPTFOO, tmp_path, task="capitals_app:answer")
    text = "\n".join(report.unsupported)
    assert "assert type 'javascript' (test 5)" in text
    assert "assert type 'llm-rubric' on some tests only (tests without it: [1, 2, 3, 4, 5])" in text
    rows = [json.loads(x) for x in (tmp_path / "datasets" / "capitals_promptfoo.jsonl").read_text().splitlines()]
    assert rows[0]["question"] == "Answer with the capital city only. What is the capital of France?"
    assert {"type": "not-contains", "value": "I don't know"} in json.loads(rows[0]["reference"])["assert"]
    with pytest.raises(SuiteImportError, match="pass --force to overwrite"):
        import_promptfoo(PROMPTFOO, tmp_path)
    odd = tmp_path / "odd.yaml"
    odd.write_text("x:\n  id: x.v0\nx.v0:\n  class: mypkg.evals:Custom\n  args: {samples_jsonl: s.jsonl}\n")
    (tmp_path / "s.jsonl").write_text('{"input": "hi", "ideal": "hello"}\n')
    with pytest.raises(SuiteImportError, match="eval class 'mypkg.evals:Custom': not importable"):
        import_openai_evals(odd, tmp_path)


def test_a_model_graded_spec_becomes_a_choice_judge(tmp_path: Path) -> None:
    report = import_openai_evals(REGISTRY / "capitals-graded.yaml", tmp_path)
    assert report.unsupported == [] and "ChoiceJudge" in report.imported[0]
    suite_text = (tmp_path / "evals" / "test_capitals_graded.py").read_text()
    assert "ImportedChoiceJudge.from_spec('fact', FACT_PROMPT, {'A': 1.0, 'B': 1.0, 'C': 1.0, 'D': 0.0, 'E': 1.0}" in suite_text
    from experiments.importers import FACT_PROMPT

    judge = ImportedChoiceJudge.from_spec("fact", FACT_PROMPT, {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 1.0})
    asked: list[str] = []

    def reply(req: object) -> Completion:
        asked.append(req.messages[-2].content if len(req.messages) > 1 else "")  # type: ignore[attr-defined]
        if not req.labels:  # type: ignore[attr-defined]
            return Completion(text=" the submission names another city", provider="fake", model="fake-judge")
        probs = {lab: (0.8 if lab == " D" else 0.05) for lab in req.labels}  # type: ignore[attr-defined]
        return Completion(text=" D", provider="fake", model="fake-judge", label_probs=probs)

    client = ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)
    case = Case("c", "capital of France?", output="Lyon", expected=json.dumps(["Paris", "Paris, France"]))
    r = asyncio.run(judge.judge(client, case))
    assert r.label == "D" and r.score == pytest.approx(0.2)  # 0.8 on D (0) and 0.05 on each of four 1s
    assert "[Expert]: Paris | Paris, France" in asked[0] and "[Submission]: Lyon" in asked[0]


def test_promptfoo_model_graded_asserts_become_choice_judges(tmp_path: Path) -> None:
    report = import_promptfoo(PROMPTFOO.parent / "graded" / "promptfooconfig.yaml", tmp_path)
    assert report.unsupported == []
    assert "llm-rubric -> ChoiceJudge 'llm_rubric' with choices {'Y': 1.0, 'N': 0.0}, pass at 0.7" in report.imported
    rows = [json.loads(x) for x in (tmp_path / "datasets" / "capitals_graded_promptfoo.jsonl").read_text().splitlines()]
    from experiments.importers import FACT_PROMPT, RUBRIC_PROMPT

    rubric = ImportedChoiceJudge("llm_rubric", RUBRIC_PROMPT, (("Y", 1.0), ("N", 0.0)), from_assert="llm-rubric",
                         fills="criteria", pass_at=0.7)
    fact = ImportedChoiceJudge("factuality", FACT_PROMPT, (("A", 1.0), ("B", 1.0), ("C", 1.0), ("D", 0.0), ("E", 1.0)),
                       from_assert="factuality", fills="ideal")
    asked: list[str] = []

    def reply(req: object) -> Completion:
        if not req.labels:  # type: ignore[attr-defined]
            return Completion(text=" fine", provider="fake", model="fake-judge")
        asked.append(req.messages[0].content)  # type: ignore[attr-defined]
        probs = {lab: (0.6 if lab.strip() in ("Y", "C") else 0.1) for lab in req.labels}  # type: ignore[attr-defined]
        return Completion(text=" Y", provider="fake", model="fake-judge", label_probs=probs)

    client = ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)
    case = Case(rows[2]["id"], rows[2]["question"], output="Nairobi", expected=rows[2]["reference"])
    r = asyncio.run(rubric.judge(client, case))
    assert r.score == pytest.approx(0.6 / 0.7) and r.label == "pass" and r.details["pass_at"] == 0.7
    assert "[Rubric]: names a single city and nothing else" in asked[-1]
    r = asyncio.run(fact.judge(client, case))
    assert r.score == pytest.approx(1 - 0.1 / 1.0) and r.label == "C"  # D (0) has 0.1 of the renormalised mass
    assert "[Expert]: The capital of Kenya is Nairobi." in asked[-1]
    # a test without deterministic assertions passes PromptfooAsserts, saying so
    r = asyncio.run(PromptfooAsserts().judge(None, Case("c", "q", output="x", expected=rows[0]["reference"])))
    assert r.score == 1.0 and "no deterministic assertion" in str(r.reasoning)


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EVALHARNESS_", "PYTEST_"))}
    registered = any(ep.value.startswith("experiments") for ep in entry_points(group="pytest11"))
    plugin = [] if registered else ["-p", "experiments.pytest_plugin"]
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env={**base, "EVALHARNESS_TRACING": "", "PYTHONPATH": f"{EXAMPLES}:{HARNESS}", **env})


@pytest.mark.parametrize("kind", ["openai-evals", "hosted", "promptfoo"])
def test_an_imported_suite_runs_saves_a_baseline_and_gates(tmp_path: Path, kind: str) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["evals"]\n')
    if kind == "openai-evals":
        import_openai_evals(REGISTRY / "capitals.yaml", tmp_path, task="capitals_app:answer")
    elif kind == "hosted":  # a label_model grader: the judge is a fake here (the suite's conftest gives it)
        import_hosted_eval(HOSTED / "capitals-eval.json", HOSTED / "capitals-items.jsonl", tmp_path,
                           task="capitals_app:answer")
        (tmp_path / "evals" / "conftest.py").write_text(FAKE_JUDGE)
    else:
        import_promptfoo(PROMPTFOO, tmp_path, task="capitals_app:answer")
    good = _run(tmp_path, "--eval-baseline", "none", "--eval-save-baseline", "baseline.json")
    assert good.returncode == 0, good.stdout + good.stderr
    saved = json.loads((tmp_path / "baseline.json").read_text())
    [suite] = saved["suites"]
    assert len(suite["cases"]) >= 6 and all(c["scores"][0]["passed"] for c in suite["cases"])
    broken = _run(tmp_path, "--eval-baseline", "baseline.json", CAPITALS_APP_VARIANT="broken")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "gate" in broken.stdout.lower() and "FAILED" in broken.stdout
