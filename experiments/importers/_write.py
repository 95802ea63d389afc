"""What an importer writes into a project (a dataset and a suite file under ``evals/``) and what it reports."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.errors import ExperimentError


class SuiteImportError(ExperimentError):
    """A suite cannot be imported: the file is missing or malformed (the message names it and the fix)."""


@dataclass
class ImportReport:
    """What an import wrote, what each construct became, and every construct it did not import, by name."""

    source: str
    name: str
    written: list[Path] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)  # "Match -> EvalsMatch()"
    unsupported: list[str] = field(default_factory=list)  # "python grader 'x': what to do"
    notes: list[str] = field(default_factory=list)

    def lines(self, root: Path) -> list[str]:
        """The report as terminal lines."""
        import textwrap

        items = [*(f"wrote {_shown(p, root)}" for p in self.written), *self.imported,
                 *(f"note: {line}" for line in self.notes), *(f"NOT IMPORTED: {line}" for line in self.unsupported)]
        out = [f"imported {self.name} from {self.source}:"]
        for item in items:  # within 120 columns, continuation lines indented under their item
            out += textwrap.wrap(item, width=120, initial_indent="  ", subsequent_indent="      ",
                                 break_long_words=False, break_on_hyphens=False)
        return out


def _shown(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def read_yaml(path: Path) -> Any:
    """A YAML file, or a SuiteImportError naming it."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteImportError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SuiteImportError(f"{path} is not valid YAML: {exc}") from exc


def identifier(name: str) -> str:
    """A Python- and file-safe name from an eval's name."""
    ident = re.sub(r"\W+", "_", name).strip("_").lower()
    return ident if ident and not ident[0].isdigit() else f"eval_{ident}"


SUITE_FILE = '''\
"""{doc}

Written by `python -m experiments import {source_kind} {source}`; edit freely (the import does not overwrite it
without --force). The task is {task_doc}.
"""

import pytest
{imports}

SUITE = EvalSuite(
    name={name!r},
    dataset={dataset!r},  # datasets/{dataset}: {{"id", "question", "reference"}} per line
    kind="qa",
    task={task},
    scorers=(
{scorers}
    ),
    threshold={threshold!r},  # a case passes when the first scorer reaches it
    gate=Gate(min={gate_min!r}, max_drop=0.05, alpha=0.05),
)


@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_{ident}(case, evaluate):
    evaluate(SUITE, case)


def test_{ident}_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''


def task_code(task: str, name: str) -> tuple[str, str, str]:
    """(import line, expression, doc) for ``--task``: ``module:function`` (your application) or a model spec
    (``local``, ``openai:gpt-4o-mini``) that answers the prompt as a ``PromptTask``."""
    if ":" in task and not task.startswith(("local", "openai:")):
        module, _, fn = task.partition(":")
        if not module or not fn.isidentifier():
            raise SuiteImportError(f"--task {task!r}: use module:function (e.g. myapp:answer) or a model spec")
        return f"from {module} import {fn} as task_fn", "task_fn", f"`{task}` (your application)"
    return "", f"PromptTask('{{input}}', model={task!r}, name={name!r})", f"the model {task!r} answering the prompt"


def write_suite(root: Path, *, name: str, source: str, source_kind: str, doc: str, rows: Sequence[Mapping[str, object]],
                scorers: Sequence[str], imports: Sequence[str], task: str, threshold: float, force: bool,
                report: ImportReport) -> None:
    """Write ``datasets/<name>.jsonl`` and ``evals/test_<name>.py`` (refusing to overwrite without ``force``)."""
    if not rows:
        raise SuiteImportError(f"{source}: no samples to import")
    ident = identifier(name)
    dataset = root / "datasets" / f"{ident}.jsonl"
    suite = root / "evals" / f"test_{ident}.py"
    existing = [p for p in (dataset, suite) if p.exists()]
    if existing and not force:
        raise SuiteImportError(f"{', '.join(map(str, existing))} exist(s); pass --force to overwrite")
    task_import, task_expr, task_doc = task_code(task, ident)
    lines = sorted({"from experiments import EvalSuite, Gate, PromptTask", *imports} - {""})
    text = SUITE_FILE.format(doc=doc, source_kind=source_kind, source=source, task_doc=task_doc,
                             imports="\n".join([*lines, task_import]).strip(), name=ident,
                             dataset=dataset.name, task=task_expr,
                             scorers="\n".join(f"        {s}," for s in scorers), threshold=threshold,
                             gate_min=threshold / 2, ident=ident)
    dataset.parent.mkdir(parents=True, exist_ok=True)
    suite.parent.mkdir(parents=True, exist_ok=True)
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    suite.write_text(text, encoding="utf-8")
    report.written += [dataset, suite]
