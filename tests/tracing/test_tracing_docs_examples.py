"""The span filters the docs show name suites and cases that exist in the example evals (evals/, datasets/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = re.compile(r'EvalSuite\(\s*(?:name=)?"([^"]+)",\s*(?:dataset=)?"([^"]+)"')
FILTER_SUITE = re.compile(r"""eval\.suite['"]?\s*(?:==|:)\s*['"]([^'"]+)['"]""")
FILTER_CASE = re.compile(r"""eval\.case_id['"]?\s*(?:==|:)\s*['"]([^'"]+)['"]""")


def _example_cases() -> dict[str, set[str]]:
    cases: dict[str, set[str]] = {}
    for path in (REPO / "evals").glob("test_*.py"):
        for name, dataset in SUITE.findall(path.read_text()):
            rows = (REPO / "datasets" / dataset).read_text().splitlines()
            cases[name] = {json.loads(r)["id"] for r in rows if r.strip()}
    return cases


def test_docs_filter_examples_name_real_suites_and_cases() -> None:
    cases = _example_cases()
    assert {"qa-app", "summaries", "prompt-ab", "rag-faithfulness"} <= set(cases)
    checked = 0
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            for suite in FILTER_SUITE.findall(line):
                assert suite in cases, f"{doc.name}: suite {suite!r} in {line.strip()!r} is not an example suite"
                for case_id in FILTER_CASE.findall(line):
                    assert case_id in cases[suite], f"{doc.name}: case {case_id!r} is not in suite {suite!r}"
                checked += 1
    assert checked >= 2  # docs/tracing.md's UI filter and its Python example
