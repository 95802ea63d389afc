"""Baselines: finding the run, refusing comparisons that would mislead, and the paired comparison itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from experiments.baseline import compare, incompatibilities, load_baseline
from experiments.errors import BaselineError, ResultsError
from experiments.record import (
    CaseRecord,
    GitInfo,
    RunRecord,
    Score,
    ScorerInfo,
    SuiteRecord,
    SuiteSummary,
    load_run,
    write_run,
)
from experiments.run import Baseline, suite_record

INFO = ScorerInfo(scorer="token_f1", criterion="token F1", kind="scorer", scale=(0.0, 1.0))


def case(cid: str, score: float, *, inp: str = "q", expected: str = "ref") -> CaseRecord:
    return CaseRecord(case_id=cid, input=inp, expected=expected, output=f"out {cid}",
                      scores=[Score(scorer="token_f1", criterion="token F1", kind="scorer", scale=(0.0, 1.0),
                                    score=score)])


def suite(cases, *, scale=(0.0, 1.0), dataset_hash="h1") -> SuiteRecord:
    return SuiteRecord(suite="qa", kind="rag", dataset="qa.jsonl", dataset_hash=dataset_hash,
                       scorers=[INFO.model_copy(update={"scale": scale})], summary=SuiteSummary(n=len(cases)),
                       cases=cases)


def run(run_id: str, cases, *, branch="main", started="2026-11-01T10:00:00", judge_model="gemma") -> RunRecord:
    return RunRecord(run_id=run_id, started=started, finished=started, git=GitInfo(branch=branch),
                     judge_model=judge_model, suites=[suite(cases)])


def test_results_file_round_trip_and_schema_errors(tmp_path):
    r = run("r1", [case("a", 0.5)])
    path = write_run(r, tmp_path / "r1.json")
    assert load_run(path) == r
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(ResultsError, match="is empty"):
        load_run(tmp_path / "empty.json")
    (tmp_path / "cut.json").write_text(path.read_text()[:100])
    with pytest.raises(ResultsError, match="not JSON .* truncated"):
        load_run(tmp_path / "cut.json")
    (tmp_path / "v1.json").write_text(json.dumps({"run_id": "old", "suites": []}))
    with pytest.raises(ResultsError, match="schema version 1; this harness reads version 2.*older harness"):
        load_run(tmp_path / "v1.json")
    with pytest.raises(ResultsError, match="does not exist"):
        load_run(tmp_path / "missing.json")


def test_a_folder_gives_the_newest_run_of_the_baseline_branch(tmp_path):
    write_run(run("old-main", [case("a", 0.1)], started="2026-11-01T10:00:00"), tmp_path / "1.json")
    write_run(run("new-main", [case("a", 0.2)], started="2026-11-02T10:00:00"), tmp_path / "2.json")
    write_run(run("newest-pr", [case("a", 0.3)], branch="feature", started="2026-11-03T10:00:00"), tmp_path / "3.json")
    (tmp_path / "junk.json").write_text("{")
    assert load_baseline(tmp_path, prefer=["main"])[0].run_id == "new-main"
    assert load_baseline(tmp_path, branch="feature")[0].run_id == "newest-pr"
    with pytest.raises(BaselineError, match=r"which branch.*branches found: \['feature', 'main'\].*default_branch"):
        load_baseline(tmp_path, prefer=["develop"])
    with pytest.raises(BaselineError, match=r"no run of branch 'release' .*branches found: \['feature', 'main'\]"):
        load_baseline(tmp_path, branch="release")
    with pytest.raises(BaselineError, match="does not exist"):
        load_baseline(tmp_path / "nope")


def test_comparison_pairs_by_id_and_lists_added_and_removed_cases():
    old = [case(f"c{i}", 0.8) for i in range(10)] + [case("gone", 0.5)]
    new = [case(f"c{i}", 0.8 if i < 6 else 0.2) for i in range(10)] + [case("fresh", 0.9)]
    c = compare(new, suite(old), INFO, run_id="b", source="b.json", max_drop=0.0)
    assert c.n_paired == 10 and c.added == ["fresh"] and c.removed == ["gone"]
    assert c.baseline_mean == pytest.approx(0.8) and c.mean_diff == pytest.approx(-0.24)
    assert (c.improved, c.regressed, c.unchanged) == (0, 4, 6)
    assert [d.case_id for d in c.worst] == ["c6", "c7", "c8", "c9"] and c.worst[0].old_output == "out c6"
    # exact sign-flip test: of the 2**4 sign patterns of the four non-zero differences, only the observed one
    # has a mean this low (the six zeros flip to themselves), so p = 1/16 by hand
    assert c.pvalue == pytest.approx(1 / 16)


def test_comparison_p_value_matches_scipy_t_on_the_same_differences():
    rng = np.random.default_rng(3)
    old_v = rng.uniform(0, 1, 40)
    new_v = np.clip(old_v + rng.normal(-0.05, 0.1, 40), 0, 1)
    c = compare([case(f"c{i}", v) for i, v in enumerate(new_v)], suite([case(f"c{i}", v) for i, v in enumerate(old_v)]),
                INFO, run_id="b", source="b", max_drop=0.02)
    t = stats.ttest_1samp(new_v - old_v + 0.02, 0.0, alternative="less").pvalue
    assert c.mean_diff == pytest.approx(float(np.mean(new_v - old_v)))
    assert c.pvalue == pytest.approx(t, abs=0.02)  # permutation and t agree closely at n = 40


def test_incompatible_baselines_are_refused_with_what_differs():
    base = suite([case("a", 0.5, inp="question one"), case("b", 0.5)], scale=(1.0, 5.0), dataset_hash="h0")
    cur = suite([case("a", 0.5, inp="question ONE"), case("b", 0.5)])
    problems = incompatibilities(cur, base, judge_model="gemma", base_judge_model="gpt-4o")
    text = " | ".join(problems)
    assert "judge model differs: baseline 'gpt-4o', this run 'gemma'" in text
    assert "scale differs: baseline (1.0, 5.0), this run (0.0, 1.0)" in text
    assert "dataset changed: 1 shared case(s) have another input or reference (e.g. ['a'])" in text


def header() -> dict:
    return {"suite": "qa", "kind": "rag", "dataset": "qa.jsonl", "dataset_hash": "h1", "task": None, "task_b": None,
            "scorers": [INFO.model_dump()], "gate": {"max_drop": 0.0, "min": None}}


def test_refused_baseline_fails_the_gate_and_forcing_compares_with_a_warning():
    base_run = run("b", [case("a", 0.9, inp="other"), case("b", 0.9)], judge_model="gemma")
    cases = [case("a", 0.9), case("b", 0.9)]
    refused = suite_record(header(), cases, baseline=Baseline(base_run, "b.json"), judge_model="gemma")
    assert refused.summary.gate.passed is False and "baseline refused: dataset changed" in refused.summary.gate.reason
    assert "--eval-baseline-force" in refused.summary.gate.reason
    forced = Baseline(base_run, "b.json", force=True)
    ok = suite_record(header(), cases, baseline=forced, judge_model="gemma")
    assert ok.summary.comparison() is not None and ok.summary.gate.passed is True
    assert ok.summary.comparison().warnings == [
        ("forced comparison: dataset changed: 1 shared case(s) have another input or reference (e.g. ['a']); "
         "baseline dataset h1, this run h1")]
    assert forced.warnings and forced.warnings[0].startswith("qa: forced comparison")


def git(repo, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def master_repo(tmp_path, monkeypatch):
    """A fresh git repository on branch ``master`` (no remote), as ``git init`` leaves it on many machines."""
    for var in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        monkeypatch.delenv(var, raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    return repo


def test_the_default_branch_comes_from_git_not_a_hard_coded_main(master_repo):
    from experiments.run import default_branches

    repo = master_repo
    folder = repo / "evals" / "baselines"
    assert default_branches(repo) == ["master"]
    # the run saved on master (the documented refresh) is the one the next run on master compares with
    write_run(run("on-master", [case("a", 0.2)], branch="master"), folder / "master.json")
    assert load_baseline(folder)[0].run_id == "on-master"
    # a pull request branch with no run of its own compares with the only branch that has one
    git(repo, "checkout", "-q", "-b", "feature")
    assert default_branches(repo) == ["feature"]
    assert load_baseline(folder)[0].run_id == "on-master"
    # the remote's HEAD wins over the current branch
    write_run(run("on-feature", [case("a", 0.3)], branch="feature", started="2026-11-05T10:00:00"),
              folder / "feature.json")
    assert load_baseline(folder)[0].run_id == "on-feature"
    git(repo, "update-ref", "refs/remotes/origin/master", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/master")
    assert default_branches(repo) == ["master", "feature"]
    assert load_baseline(folder)[0].run_id == "on-master"
    # [tool.evalharness] default_branch overrides git
    (repo / "pyproject.toml").write_text("[tool.evalharness]\ndefault_branch = 'feature'\n")
    assert default_branches(repo) == ["feature"]
    assert load_baseline(folder)[0].run_id == "on-feature"
