"""One pull-request comment with the eval report, posted once and updated on every later run.

``python -m experiments comment --report eval-report.md`` (the scaffolded workflow's last step) finds the
comment this tool wrote earlier by a hidden marker and PATCHes it, else POSTs a new one. It reads the
repository from ``GITHUB_REPOSITORY``, the pull request from ``--pr``, ``PR_NUMBER`` or the event file
(``GITHUB_EVENT_PATH``), the token from ``GITHUB_TOKEN`` and the API from ``GITHUB_API_URL`` (GitHub sets
all of them in Actions; a test points the URL at a local fake).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.errors import ExperimentError

__all__ = ["MARKER", "CommentError", "CommentTarget", "post_or_update", "target_from_env"]

#: Hidden in the comment's body; how a later run finds the comment to update.
MARKER = "<!-- evalharness:eval-report -->"
#: GitHub refuses a comment body over this many characters.
MAX_BODY = 65_536


class CommentError(ExperimentError):
    """The comment could not be posted: a missing setting, or the API refused."""


@dataclass(frozen=True)
class CommentTarget:
    api_url: str
    repository: str  # owner/name
    pr: int
    token: str


def target_from_env(pr: int | None = None, env: dict[str, str] | None = None) -> CommentTarget:
    """Where to comment, from the Actions environment (``pr`` overrides the pull request's number)."""
    e = os.environ if env is None else env
    repo = e.get("GITHUB_REPOSITORY", "")
    if "/" not in repo:
        raise CommentError("GITHUB_REPOSITORY (owner/name) is not set; GitHub Actions sets it")
    token = e.get("GITHUB_TOKEN", "")
    if not token:
        raise CommentError("GITHUB_TOKEN is not set; pass `env: {GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}}` "
                           "to the step (the job needs `permissions: pull-requests: write`)")
    number: Any = pr or e.get("PR_NUMBER")
    if not number and e.get("GITHUB_EVENT_PATH"):
        try:
            event = json.loads(Path(e["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommentError(f"cannot read the event file {e['GITHUB_EVENT_PATH']}: {exc}") from exc
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
    try:
        pr_number = int(number)
    except (TypeError, ValueError):
        raise CommentError("no pull request number: pass --pr N or set PR_NUMBER (the workflow sets it from "
                           "github.event.pull_request.number)") from None
    api = (e.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    return CommentTarget(api, repo, pr_number, token)


def _call(t: CommentTarget, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        t.api_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {t.token}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json",
                 "User-Agent": "evalharness"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise CommentError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CommentError(f"{method} {t.api_url}{path}: {exc}") from exc


def _find(t: CommentTarget) -> int | None:
    """The id of the comment a previous run wrote (the first one carrying the marker), if any."""
    page = 1
    while True:
        comments = _call(t, "GET", f"/repos/{t.repository}/issues/{t.pr}/comments?per_page=100&page={page}")
        for c in comments or []:
            if MARKER in (c.get("body") or ""):
                return int(c["id"])
        if not comments or len(comments) < 100:
            return None
        page += 1


def body_of(report: str) -> str:
    """The comment's body: the marker, then the report (cut to GitHub's limit, saying so)."""
    room = MAX_BODY - len(MARKER) - 200
    if len(report) > room:
        report = report[:room] + "\n\n… report cut to GitHub's comment size limit; the full report is the job's artifact."
    return f"{MARKER}\n{report}"


def post_or_update(report: str, target: CommentTarget) -> tuple[str, int]:
    """Update this tool's earlier comment on the pull request, else create it: ("updated" | "created", id)."""
    body = body_of(report)
    found = _find(target)
    if found is not None:
        _call(target, "PATCH", f"/repos/{target.repository}/issues/comments/{found}", {"body": body})
        return "updated", found
    made = _call(target, "POST", f"/repos/{target.repository}/issues/{target.pr}/comments", {"body": body})
    return "created", int(made["id"])
