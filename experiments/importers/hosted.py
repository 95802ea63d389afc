"""Import a hosted OpenAI Evals definition: the eval object as the API returned it (``data_source_config`` and
``testing_criteria``) and its items JSONL (``{"item": {...}}`` per line, or bare objects).

Graders: ``string_check`` -> :class:`StringCheck`; ``text_similarity`` with ``cosine`` -> ``SemanticSimilarity``
and ``rouge_l`` -> ``RougeL`` (other metrics are listed); ``label_model`` -> a :class:`ChoiceJudge` whose choices
are the labels (passing labels score 1, the others 0); ``score_model`` -> a :class:`ChoiceJudge` over eleven steps
of its range, passing at its ``pass_threshold``. ``python`` and any other grader are listed with what to do.
Templates: ``{{sample.output_text}}`` is the task's output, ``{{item.<input field>}}`` the case input,
``{{item.<reference field>}}`` its reference; any other template variable stops that grader (listed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from experiments.importers._write import ImportReport, SuiteImportError, write_suite

_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
SIMILARITY = {"cosine": "SemanticSimilarity()", "rouge_l": "RougeL()"}


def _load(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteImportError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SuiteImportError(f"{path} is not JSON ({exc.msg} at line {exc.lineno}); save the eval object the "
                           "API returned (GET /v1/evals/{id})") from exc
    if not isinstance(value, dict) or "testing_criteria" not in value:
        raise SuiteImportError(f"{path} has no testing_criteria: not a hosted OpenAI Evals eval object")
    return value


def _items(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteImportError(f"cannot read the items {path}: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteImportError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            item = value.get("item", value) if isinstance(value, dict) else None
            if not isinstance(item, dict):
                raise SuiteImportError(f"{path}:{n}: an item must be a JSON object (or {{\"item\": {{...}}}})")
            rows.append(item)
    return rows


def _field(template: str) -> str | None:
    m = _TEMPLATE.fullmatch(template.strip())
    return m.group(1).removeprefix("item.") if m and m.group(1).startswith("item.") else None


def _prompt(messages: Any, input_field: str, reference_field: str | None) -> str | None:
    """The grader's messages as one ChoiceJudge prompt, or None when a template names something unknown."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    parts = []
    for m in messages if isinstance(messages, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, dict):  # {"type": "input_text", "text": ...}
            content = content.get("text")
        if not isinstance(content, str):
            return None
        parts.append(f"system: {content}" if m.get("role") == "system" else content)
    text = "\n\n".join(parts)
    mapping = {"sample.output_text": "{completion}", f"item.{input_field}": "{input}"}
    if reference_field:
        mapping[f"item.{reference_field}"] = "{ideal}"
    if any(v not in mapping for v in _TEMPLATE.findall(text)):
        return None
    # every literal brace doubled for str.format, then each {{ name }} (now four braces deep) becomes its field
    escaped = text.replace("{", "{{").replace("}", "}}")
    return re.sub(r"\{\{\{\{\s*([\w.]+)\s*\}\}\}\}", lambda m: mapping[m.group(1)], escaped)


def import_hosted_eval(path: Path, items: Path, root: Path, *, input_field: str | None = None, task: str = "local",
                       force: bool = False) -> ImportReport:
    """Import the hosted eval object at ``path`` with the items at ``items`` into the project at ``root``."""
    spec = _load(path)
    name = str(spec.get("name") or spec.get("id") or path.stem)
    report = ImportReport(source=str(path), name=name)
    rows = _items(items)
    if not rows:
        raise SuiteImportError(f"{items} has no items")
    fields = sorted({k for r in rows for k, v in r.items() if isinstance(v, str)})
    graders = [g for g in spec["testing_criteria"] if isinstance(g, dict)]
    refs = {f for g in graders for f in [_field(str(g.get("reference", "")))] if f}
    if input_field is None:
        guess = [f for f in ("input", "question", "prompt") if f in fields]
        if not guess:
            raise SuiteImportError(f"which item field is the task's input? pass --input-field (text fields: {fields})")
        input_field = guess[0]
    if input_field not in fields:
        raise SuiteImportError(f"--input-field {input_field!r} is not a text field of the items ({fields})")
    if len(refs) > 1:
        report.notes.append(f"graders compare with several fields {sorted(refs)}; the reference is {min(refs)!r}")
    reference_field = min(refs) if refs else next((f for f in ("ideal", "expected", "reference", "answer")
                                                    if f in fields), None)
    if spec.get("data_source_config", {}).get("type") not in (None, "custom"):
        report.notes.append(f"data source {spec['data_source_config']['type']!r}: the items file is the dataset")
    scorers: list[str] = []
    names: set[str] = set()
    thresholds: list[float] = []
    for g in graders:
        kind, label = str(g.get("type")), f"{g.get('type')} grader {g.get('name', '')!r}"
        if kind == "string_check":
            ref = _field(str(g.get("reference", "")))
            value = None if ref else str(g.get("reference", ""))
            if _field(str(g.get("input", ""))) or "sample.output_text" not in str(g.get("input", "")):
                report.unsupported.append(f"{label}: it checks {g.get('input')!r}, not the output; check it in "
                                          "your task")
                continue
            scorers.append(f"StringCheck({g.get('operation')!r}" + (f", {value!r})" if value is not None else ")"))
            names.add("StringCheck")
            thresholds.append(1.0)
            report.imported.append(f"{label} -> {scorers[-1]}")
        elif kind == "text_similarity":
            metric = str(g.get("evaluation_metric"))
            if metric not in SIMILARITY:
                report.unsupported.append(f"{label}: evaluation_metric {metric!r} has no scorer here (cosine and "
                                          "rouge_l do); use RougeL/TokenF1/SemanticSimilarity or write one")
                continue
            scorers.append(SIMILARITY[metric])
            thresholds.append(float(g.get("pass_threshold", 0.5)))
            report.imported.append(f"{label} -> {scorers[-1]} (pass at {thresholds[-1]})")
        elif kind in ("label_model", "score_model"):
            prompt = _prompt(g.get("input"), input_field, reference_field)
            if prompt is None:
                report.unsupported.append(f"{label}: its messages use a template other than sample.output_text, "
                                          f"item.{input_field} or the reference; rewrite the prompt")
                continue
            crit = re.sub(r"\W+", "_", str(g.get("name") or kind)).strip("_").lower() or kind
            if kind == "label_model":
                passing = set(g.get("passing_labels") or [])
                choices = tuple((str(lab), 1.0 if lab in passing else 0.0) for lab in g.get("labels") or [])
                scorers.append(f"ImportedChoiceJudge({crit!r}, {prompt!r}, {choices!r}, pass_at=1.0)")
                thresholds.append(1.0)
            else:
                lo, hi = (float(x) for x in (g.get("range") or [0.0, 1.0]))
                choices = tuple((str(k), lo + k * (hi - lo) / 10) for k in range(11))
                pass_at = float(g.get("pass_threshold", (lo + hi) / 2))
                scorers.append(f"ImportedChoiceJudge({crit!r}, {prompt + ' Answer on a scale of 0 to 10.'!r}, {choices!r}, "
                               f"pass_at={pass_at!r})")
                thresholds.append(pass_at)
            names.add("ImportedChoiceJudge")
            report.imported.append(f"{label} -> ChoiceJudge {crit!r} (model {g.get('model')!r} becomes the "
                                   "harness's judge model)")
        else:
            report.unsupported.append(f"{label}: {kind} graders run code on OpenAI's side; port it to a scorer "
                                      "(experiments/scorers.py shows the shape) and add it to the suite")
    if not scorers:
        raise SuiteImportError(f"no grader of {path} could be imported:\n  " + "\n  ".join(report.unsupported))
    out_rows = [{"id": str(r.get("id") or f"item-{i}"), "question": str(r[input_field]),
                 **({"reference": str(r[reference_field])} if reference_field and r.get(reference_field) is not None
                    else {})} for i, r in enumerate(rows)]
    imports = ["from experiments.importers import " + ", ".join(sorted(names))] if names else []
    if any(s in SIMILARITY.values() for s in scorers):
        imports.append("from experiments import " + ", ".join(sorted({s[:-2] for s in scorers
                                                                      if s in SIMILARITY.values()})))
    write_suite(root, name=name, source=str(path), source_kind="openai-evals",
                doc=f"{name}: imported from a hosted OpenAI Evals definition ({len(graders)} grader(s)).",
                rows=out_rows, scorers=scorers, imports=imports, task=task, threshold=thresholds[0], force=force,
                report=report)
    return report
