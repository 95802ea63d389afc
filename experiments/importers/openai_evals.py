"""Import an ``openai/evals`` registry eval: its YAML (eval and versioned id) and samples JSONL become a dataset and
an ``evals/test_<name>.py`` suite.

``Match``, ``Includes``, ``FuzzyMatch`` and ``JsonMatch`` become deterministic scorers with the original rules
(:mod:`experiments.importers._scorers`); a model-graded eval (``ModelBasedClassify`` with ``modelgraded_spec``:
``fact``, ``closedqa`` or any spec with a prompt, choice strings and choice scores) becomes a :class:`ChoiceJudge`
with those choices and scores. Anything else is reported by name, never dropped silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.importers._choice import BUILTIN_SPECS, CLOSEDQA_CRITERIA
from experiments.importers._write import ImportReport, SuiteImportError, read_yaml, write_suite
from judges.datasets import jsonl_lines

BASIC = {"Match": "EvalsMatch()", "Includes": "EvalsIncludes({ignore_case})", "FuzzyMatch": "EvalsFuzzyMatch()",
         "JsonMatch": "EvalsJsonMatch()"}
MODEL_GRADED = ("ModelBasedClassify",)
HANDLED_ARGS = {"samples_jsonl", "modelgraded_spec", "eval_type", "ignore_case", "modelgraded_spec_args",
                "max_tokens"}


def _resolve_eval(registry: dict[str, Any], path: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """The eval's base name and the spec its ``id`` points at (``name`` picks one of several)."""
    bases = {k: v for k, v in registry.items() if isinstance(v, dict) and "id" in v}
    if name is None:
        if len(bases) != 1:
            raise SuiteImportError(f"{path} defines {len(bases)} evals ({sorted(bases)}); pick one with --eval NAME")
        name = next(iter(bases))
    if name not in bases:
        raise SuiteImportError(f"{path} has no eval {name!r}; it has {sorted(bases)}")
    spec_id = bases[name]["id"]
    spec = registry.get(spec_id)
    if not isinstance(spec, dict) or "class" not in spec:
        raise SuiteImportError(f"{path}: eval {name!r} points at id {spec_id!r}, which has no 'class'")
    return name, spec


def _samples(path: Path, report: ImportReport) -> list[dict[str, Any]]:
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteImportError(f"cannot read the samples {path}: {exc}; pass --data-dir to say where samples_jsonl "
                           "paths start (openai/evals: evals/registry/data)") from exc
    for n, sample in jsonl_lines(text):
        if isinstance(sample, json.JSONDecodeError):
            raise SuiteImportError(f"{path}:{n}: not valid JSON ({sample.msg})") from sample
        if not isinstance(sample, dict) or "input" not in sample:
            raise SuiteImportError(f"{path}:{n}: a sample needs an 'input' (chat messages or text)")
        extra = sorted(set(sample) - {"input", "ideal"})
        if extra:
            report.notes.append(f"{path.name}:{n}: fields {extra} are not carried into the dataset")
        rows.append(sample)
    return rows


def render_input(value: Any) -> str:
    """Chat messages as the prompt text the task receives: one message's content alone, else ``role: content``
    lines; text stays as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        if len(value) == 1:
            return str(value[0]["content"])
        return "\n".join(f"{m.get('role', 'user')}: {m['content']}" for m in value)
    raise SuiteImportError(f"sample input {str(value)[:80]!r} is neither text nor a list of chat messages")


def _modelgraded(spec_name: str, registry_path: Path, spec_args: dict[str, Any], report: ImportReport) -> str | None:
    """The ChoiceJudge code for a model-graded spec, or None (reported) when it cannot be built."""
    spec_file = registry_path.parent.parent / "modelgraded" / f"{spec_name}.yaml"
    if spec_file.exists():
        spec = read_yaml(spec_file)
        prompt, strings, scores = spec.get("prompt"), spec.get("choice_strings"), spec.get("choice_scores")
        if not isinstance(prompt, str) or not strings:
            report.unsupported.append(f"modelgraded spec {spec_name!r} ({spec_file}): no prompt or choice_strings")
            return None
        choices = list(strings) if isinstance(strings, str) else [str(c) for c in strings]
        if not isinstance(scores, dict) or set(map(str, scores)) != set(choices):
            if spec_name in BUILTIN_SPECS:
                scores = BUILTIN_SPECS[spec_name][1]
                report.notes.append(f"spec {spec_name!r} has no choice_scores for every choice; scored as "
                                    f"{scores} (the harness's reading of {spec_name})")
            else:
                report.unsupported.append(f"modelgraded spec {spec_name!r}: choice_scores {scores!r} do not score "
                                          f"every choice {choices}; add them to the spec and import again")
                return None
        prompt_code = repr(prompt)
    elif spec_name in BUILTIN_SPECS:
        prompt, scores = BUILTIN_SPECS[spec_name]
        prompt_code = "FACT_PROMPT" if spec_name == "fact" else "CLOSEDQA_PROMPT"
    else:
        report.unsupported.append(f"modelgraded spec {spec_name!r}: not built in and no {spec_file}; copy the spec "
                                  "YAML there (prompt, choice_strings, choice_scores) and import again")
        return None
    args = {k: str(v) for k, v in spec_args.items()}
    if spec_file.exists():  # a spec's own args name its criteria: `criteria: correct` means the text under it
        named = (spec.get("args") or {}).get("criteria") or {}
        if isinstance(named, dict) and args.get("criteria") in named:
            args["criteria"] = str(named[args["criteria"]])
    elif spec_name == "closedqa" and "criteria" in args:
        args["criteria"] = CLOSEDQA_CRITERIA.get(args["criteria"], args["criteria"])
    needed = {"criteria"} & set(_fields(prompt)) - set(args)
    if needed:
        report.unsupported.append(f"modelgraded spec {spec_name!r} needs {sorted(needed)}: add "
                                  "modelgraded_spec_args: {criteria: ...} to the eval and import again")
        return None
    report.imported.append(f"ModelBasedClassify ({spec_name}) -> ChoiceJudge with choices {dict(scores)}")
    return (f"ImportedChoiceJudge.from_spec({spec_name!r}, {prompt_code}, {dict(scores)!r}, args={args!r})")


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def import_openai_evals(path: Path, root: Path, *, eval_name: str | None = None, data_dir: Path | None = None,
                        task: str = "local", force: bool = False) -> ImportReport:
    """Import the registry eval in ``path`` into the project at ``root``; returns what was done."""
    registry = read_yaml(path)
    if not isinstance(registry, dict):
        raise SuiteImportError(f"{path} is not an openai/evals registry file (a mapping of eval names)")
    name, spec = _resolve_eval(registry, path, eval_name)
    report = ImportReport(source=str(path), name=name)
    cls = str(spec["class"]).rsplit(":", 1)[-1]
    args = dict(spec.get("args") or {})
    for key in sorted(set(args) - HANDLED_ARGS):
        report.unsupported.append(f"argument {key}={args[key]!r} of {cls}: no equivalent; set it in your task")
    if "samples_jsonl" not in args:
        raise SuiteImportError(f"{path}: eval {name!r} has no args.samples_jsonl")
    base = data_dir if data_dir is not None else _default_data_dir(path)
    samples = _samples(base / str(args["samples_jsonl"]), report)
    scorers: list[str] = []
    names: set[str] = set()
    if cls in BASIC:
        code = BASIC[cls].format(ignore_case="ignore_case=True" if args.get("ignore_case") else "")
        scorers.append(code)
        names.add(code.split("(")[0])
        report.imported.append(f"{cls} -> {code} (the original rules; every ideal answer kept)")
    elif cls in MODEL_GRADED and args.get("modelgraded_spec"):
        judge = _modelgraded(str(args["modelgraded_spec"]), path, dict(args.get("modelgraded_spec_args") or {}),
                             report)
        if judge is not None:
            scorers.append(judge)
            names.add("ImportedChoiceJudge")
            if "FACT_PROMPT" in judge or "CLOSEDQA_PROMPT" in judge:
                names.add(judge.split(", ")[1])
    else:
        report.unsupported.append(f"eval class {spec['class']!r}: not importable (custom Python); write a scorer "
                                  "for it (experiments/scorers.py shows the shape)")
    if not scorers:
        raise SuiteImportError("nothing scorable imported from " + f"{path}:\n  " + "\n  ".join(report.unsupported))
    rows = [{"id": f"{name}-{i}", "question": render_input(s["input"]),
             **({"reference": json.dumps(s["ideal"] if isinstance(s["ideal"], list) else [s["ideal"]],
                                         ensure_ascii=False)} if "ideal" in s else {})}
            for i, s in enumerate(samples)]
    write_suite(root, name=name, source=str(path), source_kind="openai-evals",
                doc=f"{name}: imported from the openai/evals registry ({cls}).", rows=rows, scorers=scorers,
                imports=["from experiments.importers import " + ", ".join(sorted(names))], task=task,
                threshold=0.5, force=force, report=report)
    return report


def _default_data_dir(path: Path) -> Path:
    """openai/evals keeps samples under ``registry/data`` beside ``registry/evals``; else beside the YAML."""
    candidate = path.parent.parent / "data"
    return candidate if path.parent.name == "evals" and candidate.is_dir() else path.parent
