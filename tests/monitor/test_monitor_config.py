"""monitor.toml: validation names the field, relative paths follow the file, filters a source cannot answer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from monitor_helpers import make_config

from monitor import ConfigError, load_config
from monitor.config import parse_duration
from monitor.online import check_filters

GOOD = """
state_dir = "state"
[source]
kind = "log"
path = "logs/prod.jsonl"
lookback = "15m"
[judge]
model = "openai:gpt-4o-mini"
cache = "off"
[review]
store = "review.sqlite"
[[evaluator]]
name = "helpfulness"
rubric = "Is it helpful?"
target_ci_width = 0.2
daily_traces = 5000
[evaluator.where]
"metadata.route" = ["qa", "chat"]
[evaluator.alert]
min_mean_score = 3.0
"""


def test_a_good_config_loads_with_paths_relative_to_the_file(tmp_path):
    path = tmp_path / "conf" / "monitor.toml"
    path.parent.mkdir()
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.source.path == str(path.parent / "logs/prod.jsonl")
    assert cfg.state_dir == str(path.parent / "state") and cfg.review.store == str(path.parent / "review.sqlite")
    assert cfg.judge.cache == "off" and cfg.source.lookback == timedelta(minutes=15)
    assert cfg.evaluator[0].pass_at == 3.0 and cfg.evaluator[0].where == {"metadata.route": ["qa", "chat"]}


@pytest.mark.parametrize("change, field", [
    (("target_ci_width = 0.2", "target_ci_width = 0.2\nsample_rate = 0.1"), "evaluator.0"),
    (('rubric = "Is it helpful?"', ""), "evaluator.0"),
    (('lookback = "15m"', 'lookback = "soon"'), "source.lookback"),
    (('kind = "log"', 'kind = "kafka"'), "source.kind"),
    (("[judge]", "[judge]\ncolour = 1"), "judge.colour"),
])
def test_invalid_configs_name_the_field(tmp_path, change, field):
    path = tmp_path / "monitor.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigError, match=f"field '{field}"):
        load_config(path)


def test_missing_file_and_bad_toml_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[source\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_judge_spans_may_not_go_to_the_applications_project(tmp_path):
    with pytest.raises(ConfigError, match="judge_project"):
        make_config(tmp_path, source={"kind": "phoenix", "project": "qa-app", "path": None},
                    phoenix={"judge_project": "qa-app"})


def test_filters_a_phoenix_source_cannot_answer_are_rejected(tmp_path):
    ok = make_config(tmp_path, source={"kind": "phoenix", "project": "qa-app", "path": None}, evaluator=[
        {"name": "e", "rubric": "r", "sample_rate": 1, "where": {"llm.model_name": "m", "metadata.topic": "x"}}])
    check_filters(ok)
    bad = make_config(tmp_path, source={"kind": "phoenix", "project": "qa-app", "path": None}, evaluator=[
        {"name": "e", "rubric": "r", "sample_rate": 1, "where": {"metadata.route": "qa"}}])
    with pytest.raises(ConfigError, match="metadata.route"):
        check_filters(bad)
    kinds = make_config(tmp_path, evaluator=[{"name": "e", "rubric": "r", "sample_rate": 1,
                                              "where": {"span_kind": "CHAIN"}}])
    with pytest.raises(ConfigError, match="one row per request"):
        check_filters(kinds)


def test_durations():
    assert parse_duration("90s") == timedelta(seconds=90) and parse_duration("2d") == timedelta(days=2)
    assert parse_duration(30) == timedelta(seconds=30)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("tomorrow")


def test_the_cli_reports_a_bad_config_with_exit_2(tmp_path, capsys):
    from monitor.cli import main

    assert main(["run", "--config", str(Path(tmp_path) / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
