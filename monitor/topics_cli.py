"""``python -m monitor topics``: fit the topic model, report a window by topic, export a topic as a dataset.

    python -m monitor topics fit    --config monitor.toml --since 30d      # or --log logs/prod.jsonl, --dataset F
    python -m monitor topics report --config monitor.toml                  # the last [quality] current window
    python -m monitor topics export --config monitor.toml --topic 3 --failing helpfulness --out datasets/t3.jsonl

The model is ``[topics] model`` (default ``<state_dir>/topics.json``); a fit over an existing model is a refit
that keeps the ids and names of the topics it finds again. Exit 0 ok; 1 when ``report`` finds a topic whose share
moved or a candidate new topic; 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError, MonitorError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    topics = sub.add_parser("topics", help="what traffic is about: fit topics, report a window by topic, export one")
    verbs = topics.add_subparsers(dest="verb", required=True)
    for verb, text in (("fit", "fit (or refit) the topic model on a period of traffic"),
                       ("report", "assign a window to the topics: shares, quality, new topics"),
                       ("export", "a topic's traces as a JSONL dataset a suite loads (kind qa)")):
        p = verbs.add_parser(verb, help=text)
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", help="monitor.toml: its [source], scores table, review store, [topics]")
        where.add_argument("--log", help="a production log (.jsonl or .parquet) instead of a config")
        where.add_argument("--dataset", help="a JSONL dataset instead of a config (text from --field)")
        p.add_argument("--field", default=None, help="--dataset: the text field (default: question, input or prompt)")
        p.add_argument("--model", help="the topic model file (default: [topics] model, else "
                                       "<state_dir>/topics.json, else .evalharness/topics.json)")
        p.add_argument("--since", help="from this time (ISO 8601, or a duration ago: 7d)")
        p.add_argument("--until", help="up to this time (ISO 8601, or a duration ago)")
        if verb == "fit":
            p.add_argument("--min-size", type=int, help="fewest inputs in a topic (default 10)")
            p.add_argument("--merge-distance", type=float, help="cosine distance at which groups stop merging "
                                                                "(default 0.55; larger: fewer, broader topics)")
            p.add_argument("--fresh", action="store_true", help="fit anew: forget the stored model's ids")
            p.add_argument("--name-with-judge", action="store_true",
                           help="also ask the [judge] model (--config) for a short label per new topic")
        if verb == "report":
            p.add_argument("--out", help="folder for topics.json and topics.html (default: the reports folder)")
        if verb == "export":
            p.add_argument("--topic", type=int, required=True, help="the topic id (-1: the outliers)")
            p.add_argument("--failing", metavar="EVALUATOR", help="only traces this evaluator failed")
            p.add_argument("--out", required=True, help="the JSONL dataset to write (kind qa)")


@dataclass
class _Setup:
    rows: list[Any]
    model_path: Path
    source: str
    config: Any = None


def _load_rows(args: argparse.Namespace, since: datetime, until: datetime) -> _Setup:
    from monitor.config import load_config
    from monitor.runner import source_for
    from monitor.sources import LogSource, TraceRow

    if args.dataset:
        path = Path(args.dataset)
        if not path.is_file():
            raise ConfigError(f"dataset {path} does not exist")
        rows = []
        from judges.datasets import jsonl_lines

        for n, data in jsonl_lines(path.read_text(encoding="utf-8")):
            if isinstance(data, json.JSONDecodeError):
                raise ConfigError(f"{path}:{n}: not valid JSON ({data.msg}); fix the line") from data
            field = args.field or next((f for f in ("question", "input", "prompt", "text") if f in data), None)
            if field is None or not isinstance(data.get(field), str):
                raise ConfigError(f"{path}:{n}: no text field {args.field or '(question, input, prompt, text)'}; "
                                  "name it with --field")
            key = str(data.get("id", n))
            stamp = min(until, datetime.now(UTC))  # a dataset has no time: its rows are "now"
            rows.append(TraceRow(key, key, None, stamp, data[field], str(data.get("answer") or ""), data))
        return _Setup(rows, Path(args.model or ".evalharness/topics.json"), str(path))
    if args.log:
        source: Any = LogSource(args.log)
        model_path = Path(args.model or ".evalharness/topics.json")
        config = None
    else:
        config = load_config(args.config)
        source = source_for(config)
        model_path = Path(args.model or config.topics.model or Path(config.state_dir) / "topics.json")
    rows = [r for page in source.pages(since, until) for r in page.rows]
    return _Setup(rows, model_path, source.name, config)


def _texts(rows: Sequence[Any]) -> list[str]:
    from tracing.production_log import user_text

    return [user_text(r.prompt) for r in rows]


def run(args: argparse.Namespace, now: datetime, when: Any) -> int:
    """The ``topics`` command; ``when`` parses --since/--until."""
    from monitor.topics import TopicModel, TopicParams, embed_texts, fit_topics, new_topic_candidates

    try:
        default_span = timedelta(days=30) if args.verb == "fit" else None
        # a log or dataset is read whole unless told otherwise (a demo log may be stamped ahead of the clock)
        whole = bool(args.log or args.dataset)
        until = when(args.until, now) if args.until else (datetime(9999, 1, 1, tzinfo=UTC) if whole else now)
        if args.since:
            since = when(args.since, now)
        elif whole:
            since = datetime(1970, 1, 1, tzinfo=UTC)
        else:
            from monitor.config import load_config

            since = until - (default_span or load_config(args.config).quality.current)
        setup = _load_rows(args, since, until)
    except MonitorError as exc:
        print(f"topics: ERROR {exc}", file=sys.stderr)
        return 2
    if not setup.rows:
        print(f"topics: ERROR no rows with a prompt in {setup.source} over [{since.isoformat()}, "
              f"{until.isoformat()}); widen --since", file=sys.stderr)
        return 2
    texts = _texts(setup.rows)
    if args.verb == "fit":
        previous = None
        if setup.model_path.exists() and not args.fresh:
            try:
                previous = TopicModel.load(setup.model_path)
            except ConfigError as exc:
                print(f"topics: ERROR {exc} (or pass --fresh)", file=sys.stderr)
                return 2
        base = previous.params if previous is not None else _params_from(setup.config)
        overrides = {k: v for k, v in (("min_size", args.min_size), ("merge_distance", args.merge_distance))
                     if v is not None}
        namer = None
        if args.name_with_judge:
            if setup.config is None:
                print("topics: ERROR --name-with-judge needs --config (its [judge] model)", file=sys.stderr)
                return 2
            from monitor.runner import make_client
            from monitor.topics import judge_namer

            namer = judge_namer(make_client(setup.config))
        try:
            params = TopicParams(**{**base.__dict__, **overrides})
            model = fit_topics(texts, embed_texts(texts), params=params, previous=previous, source=setup.source,
                               namer=namer)
        except MonitorError as exc:
            print(f"topics: ERROR {exc}", file=sys.stderr)
            return 2
        if not model.topics:
            print(f"topics: ERROR no group of at least {model.params.min_size} similar inputs among {model.n_fit}; "
                  "lower --min-size or raise --merge-distance (coarser topics); nothing written", file=sys.stderr)
            return 2
        model.save(setup.model_path)
        print(f"topics: fitted {len(model.topics)} topics on {model.n_fit} inputs (outliers "
              f"{model.outlier_share:.1%}), model v{model.version} -> {setup.model_path}")
        if model.history:
            h = model.history[-1]
            print(f"topics: refit kept {len(h['kept'])} topic ids, {len(h['new'])} new, {len(h['retired'])} retired")
        for t in sorted(model.topics, key=lambda t: -t.size):
            print(f"{t.id:>4}  {t.title[:40]:<40} {t.size:>6} {t.share:>6.1%}  e.g. {t.examples[0][:60]!r}"[:120])
        return 0
    try:
        model = TopicModel.load(setup.model_path)
    except ConfigError as exc:
        print(f"topics: ERROR {exc}", file=sys.stderr)
        return 2
    vectors = embed_texts(texts)
    assigned = model.assign(vectors)
    if args.verb == "export":
        return _export(args, setup, model, assigned, since, until)
    from monitor.topic_report import topics_report, write_topics

    candidates = new_topic_candidates(model, texts, vectors, assigned)
    scores, pass_at, labels = _quality_inputs(setup.config, since, until)
    if args.log or args.dataset:  # read whole: the window is the data's own first and last time
        since = min(r.timestamp for r in setup.rows)
        until = max(r.timestamp for r in setup.rows)
    report = topics_report(model, setup.rows, assigned, start=since.isoformat(), end=until.isoformat(),
                           scores=scores, pass_at=pass_at, labels=labels, candidates=candidates,
                           evaluators=setup.config.evaluator if setup.config is not None else ())
    for line in report.lines():
        print(line)
    folder = Path(args.out) if args.out else (
        Path(setup.config.reports_dir) if setup.config is not None else Path("reports")) / "topics"
    paths = write_topics(report, folder)
    print(report.line())
    print(f"topics: report {paths['html']}")
    return 1 if report.candidates or report.changed() else 0


def _params_from(config: Any) -> Any:
    from monitor.topics import TopicParams

    if config is None:
        return TopicParams()
    t = config.topics
    return TopicParams(min_size=t.min_size, merge_distance=t.merge_distance, fit_sample=t.fit_sample)


def _quality_inputs(config: Any, since: datetime, until: datetime) -> tuple[Any, dict[str, float], list[Any]]:
    """The window's verdicts from the scores table, each evaluator's pass threshold, the review labels."""
    if config is None:
        return None, {}, []
    from monitor.scores import ScoresTable

    scores = ScoresTable(config.scores_path).frame(since, until)
    pass_at = {ev.name: ev.pass_at for ev in config.evaluator}
    labels: list[Any] = []
    if config.review.store:
        from review import ReviewStore

        store = ReviewStore(config.review.store)
        try:
            labels = list(store.labels())
        finally:
            store.close()
    return scores, pass_at, labels


def _export(args: argparse.Namespace, setup: _Setup, model: Any, assigned: Any, since: datetime,
            until: datetime) -> int:
    from monitor.topics import OUTLIER

    if args.topic != OUTLIER and args.topic not in {t.id for t in model.topics}:
        print(f"topics: ERROR no topic {args.topic}; ids: {sorted(t.id for t in model.topics)} (-1: outliers)",
              file=sys.stderr)
        return 2
    picked = [r for r, tid in zip(setup.rows, assigned.tolist(), strict=True) if tid == args.topic]
    if args.failing:
        if setup.config is None:
            print("topics: ERROR --failing needs --config (the scores table)", file=sys.stderr)
            return 2
        scores, pass_at, _ = _quality_inputs(setup.config, since, until)
        if args.failing not in pass_at:
            print(f"topics: ERROR no evaluator {args.failing!r}; evaluators: {sorted(pass_at)}", file=sys.stderr)
            return 2
        mine = scores[(scores["evaluator"] == args.failing) & scores["score"].notna()]
        failed = set(mine.loc[mine["score"] < pass_at[args.failing], "key"])
        picked = [r for r in picked if r.key in failed]
    name = model.name_of(args.topic)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    texts = _texts(picked)
    with out.open("w", encoding="utf-8") as fh:
        for r, text in zip(picked, texts, strict=True):
            row = {"id": f"prod-{r.key}", "question": text, "tags": [f"topic:{name}", "production"]}
            if r.response:
                row["answer"] = r.response
            if isinstance(r.value("model"), str):
                row["model"] = r.value("model")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    what = f" that {args.failing} failed" if args.failing else ""
    print(f"topics: wrote {len(picked)} traces of topic {args.topic} ({name}){what} to {out} "
          "(kind qa: a suite loads it with dataset=..., kind='qa')")
    return 0
