"""pytest integration: every case runs the task under test and is scored; suites are gated against a baseline.

Installed with the package it is a pytest plugin like any other (the ``pytest11`` entry point ``evalharness``):
the ``--eval-*`` options and the fixtures exist in every pytest session, with no conftest. A conftest that
still says ``from experiments.pytest_plugin import *`` is harmless (the hooks notice the second registration).
It blocks deepeval's own pytest plugin and its telemetry, and keeps pytest-asyncio's unset-loop-scope
warning out of the user's session. Files are found from pytest's rootdir (see :mod:`tracing.project`).
Tests use two fixtures:

    @pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
    def test_case(case, evaluate):
        evaluate(SUITE, case)          # runs the task, scores it, fails on a task error or below the threshold

    def test_gate(evaluate_suite):
        evaluate_suite(SUITE)          # the suite's gate, against the baseline run when there is one

Each case runs once per process (the per-case test and the gate share it). Works with ``--junitxml``
(scores become properties) and ``pytest -n`` (records travel to the controller in the reports; there
the gate is decided again over all cases and a failure fails the session).
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import threading
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from experiments.errors import ExperimentError
from experiments.record import CaseRecord, RunRecord, SuiteRecord, redact_run, write_run
from experiments.report import GATE_MARK, WIDTH, format_markdown, format_table
from experiments.run import Baseline, default_branches, git_info, harness_version, suite_header, suite_record
from experiments.suite import EvalSuite, VersusBaseline, run_case
from judges.case import Case
from judges.client import ModelClient
from judges.meta_eval import MetaEvalRecord
from tracing.files import private_file, write_private_text
from tracing.project import DEFAULTS, pin_root, project_path, resolve, unpin_root

T = TypeVar("T")
_RECORD = "eval_record"
_HEADER = "eval_suite"
_GATE = "eval_gate"


class _LoopThread:
    """One event loop in a daemon thread, so sync tests can await the async tasks and judges."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="evalharness-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class EvalRuntime:
    """Per-process state: the loop, the memoised case runs, the baseline and the collected records."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._loop: _LoopThread | None = None
        self._futures: dict[tuple[str, str], Any] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self.selected: set[int] = set()  # ids of Case objects whose test items are selected
        self.records: dict[str, dict[str, CaseRecord]] = defaultdict(dict)
        self.headers: dict[str, dict[str, Any]] = {}
        self.gate_failed: set[str] = set()  # suites whose gate test failed in some process
        self.gate_tested: set[str] = set()  # suites with a gate test in this session
        self.judge_model = ""
        self.client: ModelClient | None = None  # the session's judge client, for its line in the summary
        self.tracing: Any = None
        # xdist sets workerinput on a worker's config (the environment variable leaks into subprocesses)
        self.xdist_worker = getattr(config, "workerinput", {}).get("workerid")
        self._baseline: Baseline | None | bool = False  # False: not loaded yet
        self._evidence: list[tuple[MetaEvalRecord, str]] | None = None
        self.run: RunRecord | None = None

    @property
    def loop(self) -> _LoopThread:
        if self._loop is None:
            self._loop = _LoopThread()
        return self._loop

    @property
    def baseline(self) -> Baseline | None:
        """The baseline run (--eval-baseline, $EVALHARNESS_BASELINE or evals/baselines/), loaded once."""
        if self._baseline is False:
            self._baseline = load_configured_baseline(self.config)
        return self._baseline  # type: ignore[return-value]

    @property
    def evidence(self) -> list[tuple[MetaEvalRecord, str]]:
        """The judges' meta-evaluations (--eval-judge-evidence, $EVALHARNESS_JUDGE_EVIDENCE or evals/judge_evidence/)."""
        if self._evidence is None:
            from experiments.alignment import load_evidence

            given = self.config.getoption("eval_judge_evidence") or os.environ.get("EVALHARNESS_JUDGE_EVIDENCE")
            root = Path(self.config.rootpath)
            folder = resolve(given, root) if given else project_path("evidence_dir", root)
            self._evidence = load_evidence(folder, root=root)
        return self._evidence

    def make_client(self) -> ModelClient:
        """The configured judge client, checked: an unknown or unreachable model fails here, before any case."""
        from judges.config import get_model

        spec = self.config.getoption("judge_model") or None
        client = get_model(spec)
        self.loop.run(client.check())
        self.judge_model = client.info.model
        self.client = client
        return client

    async def _run(self, suite: EvalSuite, case: Case, client: ModelClient) -> CaseRecord:
        sem = self._semaphores.get(suite.name)
        if sem is None:
            sem = self._semaphores[suite.name] = asyncio.Semaphore(suite.task_concurrency)
        return await run_case(suite, case, client, run_id=self.run_id, semaphore=sem,
                              baseline_output=self.baseline_output(suite, case))

    def baseline_output(self, suite: EvalSuite, case: Case) -> str | None:
        """The baseline run's output for ``case``, when the suite judges against it (VersusBaseline)."""
        if self.baseline is None or not any(isinstance(s, VersusBaseline) for s in suite.all_scorers):
            return None
        base = self.baseline.run.suite(suite.name)
        rec = next((c for c in base.cases if c.case_id == case.id), None) if base else None
        return rec.output if rec is not None else None

    def case_future(self, suite: EvalSuite, case: Case, client: ModelClient) -> Any:
        """The (memoised) run of ``case``; the first call starts every selected case of the suite at once."""
        key = (suite.name, case.id)
        if key not in self._futures:
            todo = [c for c in suite.cases() if (suite.name, c.id) not in self._futures
                    and (c.id == case.id or (not self.xdist_worker and (not self.selected or id(c) in self.selected)))]
            for c in todo:
                self._futures[(suite.name, c.id)] = asyncio.run_coroutine_threadsafe(
                    self._run(suite, c, client), self.loop.loop)
        return self._futures[key]

    def record(self, suite: EvalSuite, case: Case, client: ModelClient) -> CaseRecord:
        rec: CaseRecord = self.case_future(suite, case, client).result()
        return rec

    def close(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        if self._loop is not None:
            self._loop.close()
        if self.tracing is not None:
            self.tracing.shutdown()


def load_configured_baseline(config: pytest.Config) -> Baseline | None:
    from experiments.baseline import load_baseline

    given = config.getoption("eval_baseline") or os.environ.get("EVALHARNESS_BASELINE")
    if given == "none":
        return None
    root = Path(config.rootpath).resolve()
    path = resolve(given, root) if given else project_path("baselines_dir", root)
    if not given and not path.exists():
        return None  # this project keeps no baseline in the repository
    run, found = load_baseline(path, branch=config.getoption("eval_baseline_branch"), prefer=default_branches(root))
    return Baseline(run, _shown(found, root), force=bool(config.getoption("eval_baseline_force")))


def _shown(path: Path, root: Path) -> str:
    """``path`` as people read it: relative to the project root when inside it."""
    full, root = Path(path).resolve(), Path(root).resolve()
    return str(full.relative_to(root)) if full.is_relative_to(root) else str(path)


_KEY = pytest.StashKey[EvalRuntime]()
#: Where a repository keeps its baseline run when neither --eval-baseline nor $EVALHARNESS_BASELINE names one
#: (``[tool.evalharness] baselines_dir`` of the project's pyproject.toml overrides it).
DEFAULT_BASELINE = DEFAULTS["baselines_dir"]
#: Set before deepeval is imported (it reads them once): no telemetry, no update check. A value you set wins.
DEEPEVAL_ENV = {"DEEPEVAL_TELEMETRY_OPT_OUT": "1", "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0"}
#: Set to 1 to keep deepeval's own pytest plugin, which the harness blocks (it reports each session home).
DEEPEVAL_PLUGIN_ENV = "EVALHARNESS_DEEPEVAL_PLUGIN"
_ASYNCIO_UNSET = 'The configuration option "asyncio_default_fixture_loop_scope" is unset'
_SUMMARY_DONE = pytest.StashKey[bool]()

for _var, _value in DEEPEVAL_ENV.items():
    os.environ.setdefault(_var, _value)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Block deepeval's pytest plugin, loaded before or after this one (``-p no:deepeval`` without asking)."""
    if os.environ.get(DEEPEVAL_PLUGIN_ENV, "").lower() not in ("1", "true", "yes"):
        pluginmanager.set_blocked("deepeval")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalharness", "LLM eval suites")
    if any("--eval-results" in opt.names() for opt in group.options):
        return  # registered twice: the pytest11 entry point and a conftest's `from experiments.pytest_plugin import *`
    group.addoption("--judge-model", default=None, help="judge model spec (overrides EVALHARNESS_JUDGE_MODEL): "
                    "'local', 'local:/path.gguf' or 'openai:MODEL'")
    group.addoption("--eval-results", default=None, help="folder for the run's results JSON (default: "
                    "[tool.evalharness] results_dir, else results/; relative paths of these options are taken "
                    "from the project root, pytest's rootdir)")
    group.addoption("--eval-baseline", default=None, help="baseline to compare with: a results JSON, or a folder of "
                    "them (the newest run of --eval-baseline-branch); default $EVALHARNESS_BASELINE, else "
                    "[tool.evalharness] baselines_dir (evals/baselines/) when it exists; 'none' to compare with nothing")
    group.addoption("--eval-baseline-branch", default=None, help="branch whose newest run a baseline folder gives "
                    "(default: [tool.evalharness] default_branch, else git's: the remote's HEAD, then the current "
                    "branch, then the only branch with a run)")
    group.addoption("--eval-baseline-force", action="store_true", help="compare even with a baseline of another "
                    "dataset version, judge model or scale (each difference is printed as a warning)")
    group.addoption("--eval-markdown", default=None, help="write a Markdown report (for a PR comment) to this path; "
                    "it is also appended to $GITHUB_STEP_SUMMARY when that is set")
    group.addoption("--eval-judge-evidence", default=None, help="folder of judge meta-evaluations "
                    "(python -m judges meta-eval): a gate on an LLM judge binds only with qualifying evidence "
                    "(default $EVALHARNESS_JUDGE_EVIDENCE, else [tool.evalharness] evidence_dir, evals/judge_evidence/)")
    group.addoption("--eval-redact", action="store_true", default=None, help="mask e-mails, phone numbers, card "
                    "numbers and keys in what the run writes to disk (results, saved baseline, Markdown report) with "
                    "the tracing redactor's rules (default $EVALHARNESS_REDACT_RESULTS)")
    group.addoption("--eval-save-baseline", default=None, help="also write this run's results to this path "
                    "(refreshes a baseline kept in the repository, e.g. evals/baselines/main.json)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if _KEY in config.stash:
        return  # registered twice (see pytest_addoption)
    if config.pluginmanager.hasplugin("asyncio") and not config.getini("asyncio_default_fixture_loop_scope"):
        # pytest-asyncio warns in its own pytest_configure, which runs after this one (an error under
        # filterwarnings = error); the plugin runs no asyncio fixtures of its own
        warnings.filterwarnings("ignore", message=_ASYNCIO_UNSET, category=pytest.PytestDeprecationWarning)
    pin_root(config.rootpath)  # datasets, cache, results: from the project root, whatever the working directory
    os.environ.setdefault("DEEPEVAL_CACHE_FOLDER", str(Path(config.rootpath) / ".deepeval"))
    rt = EvalRuntime(config)
    config.stash[_KEY] = rt
    if os.environ.get("EVALHARNESS_TRACING", "").lower() in ("1", "true", "yes"):
        import tracing

        project = os.environ.get("PHOENIX_PROJECT_NAME") or f"evals-{rt.run_id}"
        rt.tracing = tracing.setup(project=project)
    if not rt.xdist_worker:
        if getattr(config.option, "xmlpath", None):
            # pytest's JUnit writer opens the file with the umask's mode; made here first, it keeps 0600
            private_file(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(
                config.option.xmlpath)))))
        try:
            _ = rt.baseline  # a bad baseline is a usage error before any case runs
        except ExperimentError as exc:
            raise pytest.UsageError(f"eval baseline: {exc}") from exc


def pytest_unconfigure(config: pytest.Config) -> None:
    rt = config.stash.get(_KEY, None)
    if rt is not None:
        del config.stash[_KEY]
        rt.close()
        unpin_root(config.rootpath)


def pytest_collection_finish(session: pytest.Session) -> None:
    rt = session.config.stash[_KEY]
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for v in params.values():
            if isinstance(v, Case):
                rt.selected.add(id(v))


def _runtime(request: pytest.FixtureRequest) -> EvalRuntime:
    return request.config.stash[_KEY]


@pytest.fixture(scope="session")
def judge_client(request: pytest.FixtureRequest) -> ModelClient:
    """The configured judge ModelClient (checked once: an unknown or unreachable model errors here).

    Override this fixture in a conftest to judge with another client (a fake in tests). When the model
    cannot be loaded (a missing optional dependency, an unknown spec), every eval item errors with the
    reason and the fix; other tests of the session still run.
    """
    from judges.errors import JudgeConfigError

    try:
        return _runtime(request).make_client()
    except JudgeConfigError as exc:
        pytest.fail(f"judge model unavailable: {exc}", pytrace=False)


def _fail_message(suite: EvalSuite, rec: CaseRecord) -> str:
    s = rec.scores[0]
    lines = [f"{suite.name}/{rec.case_id}: {s.scorer} score {s.score:.2f} < threshold {s.threshold} ({s.judge_model})"]
    if s.label_probs:
        lines.append(f"  label probabilities ({s.prob_source}): "
                     + ", ".join(f"{k}: {v:.2f}" for k, v in s.label_probs.items()))
    if s.reasoning:
        lines.append(f"  reasoning: {s.reasoning[:300]}")
    if rec.output is not None:
        lines.append(f"  output: {rec.output[:300]!r}")
    return "\n".join(lines)


def _fail(config: pytest.Config, message: str) -> None:
    """``pytest.fail`` without a traceback; under ``--eval-redact`` the message (a case's output, a judge's raw
    reply, a task's error) masked by the tracing redactor first, as the terminal and the JUnit XML show it."""
    if _redacting(config):
        from tracing.redaction import Redactor

        message = Redactor().redact(message)
    pytest.fail(message, pytrace=False)


def _report(request: pytest.FixtureRequest, suite: EvalSuite, rec: CaseRecord) -> None:
    rt = _runtime(request)
    if suite.name not in rt.headers:
        rt.headers[suite.name] = suite_header(suite)
    request.node.user_properties.append((_RECORD, {"header": rt.headers[suite.name],
                                                   "record": rec.model_dump(mode="json")}))


def _judge_for(request: pytest.FixtureRequest, suite: EvalSuite) -> Any:
    """The ``judge_client`` fixture's client when a scorer of ``suite`` uses a model; ``None`` for a suite scored by
    deterministic scorers only, so such a suite never loads (or needs) a judge model."""
    if any(getattr(s, "uses_model", True) for s in suite.all_scorers):
        return request.getfixturevalue("judge_client")
    return None


@pytest.fixture
def evaluate(request: pytest.FixtureRequest) -> Callable[[EvalSuite, Case], CaseRecord]:
    """``evaluate(suite, case)``: run the task, score it, record it; fail on a task error, a judge failure
    of the primary scorer, or a primary score below the suite's threshold. Never a silent score."""
    rt = _runtime(request)

    def _evaluate(suite: EvalSuite, case: Case) -> CaseRecord:
        rec = rt.record(suite, case, _judge_for(request, suite))
        _report(request, suite, rec)
        primary = rec.score_of()
        if primary is not None and primary.score is not None:
            request.node.user_properties.append(("score", round(primary.score, 4)))
        for t in (rec.task, rec.task_b):
            if t is not None and t.error is not None:
                _fail(request.config, f"{suite.name}/{case.id}: task error: {t.error}")
        if primary is not None and primary.failure is not None:
            _fail(request.config, f"{suite.name}/{case.id}: judge failure ({primary.scorer}): {primary.failure}\n"
                  f"  raw reply: {primary.raw[:500]!r}")
        if primary is not None and primary.passed is False:
            _fail(request.config, _fail_message(suite, rec))
        return rec

    return _evaluate


@pytest.fixture
def evaluate_suite(request: pytest.FixtureRequest) -> Callable[[EvalSuite], SuiteRecord | None]:
    """``evaluate_suite(suite)``: the suite's gate over every case (each case runs once per process).

    Under xdist the cases are spread over workers, so a worker defers the gate to the controller, which
    decides it over all cases at the end and fails the session when it fails.
    """
    rt = _runtime(request)

    def _evaluate_suite(suite: EvalSuite) -> SuiteRecord | None:
        header = rt.headers.setdefault(suite.name, suite_header(suite))
        request.node.user_properties.append((_HEADER, {"header": header}))
        if rt.xdist_worker:
            return None
        client = _judge_for(request, suite)
        futures = [rt.case_future(suite, c, client) for c in suite.cases()]
        records = [f.result() for f in futures]
        for rec in records:
            request.node.user_properties.append((_RECORD, {"header": header, "record": rec.model_dump(mode="json")}))
        try:
            srec = suite_record(header, records, baseline=rt.baseline, judge_model=rt.judge_model,
                                evidence=rt.evidence)
        except ExperimentError as exc:
            pytest.fail(f"suite {suite.name}: {exc}", pytrace=False)
        gate = srec.summary.gate
        if gate is not None and gate.passed is False:
            request.node.user_properties.append((_GATE, {"suite": suite.name}))
            # the table and the regressed cases are printed once, in the eval summary at the end of the session
            pytest.fail("\n".join(textwrap.wrap(f"suite {suite.name} failed its gate: {gate.reason}", width=WIDTH,
                                                 subsequent_indent="  ", break_on_hyphens=False))
                        + "\n  (the eval summary at the end shows the scores and the regressed cases)", pytrace=False)
        return srec

    return _evaluate_suite


_CURRENT: dict[str, EvalRuntime] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CURRENT["rt"] = session.config.stash[_KEY]


def _redacting(config: pytest.Config) -> bool:
    """``--eval-redact`` (or ``$EVALHARNESS_REDACT_RESULTS``): mask what the run writes and prints."""
    return bool(config.getoption("eval_redact")) or os.environ.get("EVALHARNESS_REDACT_RESULTS", "").lower() in (
        "1", "true", "yes")


@pytest.hookimpl(tryfirst=True)  # before pytest's JUnit writer and terminal reporter read the report
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    rt = _CURRENT.get("rt")
    if rt is None:
        return
    if report.when == "call":
        _collect(rt, report)
    if not rt.xdist_worker and _redacting(rt.config):
        _redact_report(report)


def _redact_report(report: pytest.TestReport) -> None:
    """Under ``--eval-redact``: the report's properties (the JUnit XML's ``<property>`` values: whole case records)
    masked by the tracing redactor, identifiers as ``Redactor.redact_tree`` masks them, and a failure given as
    plain text. (The plugin's own failure messages are masked where they are raised: ``_fail``.)"""
    from tracing.redaction import Redactor

    red = Redactor()
    report.user_properties = [(name, red.redact_tree(value)) for name, value in report.user_properties]
    if isinstance(report.longrepr, str):
        report.longrepr = red.redact(report.longrepr)


def _collect(rt: EvalRuntime, report: pytest.TestReport) -> None:
    for name, raw in report.user_properties:
        value: dict[str, Any] = raw  # type: ignore[assignment]
        if name in (_RECORD, _HEADER):
            header = value["header"]
            rt.headers.setdefault(header["suite"], header)
            if name == _HEADER:
                rt.gate_tested.add(header["suite"])
            else:
                rec = CaseRecord.model_validate(value["record"])
                rt.records[header["suite"]][rec.case_id] = rec
        elif name == _GATE:
            rt.gate_failed.add(value["suite"])


def _build_run(rt: EvalRuntime) -> RunRecord:
    suites = []
    for name, header in rt.headers.items():
        by_id = rt.records.get(name, {})
        order = {c: i for i, c in enumerate(by_id)}
        records = sorted(by_id.values(), key=lambda r: order[r.case_id])
        if not records:
            continue
        suites.append(suite_record(header, records, baseline=rt.baseline, judge_model=rt.judge_model,
                                   evidence=rt.evidence))
    return RunRecord(run_id=rt.run_id, started=rt.started, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     git=git_info(rt.config.rootpath), harness_version=harness_version(),
                     judge_model=rt.judge_model or _judge_model_of(rt),
                     baseline=rt.baseline.source if rt.baseline else None, suites=suites)


def _judge_model_of(rt: EvalRuntime) -> str:
    models = {s.judge_model for recs in rt.records.values() for r in recs.values() for s in r.scores
              if s.kind == "judge" and s.judge_model}
    return ",".join(sorted(models))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rt = session.config.stash.get(_KEY, None)
    if rt is None or rt.xdist_worker or not rt.records or rt.run is not None:
        return
    try:
        rt.run = _build_run(rt)
    except ExperimentError as exc:
        session.config.stash[_ERROR] = str(exc)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    # a gate test that a worker deferred (xdist) is decided here, over every worker's cases
    late = [s.suite for s in rt.run.suites if s.summary.gate and s.summary.gate.passed is False
            and s.suite in rt.gate_tested and s.suite not in rt.gate_failed]
    if late:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config.stash[_LATE] = late
    if rt.tracing is not None:
        note = _annotate(rt)
        if note is not None:
            session.config.stash[_ANNOTATIONS] = note


_ERROR = pytest.StashKey[str]()
_LATE = pytest.StashKey[list[str]]()
_ANNOTATIONS = pytest.StashKey[str]()


def _annotate(rt: EvalRuntime) -> str | None:
    """Write each primary verdict onto its task span in Phoenix (named for the criterion, identifier ``ci``).

    Returns why they could not be written, or None. Nothing here ends the session: annotations are a convenience,
    the results file (written after this) is the record.
    """
    import logging

    import tracing

    assert rt.run is not None
    anns = []
    for s in rt.run.suites:
        for c in s.cases:
            sc = c.score_of()
            if c.task is None or c.task.span_id is None or sc is None:
                continue
            anns.append(sc.annotation(c.task.span_id, source="ci", metadata={"run_id": rt.run.run_id,
                                                                               "suite": s.suite, "case_id": c.case_id,
                                                                               "trace_id": c.task.trace_id}))
    if not anns:
        return None
    # Phoenix stores exported spans asynchronously and answers 404 for a span it has not stored yet: the writer
    # retries for a bounded time; then the failure is recorded and said in the eval summary. The writer also emits
    # each verdict as an OTel evaluation event; one that does not arrive is said the same way.
    events: list[str] = []
    try:
        rt.tracing.force_flush(30)
        tracing.annotate_spans(anns, endpoint=rt.tracing.endpoint, retry_for_s=30.0, on_events_problem=events.append)
    except Exception as exc:  # noqa: BLE001 - any failure of the write-back, never the end of the session
        note = f"{len(anns)} eval annotations not written to Phoenix: {type(exc).__name__}: {exc}"
        logging.getLogger(__name__).warning("%s", note)
        return "; ".join([note, *events])
    return "; ".join(events) or None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rt = config.stash.get(_KEY, None)
    tr = terminalreporter
    if rt is None or rt.xdist_worker or config.stash.get(_SUMMARY_DONE, False):
        return
    config.stash[_SUMMARY_DONE] = True
    if _ERROR in config.stash:
        tr.write_sep("=", "eval summary")
        tr.write_line(f"ERROR: {config.stash[_ERROR]}")
        return
    run = rt.run
    if run is None:
        return
    tr.write_sep("=", "eval summary")
    tr.write_line(f"95% bootstrap CIs; Δ = this run − baseline, paired by case; {GATE_MARK} marks the scorer the gate "
                  "decides on")
    tr.write_line(format_table(run.suites, width=WIDTH))
    limit = rt.client.concurrency() if rt.client is not None else None
    if limit is not None and rt.client is not None:  # an adaptive client against a server: where it settled
        st = rt.client.stats
        tr.write_line(f"judge concurrency settled at {limit.settled:.1f} (adaptive, {limit.low}-{limit.high} of "
                      f"{rt.client.max_concurrency}); timeouts {st.timeouts}, retries {st.retries}")
    if _redacting(config):
        run = rt.run = redact_run(run)  # everything written below is the masked record
        tr.write_line("results redacted (--eval-redact): e-mails, phones, card numbers and keys masked")
    for suite in config.stash.get(_LATE, []):
        tr.write_line(f"suite {suite} failed its gate (decided over all workers' cases)")
    root = Path(config.rootpath)
    given = config.getoption("eval_results")
    out_dir = resolve(given, root) if given else project_path("results_dir", root)
    path = write_run(run, out_dir / f"{run.run_id}.json")
    write_run(run, out_dir / "latest.json")
    tr.write_line(f"results: {_shown(path, root)}")
    if _ANNOTATIONS in config.stash:
        tr.write_line(f"warning: {config.stash[_ANNOTATIONS]}")
    if save := config.getoption("eval_save_baseline"):
        tr.write_line(f"baseline saved: {_shown(write_run(run, resolve(save, root)), root)}")
    md_path = config.getoption("eval_markdown") and resolve(config.getoption("eval_markdown"), root)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if md_path or summary_path:
        md = format_markdown(run)
        if md_path:
            write_private_text(md_path, md)  # 0600: the regressed cases' text
            tr.write_line(f"markdown report: {_shown(md_path, root)}")
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as fh:
                fh.write(md)
