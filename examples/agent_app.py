"""An example agent: the local model chooses among three deterministic tools, a bounded number of steps.

Tools: ``calculator`` (arithmetic), ``lookup`` (a small table of heights and lengths) and ``convert``
(units). Each step the model picks the next tool or ``finish`` from the label probabilities of the
choices (no free-text parsing); the tool's arguments come from a short greedy generation (calculator)
or from label probabilities over the table's keys and the known conversions (lookup, convert), with the
number taken from the last observation or the question. At most ``max_steps`` tool calls.

It emits OpenInference spans: one AGENT span, an LLM span per decision and a TOOL span per call, each with
``graph.node.id`` / ``graph.node.parent_id``; a tool that raises or times out is a TOOL span with status
ERROR and the agent goes on. ``eval_task`` runs it as the task under test of ``evals/test_agent.py`` and
returns the spans it emitted (the run's own trace), from which ``judges.trajectory`` reads the trajectory.

    python examples/agent_app.py "How tall is K2 in feet?"
"""

from __future__ import annotations

import ast
import asyncio
import json
import operator
import re
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from openinference.semconv.trace import SpanAttributes

import tracing

TABLE: dict[str, tuple[float, str]] = {
    "mount everest": (8849, "m"), "k2": (8611, "m"), "eiffel tower": (330, "m"), "marathon": (42.195, "km"),
    "nile": (6650, "km"), "blue whale": (150000, "kg"),
}  # fmt: skip
CONVERSIONS: dict[str, Callable[[float], float]] = {
    "m to ft": lambda v: v * 3.28084, "ft to m": lambda v: v / 3.28084, "km to mi": lambda v: v * 0.621371,
    "mi to km": lambda v: v / 0.621371, "kg to lb": lambda v: v * 2.20462, "lb to kg": lambda v: v / 2.20462,
    "c to f": lambda v: v * 9 / 5 + 32, "f to c": lambda v: (v - 32) * 5 / 9,
}  # fmt: skip
TOOL_HELP = {
    "calculator": "calculator: evaluates arithmetic written with numbers and + - * /",
    "lookup": "lookup: the height or length of a known thing (" + ", ".join(TABLE) + ")",
    "convert": "convert: converts a number between units (m/ft, km/mi, kg/lb, C/F)",
}
_OPS: dict[type, Callable[..., float]] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                                          ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# worked examples: a 270M model picks the right action far more often when it has seen the pattern
_EXAMPLES = """Example 1. Question: What is 9 + 4?
Steps so far:
(nothing yet)
Next action: calculator
Steps so far:
1. calculator = 13
Next action: finish

Example 2. Question: How heavy is a blue whale in pounds?
Steps so far:
(nothing yet)
Next action: lookup
Steps so far:
1. lookup = 150000 kg
Next action: convert
Steps so far:
1. lookup = 150000 kg
2. convert = 330693 lb
Next action: finish"""


class ToolError(Exception):
    """A tool refused its arguments."""


def calculator(expression: str) -> str:
    """The value of an arithmetic expression (numbers, + - * / ** and parentheses only)."""
    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ToolError(f"not arithmetic: {expression!r}")
    try:
        value = ev(ast.parse(expression.replace("x", "*").replace("×", "*"), mode="eval").body)
    except (SyntaxError, ZeroDivisionError) as exc:
        raise ToolError(f"cannot evaluate {expression!r}: {exc}") from exc
    return f"{value:g}"


def lookup(key: str) -> str:
    """The table's value for ``key`` ("k2" -> "8611 m")."""
    if key.lower() not in TABLE:
        raise ToolError(f"no entry {key!r}; known: {sorted(TABLE)}")
    value, unit = TABLE[key.lower()]
    return f"{value:g} {unit}"


def convert(value: float, from_unit: str, to_unit: str) -> str:
    """``value`` converted from ``from_unit`` to ``to_unit``, rounded to 2 decimals."""
    fn = CONVERSIONS.get(f"{from_unit.lower()} to {to_unit.lower()}")
    if fn is None:
        raise ToolError(f"cannot convert {from_unit} to {to_unit}")
    return f"{round(fn(float(value)), 2):g} {to_unit}"


TOOLS: dict[str, Callable[..., str]] = {"calculator": calculator, "lookup": lookup, "convert": convert}
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-tool")


def run_tool(tools: Mapping[str, Callable[..., str]], name: str, args: Mapping[str, Any], timeout_s: float) -> str:
    """Call a tool with a time limit; an unknown tool, a raise or a timeout is a ToolError."""
    if name not in tools:
        raise ToolError(f"unknown tool {name!r}")
    future = _POOL.submit(tools[name], **args)
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout as exc:
        raise ToolError(f"{name} timed out after {timeout_s:g} s") from exc


@dataclass
class Agent:
    """The agent. ``client``: a judges ModelClient (created with ``trace=False``: the agent writes its own LLM spans)."""

    client: Any
    tools: Mapping[str, Callable[..., str]] = field(default_factory=lambda: dict(TOOLS))
    max_steps: int = 3
    tool_timeout_s: float = 2.0
    tracer: Any = None

    def _prompt(self, question: str, history: list[str], tail: str) -> str:
        tools = "\n".join(TOOL_HELP.get(t, t) for t in self.tools)
        done = "\n".join(history) or "(nothing yet)"
        return f"Tools:\n{tools}\n\n{_EXAMPLES}\n\nQuestion: {question}\nSteps so far:\n{done}\n{tail}"

    async def _choose(self, name: str, node: str, prompt: str, options: list[str]) -> str:
        from judges import ModelRequest

        req = ModelRequest([{"role": "user", "content": prompt}], max_tokens=1, labels=tuple(" " + o for o in options))
        with tracing.llm_span(provider=self.client.info.name, model=self.client.info.model, name=name, tracer=self.tracer,
                              messages=[{"role": "user", "content": prompt}],
                              attributes={SpanAttributes.GRAPH_NODE_ID: node,
                                          SpanAttributes.GRAPH_NODE_PARENT_ID: "agent"}) as span:
            out = await self.client.complete(req)
            probs = out.label_probs or {}
            choice = max(options, key=lambda o: probs.get(" " + o, 0.0)) if probs else next(
                (o for o in options if o in out.text.lower()), options[0])
            span.set_output(choice, prompt_tokens=out.usage.prompt_tokens, completion_tokens=out.usage.completion_tokens)
        return choice

    async def _expression(self, prompt: str, node: str) -> str:
        from judges import ModelRequest

        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "Expression:"}]
        with tracing.llm_span(provider=self.client.info.name, model=self.client.info.model, name="write expression",
                              tracer=self.tracer, messages=messages,
                              attributes={SpanAttributes.GRAPH_NODE_ID: node,
                                          SpanAttributes.GRAPH_NODE_PARENT_ID: "agent"}) as span:
            out = await self.client.complete(ModelRequest(messages, max_tokens=16, stop=("\n", "=")))
            span.set_output(out.text, prompt_tokens=out.usage.prompt_tokens, completion_tokens=out.usage.completion_tokens)
        return out.text.strip().rstrip(".?")

    async def _arguments(self, tool: str, question: str, history: list[str], step: int) -> dict[str, Any]:
        last = history[-1].split(" = ", 1)[1] if history and " = " in history[-1] else ""  # the last result
        numbers = _NUMBER.findall(last) or _NUMBER.findall(question)
        if tool == "calculator":
            tail = "Write only the arithmetic expression that answers the question, with digits and + - * /."
            return {"expression": await self._expression(f"Question: {question}\n{tail}", f"args_{step}")}
        if tool == "lookup":
            key = await self._choose(f"choose key {step}", f"args_{step}",
                                     f"Question: {question}\nWhich entry should be looked up?\nEntry:", list(TABLE))
            return {"key": key}
        pair = await self._choose(f"choose conversion {step}", f"args_{step}",
                                  f"Question: {question}\nWhich conversion is needed?\nConversion:",
                                  list(CONVERSIONS))
        src, dst = pair.split(" to ")
        return {"value": float(numbers[0]) if numbers else 0.0, "from_unit": src, "to_unit": dst}

    async def run(self, question: str) -> str:
        """Answer ``question``; the last tool result is the answer (or a note that none succeeded)."""
        history: list[str] = []
        answer = "I could not work it out."
        with tracing.chain_span("agent", kind="AGENT", input=question, tracer=self.tracer,
                                attributes={SpanAttributes.GRAPH_NODE_ID: "agent",
                                            SpanAttributes.AGENT_NAME: "tool-agent"}) as root:
            for step in range(1, self.max_steps + 1):
                options = list(self.tools) + (["finish"] if history else [])
                tool = await self._choose(f"decide {step}", f"decide_{step}",
                                          self._prompt(question, history, "Next action:"), options)
                if tool == "finish":
                    break
                args = await self._arguments(tool, question, history, step)
                try:
                    with tracing.chain_span(tool, kind="TOOL", input=json.dumps(args, sort_keys=True), tracer=self.tracer,
                                            attributes={SpanAttributes.TOOL_NAME: tool,
                                                        SpanAttributes.GRAPH_NODE_ID: f"{tool}_{step}",
                                                        SpanAttributes.GRAPH_NODE_PARENT_ID: "agent"}) as span:
                        result = await asyncio.to_thread(run_tool, self.tools, tool, args, self.tool_timeout_s)
                        span.set_output(result)
                except Exception as exc:  # noqa: BLE001 - a failing tool is an observation; the span says ERROR
                    history.append(f"{step}. {tool}({json.dumps(args)}) failed: {exc}")
                    continue
                history.append(f"{step}. {tool} = {result}")
                answer = result
            root.set_output(answer)
        return answer


_CLIENT: list[Any] = []


def _local_client() -> Any:
    from judges import get_model

    if not _CLIENT:
        _CLIENT.append(get_model("local", cache=None, trace=False))
    return _CLIENT[0]


async def run_with_spans(question: str, agent: Agent | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Run the agent on ``question`` and return its answer and the spans it emitted (Phoenix-shaped dicts)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tracing.span_tree import span_dicts

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agent = agent or Agent(_local_client())
    agent.tracer = provider.get_tracer("examples.agent_app")
    try:
        answer = await agent.run(question)
        return answer, span_dicts(exporter.get_finished_spans())
    finally:
        provider.shutdown()


async def eval_task(case: Any) -> Any:
    """The task under test of ``evals/test_agent.py``: the answer, and the run's own spans for the trajectory."""
    from experiments import TaskOutput

    answer, spans = await run_with_spans(case.input)
    return TaskOutput(answer, spans=tuple(spans))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from judges.trajectory import trajectory_from_spans

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question")
    args = parser.parse_args(argv)
    answer, spans = asyncio.run(run_with_spans(args.question))
    for step in trajectory_from_spans(spans).steps:
        print(f"  {step.key()} -> {step.output if step.ok else 'ERROR ' + str(step.error)}")
    print(answer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
