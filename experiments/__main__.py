"""``python -m experiments``: ``init`` scaffolds evals into a repository; ``comment`` posts the PR report.

    python -m experiments init [PATH] [--force]     # evals/, datasets/, pyproject settings, the CI workflow
    python -m experiments comment --report eval-report.md [--pr N]
    python -m experiments import openai-evals registry/evals/NAME.yaml [--task myapp:answer]
    python -m experiments import openai-evals eval.json --items items.jsonl [--input-field question]
    python -m experiments import promptfoo promptfooconfig.yaml [--task myapp:answer]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _init(args: argparse.Namespace) -> int:
    from experiments.scaffold import scaffold

    root = Path(args.path).resolve()
    written = scaffold(root, force=args.force, branch=args.branch)
    print(f"scaffold in {root}:")
    for w in written:
        print("  " + w.line(root))
    skipped = [w for w in written if w.action == "skipped"]
    if skipped:
        print(f"{len(skipped)} file(s) kept as they were; pass --force to overwrite them")
    print("next: replace the stub in evals/example_task.py with your application, then run `pytest`;\n"
          "commit, and the workflow .github/workflows/evals.yml gates every pull request")
    return 0


def _comment(args: argparse.Namespace) -> int:
    from experiments.github_comment import CommentError, post_or_update, target_from_env

    try:
        report = Path(args.report).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read the report {args.report}: {exc}", file=sys.stderr)
        return 2
    try:
        target = target_from_env(args.pr)
        action, comment_id = post_or_update(report, target)
    except CommentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment_id} on {target.repository}#{target.pr}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from experiments.importers import (
        SuiteImportError,
        import_hosted_eval,
        import_openai_evals,
        import_promptfoo,
    )

    root, path = Path(args.root).resolve(), Path(args.path)
    try:
        if args.source == "openai-evals" and path.suffix == ".json":
            if not args.items:
                print("error: a hosted OpenAI Evals definition (.json) needs --items ITEMS.jsonl", file=sys.stderr)
                return 2
            report = import_hosted_eval(path, Path(args.items), root, input_field=args.input_field, task=args.task,
                                        force=args.force)
        elif args.source == "openai-evals":
            report = import_openai_evals(path, root, eval_name=args.eval, task=args.task, force=args.force,
                                         data_dir=Path(args.data_dir) if args.data_dir else None)
        else:
            report = import_promptfoo(path, root, task=args.task, name=args.eval, force=args.force)
    except SuiteImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines(root)))
    if report.unsupported:
        print(f"{len(report.unsupported)} construct(s) not imported (listed above); the suite runs without them")
    print("next: `pytest evals/` runs it; `--eval-save-baseline evals/baselines/main.json` keeps the baseline")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write evals/, a dataset, the pytest settings and a GitHub workflow")
    init.add_argument("path", nargs="?", default=".", help="the repository's root (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite files the scaffold would write")
    init.add_argument("--branch", default=None, help="the default branch the workflow runs on (default: from git)")
    init.set_defaults(fn=_init)
    comment = sub.add_parser("comment", help="post or update the pull request's eval-report comment")
    comment.add_argument("--report", required=True, help="the Markdown report (pytest --eval-markdown PATH)")
    comment.add_argument("--pr", type=int, default=None, help="pull request number (default: PR_NUMBER or the event)")
    comment.set_defaults(fn=_comment)
    imp = sub.add_parser("import", help="turn an openai/evals registry eval or a promptfoo config into a suite")
    imp.add_argument("source", choices=("openai-evals", "promptfoo"), help="what the file is")
    imp.add_argument("path", help="the registry YAML (openai-evals) or promptfooconfig.yaml")
    imp.add_argument("--root", default=".", help="the project to write datasets/ and evals/ into (default: here)")
    imp.add_argument("--task", default="local",
                     help="module:function of your application, or a model spec answering the prompt (default: local)")
    imp.add_argument("--eval", default=None, help="which eval of a registry file with several (or the suite's name)")
    imp.add_argument("--data-dir", default=None, help="where samples_jsonl paths start (openai/evals: registry/data)")
    imp.add_argument("--items", default=None, help="a hosted eval's items JSONL (with an eval object .json)")
    imp.add_argument("--input-field", default=None, help="the hosted items' field the task answers (default: "
                     "input, question or prompt)")
    imp.add_argument("--force", action="store_true", help="overwrite the dataset and suite files")
    imp.set_defaults(fn=_import)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
