"""The task under test: the LLM feature a suite runs on every case before it is scored.

A task is either a plain callable from a ``Case`` to an output (sync or async; wrap it in ``Task`` to
give it a name and a version), or a declarative ``PromptTask`` (a prompt template and a model spec,
served by the same providers as the judges). An output is a string or a ``TaskOutput`` carrying the
retrieved contexts and tool calls as well.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from experiments.errors import TaskError
from judges.case import Case


@dataclass(frozen=True)
class TaskOutput:
    """What a task produced for one case: the text to judge, and what it used on the way."""

    text: str
    contexts: tuple[str, ...] = ()
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    turns: tuple[Mapping[str, Any], ...] = ()  # a conversation: {"role", "content", ...} per turn (simulate/)
    spans: tuple[Mapping[str, Any], ...] = ()  # the task's own trace as span dicts (agent trajectories)


@runtime_checkable
class TaskLike(Protocol):
    """What the runner needs of a task: a name, a version, a fingerprint and one async call."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    async def run(self, case: Case) -> str | TaskOutput: ...


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    """A callable ``fn(case) -> str | TaskOutput`` (or a coroutine function) with a name and a version.

    ``version`` is yours to bump when the feature changes in a way its code does not show (a new model
    behind an API, a changed system prompt read from a file). The fingerprint hashes the name, the
    version and the function's source, so a baseline records exactly which task produced it.
    """

    fn: Callable[..., Any]
    name: str = ""
    version: str = ""

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TaskError(f"Task needs a callable taking a Case, got {type(self.fn).__name__}")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.fn, "__qualname__", type(self.fn).__name__))

    @property
    def fingerprint(self) -> str:
        try:
            source = inspect.getsource(self.fn)
        except (OSError, TypeError):
            source = ""
        return _digest(["task", self.name, self.version, source])

    async def run(self, case: Case) -> str | TaskOutput:
        out = self.fn(case)
        if inspect.isawaitable(out):
            out = await out
        return out  # type: ignore[no-any-return]


def _blocking(fn: Any) -> bool:
    # a plain function may block (a sync HTTP client, a local model): run it in a thread, off the event loop
    return not inspect.iscoroutinefunction(fn)


@dataclass(frozen=True)
class PromptTask:
    """A declarative task: ``template`` filled from the case, sent to ``model`` (a judge-style model spec).

    The template sees ``{input}``, ``{context}`` and ``{expected}`` and the case's metadata keys. The
    fingerprint hashes the template, the model spec and every generation parameter.
    """

    template: str
    model: str = "local"
    name: str = "prompt"
    version: str = ""
    system: str | None = None
    max_tokens: int = 128
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    cache: bool = field(default=False, compare=False)  # set by the suite's cache_task

    def __post_init__(self) -> None:
        try:
            self.template.format(**{**{k: "" for k in _fields(self.template)}, "input": "", "context": "", "expected": ""})
        except (IndexError, ValueError) as exc:
            raise TaskError(f"PromptTask {self.name!r}: the template is not a valid format string ({exc}); "
                            "escape literal braces as {{ and }}") from exc

    @property
    def fingerprint(self) -> str:
        return _digest(["prompt", self.name, self.version, self.template, self.system, self.model,
                        self.max_tokens, self.temperature, list(self.stop)])

    def render(self, case: Case) -> str:
        values = {**{k: v for k, v in case.metadata.items() if isinstance(k, str)},
                  "input": case.input, "context": case.context or "", "expected": case.expected or ""}
        try:
            return self.template.format(**values)
        except KeyError as exc:
            raise TaskError(f"PromptTask {self.name!r}: case {case.id!r} has no field {exc} for the template; "
                            f"available: {sorted(values)}") from exc

    async def run(self, case: Case) -> TaskOutput:
        from judges import ModelRequest

        client = _client(self.model, self.cache)
        messages = ([{"role": "system", "content": self.system}] if self.system else [])
        messages.append({"role": "user", "content": self.render(case)})
        completion = await client.complete(ModelRequest(messages, max_tokens=self.max_tokens,
                                                        temperature=self.temperature, stop=self.stop))
        return TaskOutput(completion.text.strip(), prompt_tokens=completion.usage.prompt_tokens,
                          completion_tokens=completion.usage.completion_tokens)


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f and f.isidentifier()]


_CLIENTS: dict[tuple[str, bool], Any] = {}


def _client(spec: str, cache: bool) -> Any:
    """One client per (model spec, cached?) per process; task calls bypass the call cache unless asked."""
    from judges.config import get_model

    key = (spec, cache)
    if key not in _CLIENTS:
        _CLIENTS[key] = get_model(spec) if cache else get_model(spec, cache=None)
    return _CLIENTS[key]


def as_task(task: Any) -> TaskLike:
    """A ``Task`` or ``PromptTask`` as given, or a plain callable wrapped in ``Task``."""
    if isinstance(task, (Task, PromptTask, TaskLike)):
        return task  # type: ignore[no-any-return]
    if callable(task):
        return Task(task)
    raise TaskError(f"a suite's task must be a callable, Task or PromptTask, got {type(task).__name__}")


@dataclass(frozen=True)
class TaskResult:
    """One task execution: its normalised output or its error, and what it cost."""

    output: TaskOutput | None
    error: str | None
    latency_s: float


def normalise_output(case: Case, value: Any) -> TaskOutput:
    """A task's return value as a TaskOutput; anything else is a TaskError naming the case and the type."""
    if isinstance(value, TaskOutput):
        if not isinstance(value.text, str):
            raise TaskError(f"task returned TaskOutput.text of type {type(value.text).__name__} for case "
                            f"{case.id!r}; it must be a str")
        return value
    if isinstance(value, str):
        return TaskOutput(value)
    raise TaskError(f"task returned {type(value).__name__} for case {case.id!r}; return a str or a TaskOutput")


async def execute(task: TaskLike, case: Case, *, timeout_s: float | None) -> TaskResult:
    """Run ``task`` on ``case`` with a timeout; exceptions become task errors, never scores."""
    t0 = time.perf_counter()
    try:
        if isinstance(task, Task) and _blocking(task.fn):
            value = await asyncio.wait_for(asyncio.to_thread(task.fn, case), timeout_s)
        else:
            value = await asyncio.wait_for(task.run(case), timeout_s)
        out = normalise_output(case, value)
    except TimeoutError:
        return TaskResult(None, f"timed out after {timeout_s:g} s", time.perf_counter() - t0)
    except TaskError as exc:
        return TaskResult(None, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - user code: any exception is recorded as that case's task error
        return TaskResult(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    return TaskResult(out, None, time.perf_counter() - t0)
