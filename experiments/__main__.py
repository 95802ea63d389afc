"""``python -m experiments``: ``init`` scaffolds evals into a repository; ``comment`` posts the PR report.

    python -m experiments init [PATH] [--force]     # evals/, datasets/, pyproject settings, the CI workflow
    python -m experiments comment --report eval-report.md [--pr N]
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
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
