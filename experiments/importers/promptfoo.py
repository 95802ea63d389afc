"""Import a promptfoo config (``promptfooconfig.yaml``): its prompts and test ``vars`` become the dataset (one case
per prompt and test, the prompt rendered with the test's vars) and a suite whose task answers the prompt.

Deterministic assertions (``equals``, ``contains``, ``icontains``, ``regex``, ``starts-with``, ``is-json``,
``contains-json``, ``similar``, and their ``not-`` forms) travel with each case and are checked by
:class:`PromptfooAsserts`; ``llm-rubric``, ``factuality`` and ``model-graded-closedqa`` become
:class:`ChoiceJudge`s with their thresholds. Every other assertion type, provider option or config key is
reported by name as not imported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from experiments.importers._scorers import CHECKS
from experiments.importers._write import ImportReport, SuiteImportError, read_yaml, write_suite

MODEL_GRADED = {  # type -> (prompt constant, choices, the prompt field its value fills)
    "llm-rubric": ("RUBRIC_PROMPT", {"Y": 1.0, "N": 0.0}, "criteria"),
    "model-graded-closedqa": ("CLOSEDQA_PROMPT", {"Y": 1.0, "N": 0.0}, "criteria"),
    "factuality": ("FACT_PROMPT", {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 1.0}, "ideal"),
}
DETERMINISTIC = {*CHECKS, "similar"}
KNOWN_KEYS = {"description", "prompts", "providers", "tests", "defaultTest"}
_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


def render(template: str, variables: dict[str, Any]) -> str:
    """A promptfoo (Nunjucks) prompt with ``{{ var }}`` filled; filters and tags are refused by name."""
    if "{%" in template or re.search(r"\{\{[^}]*\|", template):
        raise SuiteImportError(f"prompt {template[:60]!r} uses Nunjucks filters or tags, which are not imported; "
                           "render it in your task instead")
    missing = sorted({m for m in _VAR.findall(template) if m not in variables})
    if missing:
        raise SuiteImportError(f"prompt {template[:60]!r} uses {missing}, which a test's vars do not set")
    return _VAR.sub(lambda m: str(variables[m.group(1)]), template)


def _prompts(config: dict[str, Any], base: Path, report: ImportReport) -> list[str]:
    raw = config.get("prompts")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    out = []
    for p in items:
        text = p.get("raw") if isinstance(p, dict) else p
        if not isinstance(text, str):
            report.unsupported.append(f"prompt {p!r}: not a text prompt; write it as text")
            continue
        if text.startswith("file://"):
            f = base / text.removeprefix("file://")
            if f.suffix not in (".txt", ".md", "") or not f.exists():
                report.unsupported.append(f"prompt {text}: only existing .txt/.md prompt files are read")
                continue
            text = f.read_text(encoding="utf-8")
        out.append(text)
    if not out:
        raise SuiteImportError("the config has no text prompt to import (prompts: [...])")
    return out


def import_promptfoo(path: Path, root: Path, *, task: str = "local", name: str | None = None,
                     force: bool = False) -> ImportReport:
    """Import the promptfoo config at ``path`` into the project at ``root``; returns what was done."""
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise SuiteImportError(f"{path} is not a promptfoo config (a mapping with prompts and tests)")
    title = name or str(config.get("description") or path.parent.name or "promptfoo")
    report = ImportReport(source=str(path), name=title)
    for key in sorted(set(config) - KNOWN_KEYS):
        report.unsupported.append(f"config key {key!r}: no equivalent in a suite")
    for prov in config.get("providers") or []:
        pid = prov if isinstance(prov, str) else (prov or {}).get("id")
        report.notes.append(f"provider {pid!r}: the suite's task answers instead (--task; here {task!r})")
    prompts = _prompts(config, path.parent, report)
    tests = config.get("tests") or []
    if isinstance(tests, str):
        raise SuiteImportError(f"tests: {tests!r} (a file of tests) is not imported; list the tests in the config")
    default = config.get("defaultTest") or {}
    rows, per_test_asserts = [], []
    for j, test in enumerate(tests):
        variables = {**(default.get("vars") or {}), **(test.get("vars") or {})}
        asserts = []
        for a in [*(default.get("assert") or []), *(test.get("assert") or [])]:
            kind = str(a.get("type", ""))
            base = kind.removeprefix("not-")
            if base in DETERMINISTIC or kind in MODEL_GRADED:
                asserts.append({k: a[k] for k in ("type", "value", "threshold") if k in a})
            else:
                report.unsupported.append(f"assert type {kind!r} (test {j + 1}): no equivalent; write a scorer")
        per_test_asserts.append(asserts)
        for i, prompt in enumerate(prompts):
            rows.append({"id": f"p{i + 1}-t{j + 1}", "question": render(prompt, variables),
                         "reference": json.dumps({"assert": asserts}, ensure_ascii=False)})
    scorers, names = [], set()
    if any(a["type"].removeprefix("not-") in DETERMINISTIC for t in per_test_asserts for a in t):
        scorers.append("PromptfooAsserts()")
        names.add("PromptfooAsserts")
        kinds = sorted({a["type"] for t in per_test_asserts for a in t if a["type"] not in MODEL_GRADED})
        report.imported.append(f"{', '.join(kinds)} -> PromptfooAsserts() (all must hold; threshold 1.0)")
    for kind, (prompt_const, choices, fills) in MODEL_GRADED.items():
        carriers = [j for j, t in enumerate(per_test_asserts) if any(a["type"] == kind for a in t)]
        if not carriers:
            continue
        lacking = [j + 1 for j in range(len(per_test_asserts)) if j not in carriers]
        if lacking:
            report.unsupported.append(f"assert type {kind!r} on some tests only (tests without it: {lacking}); "
                                      "a judge scores every case: put it in defaultTest or split the config")
            continue
        thresholds = {a.get("threshold") for t in per_test_asserts for a in t if a["type"] == kind}
        pass_at = next(iter(thresholds)) if len(thresholds) == 1 else None
        if len(thresholds) > 1:
            report.notes.append(f"{kind}: tests give different thresholds {sorted(map(str, thresholds))}; "
                                "the verdict keeps its score and no pass label")
        criterion = kind.replace("-", "_")
        scorers.append(f"ImportedChoiceJudge({criterion!r}, {prompt_const}, {tuple(choices.items())!r}, "
                       f"from_assert={kind!r}, fills={fills!r}, pass_at={pass_at!r})")
        names |= {"ImportedChoiceJudge", prompt_const}
        report.imported.append(f"{kind} -> ChoiceJudge {criterion!r} with choices {choices}"
                               + (f", pass at {pass_at}" if pass_at is not None else ""))
    if not scorers:
        raise SuiteImportError(f"nothing scorable imported from {path}:\n  " + "\n  ".join(report.unsupported))
    write_suite(root, name=title, source=str(path), source_kind="promptfoo",
                doc=f"{title}: imported from a promptfoo config ({len(prompts)} prompt(s) x {len(tests)} test(s)).",
                rows=rows, scorers=scorers, imports=["from experiments.importers import " + ", ".join(sorted(names))],
                task=task, threshold=1.0 if scorers[0] == "PromptfooAsserts()" else 0.5, force=force, report=report)
    return report
