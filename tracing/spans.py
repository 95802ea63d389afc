"""Context managers and a decorator that record OpenInference spans for LLM apps and judges.

All helpers use the global tracer provider unless given ``tracer=``. With no SDK provider
installed the OpenTelemetry API hands out non-recording spans; the helpers then skip building
attributes and attaching context, so an uninstrumented process pays about a microsecond per call.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from tracing._attributes import document_attributes, message_attributes, mime_of, to_text
from tracing.errors import TracingConfigError
from tracing.pricing import PriceTable, estimate_cost

_TRACER = trace.get_tracer("evalharness.tracing")  # a proxy: follows the global provider once set

# Custom numeric attributes read by drift/ (names are part of the public contract).
LLM_LATENCY_MS = "llm.latency_ms"
LLM_TTFT_MS = "llm.ttft_ms"
LLM_TPOT_MS = "llm.tpot_ms"
LLM_COST_USD = "llm.cost_usd"
LLM_CACHED = "llm.cached"
EVAL_SUITE = "eval.suite"
EVAL_CASE_ID = "eval.case_id"
EVAL_NAME = "eval.name"
EVAL_SCORE = "eval.score"
EVAL_LABEL = "eval.label"
EVAL_EXPLANATION = "eval.explanation"
EVAL_FAILURE = "eval.failure"

_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND
_VALID_KINDS = {k.value for k in OpenInferenceSpanKindValues}

# session.id / user.id set by an enclosing chain_span flow to every span inside it.
_SESSION: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "evalharness_tracing_session", default=()
)

_F = TypeVar("_F", bound=Callable[..., Any])


def span_ids(span: Span) -> tuple[str, str]:
    """``(trace_id, span_id)`` as lowercase hex (32 and 16 chars); all zeros for a non-recording span."""
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def current_span_ids() -> tuple[str, str] | None:
    """Ids of the active span, or None when nothing is being traced."""
    ctx = trace.get_current_span().get_span_context()
    return (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")) if ctx.is_valid else None


class _SpanRecorder:
    """Shared enter/exit logic: start the span, attach it when real, record errors, end it."""

    _kind: str = OpenInferenceSpanKindValues.CHAIN.value

    def __init__(self, name: str, tracer: Tracer | None, attributes: Mapping[str, Any] | None) -> None:
        self._name = name
        self._tracer = tracer or _TRACER
        self._extra = attributes
        self._token: object | None = None
        self._session_token: contextvars.Token[tuple[tuple[str, str], ...]] | None = None
        self.span: Span = trace.INVALID_SPAN
        self.recording = False

    def _start_attributes(self) -> dict[str, Any]:
        return {}

    def __enter__(self) -> Any:
        self._t0 = time.perf_counter()
        span = self._tracer.start_span(self._name)
        self.span = span
        if span.is_recording():
            self.recording = True
            attrs: dict[str, Any] = {_KIND: self._kind}
            attrs.update(_SESSION.get())
            attrs.update(self._start_attributes())
            if self._extra:
                attrs.update(self._extra)
            span.set_attributes(attrs)
        if span.get_span_context().is_valid:
            self._token = otel_context.attach(trace.set_span_in_context(span))
        return self

    def _end_attributes(self, elapsed_ms: float) -> dict[str, Any]:
        return {}

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        elapsed_ms = (time.perf_counter() - self._t0) * 1000.0
        self._finish(elapsed_ms)
        span = self.span
        try:
            if self.recording:
                attrs = self._end_attributes(elapsed_ms)
                if attrs:
                    span.set_attributes(attrs)
                if exc is not None:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                elif getattr(getattr(span, "status", None), "status_code", None) is StatusCode.UNSET:
                    span.set_status(Status(StatusCode.OK))  # Phoenix lists UNSET as neither success nor failure
            span.end()
        finally:
            if self._session_token is not None:
                _SESSION.reset(self._session_token)
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]

    def _finish(self, elapsed_ms: float) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Add custom attributes to the span (ignored when not recording)."""
        if self.recording:
            self.span.set_attributes(dict(attributes))

    @property
    def ids(self) -> tuple[str, str] | None:
        """``(trace_id, span_id)`` hex, or None when not traced (no SDK provider)."""
        return span_ids(self.span) if self.span.get_span_context().is_valid else None


class LLMCall(_SpanRecorder):
    """Records one model call; returned by :func:`llm_span`.

    After the block: ``latency_ms``, ``ttft_ms`` (streamed calls), ``tpot_ms`` and ``cost_usd``
    hold the measured values whether or not tracing is on, so callers can log them too.
    """

    _kind = OpenInferenceSpanKindValues.LLM.value

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        invocation_parameters: Mapping[str, Any] | None,
        name: str,
        prices: PriceTable | None,
        attributes: Mapping[str, Any] | None,
        tracer: Tracer | None,
    ) -> None:
        super().__init__(name, tracer, attributes)
        self.provider = provider
        self.model = model
        self._messages = messages
        self._params = invocation_parameters
        self._prices = prices
        self._t_first: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cached = False
        self.latency_ms: float | None = None
        self.ttft_ms: float | None = None
        self.tpot_ms: float | None = None
        self._cost: tuple[float | None] | None = None

    @property
    def cost_usd(self) -> float | None:
        """Estimated USD cost from the price table (0 for cached replies; None when unknown)."""
        if self._cost is None:
            if self.prompt_tokens is None and self.completion_tokens is None:
                return None  # set_output not called yet
            cost = (
                0.0
                if self.cached
                else estimate_cost(self.model, self.prompt_tokens, self.completion_tokens, self._prices)
            )
            self._cost = (cost,)
        return self._cost[0]

    def _start_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            SpanAttributes.LLM_PROVIDER: self.provider,
            SpanAttributes.LLM_MODEL_NAME: self.model,
        }
        if self._params is not None:
            attrs[SpanAttributes.LLM_INVOCATION_PARAMETERS] = json.dumps(self._params, default=str)
        if self._messages:
            attrs.update(message_attributes(SpanAttributes.LLM_INPUT_MESSAGES, self._messages))
            attrs[SpanAttributes.INPUT_VALUE] = to_text(list(self._messages))
            attrs[SpanAttributes.INPUT_MIME_TYPE] = "application/json"
        return attrs

    def first_token(self) -> None:
        """Mark the arrival of the first streamed token (time to first token); later calls are ignored."""
        if self._t_first is None:
            self._t_first = time.perf_counter()
            self.ttft_ms = (self._t_first - self._t0) * 1000.0

    def set_output(
        self,
        text: str | None = None,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cached: bool = False,
        finish_reason: str | None = None,
        response_model: str | None = None,
    ) -> None:
        """Record the reply, token counts and cost. ``cached=True``: served from a cache, cost 0."""
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached = cached
        if not self.recording:
            return  # cost_usd is then computed on first access: the no-op path stays cheap
        attrs: dict[str, Any] = {LLM_CACHED: cached}
        if text is not None:
            attrs[SpanAttributes.OUTPUT_VALUE] = to_text(text)
            attrs[SpanAttributes.OUTPUT_MIME_TYPE] = "text/plain"
            attrs.update(
                message_attributes(
                    SpanAttributes.LLM_OUTPUT_MESSAGES, [{"role": "assistant", "content": text}]
                )
            )
        if prompt_tokens is not None:
            attrs[SpanAttributes.LLM_TOKEN_COUNT_PROMPT] = prompt_tokens
        if completion_tokens is not None:
            attrs[SpanAttributes.LLM_TOKEN_COUNT_COMPLETION] = completion_tokens
        if prompt_tokens is not None and completion_tokens is not None:
            attrs[SpanAttributes.LLM_TOKEN_COUNT_TOTAL] = prompt_tokens + completion_tokens
        cost = self.cost_usd
        if cost is not None:
            attrs[LLM_COST_USD] = cost
        if finish_reason is not None:
            attrs[SpanAttributes.LLM_FINISH_REASON] = finish_reason
        if response_model is not None:
            attrs[SpanAttributes.LLM_RESPONSE_MODEL_NAME] = response_model
        self.span.set_attributes(attrs)

    def _finish(self, elapsed_ms: float) -> None:
        self.latency_ms = elapsed_ms
        n = self.completion_tokens
        if n:
            if self.ttft_ms is not None and n > 1:
                # Streamed: decode time after the first token, per remaining token.
                self.tpot_ms = (elapsed_ms - self.ttft_ms) / (n - 1)
            elif self.ttft_ms is None:
                # Not streamed: prefill is inside the total, so this is the upper bound per token.
                self.tpot_ms = elapsed_ms / n

    def _end_attributes(self, elapsed_ms: float) -> dict[str, Any]:
        attrs: dict[str, Any] = {LLM_LATENCY_MS: elapsed_ms}
        if self.ttft_ms is not None:
            attrs[LLM_TTFT_MS] = self.ttft_ms
        if self.tpot_ms is not None:
            attrs[LLM_TPOT_MS] = self.tpot_ms
        return attrs


def llm_span(
    *,
    provider: str,
    model: str,
    messages: Sequence[Mapping[str, Any]] = (),
    invocation_parameters: Mapping[str, Any] | None = None,
    name: str = "llm",
    prices: PriceTable | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracer: Tracer | None = None,
) -> LLMCall:
    """An LLM span around one model call; use ``with ... as rec`` and call ``rec.set_output(...)``.

    Exceptions inside the block are recorded on the span (status ERROR) and re-raised.
    """
    if not provider or not model:
        raise TracingConfigError(
            f"llm_span needs a provider and a model name, got provider={provider!r}, model={model!r}"
        )
    return LLMCall(
        provider=provider,
        model=model,
        messages=messages,
        invocation_parameters=invocation_parameters,
        name=name,
        prices=prices,
        attributes=attributes,
        tracer=tracer,
    )


class EvaluatorCall(_SpanRecorder):
    """Records one judge verdict on one case; returned by :func:`evaluator_span`."""

    _kind = OpenInferenceSpanKindValues.EVALUATOR.value

    def __init__(
        self,
        name: str,
        suite: str | None,
        case_id: str | None,
        input: Any,
        attributes: Mapping[str, Any] | None,
        tracer: Tracer | None,
    ) -> None:
        super().__init__(name, tracer, attributes)
        self.eval_name = name
        self.suite = suite
        self.case_id = case_id
        self._input = input
        self.score: float | None = None
        self.label: str | None = None
        self.explanation: str | None = None

    def _start_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {EVAL_NAME: self.eval_name}
        if self.suite is not None:
            attrs[EVAL_SUITE] = self.suite
        if self.case_id is not None:
            attrs[EVAL_CASE_ID] = self.case_id
        if self._input is not None:
            attrs[SpanAttributes.INPUT_VALUE] = to_text(self._input)
            attrs[SpanAttributes.INPUT_MIME_TYPE] = mime_of(self._input)
        return attrs

    def set_result(
        self, score: float | None = None, label: str | None = None, explanation: str | None = None
    ) -> None:
        """Record the verdict: numeric ``score``, categorical ``label`` and the judge's ``explanation``."""
        if score is not None and not isinstance(score, (int, float)):
            raise TracingConfigError(f"score must be a number or None, got {score!r}")
        self.score, self.label, self.explanation = score, label, explanation
        if not self.recording:
            return
        attrs: dict[str, Any] = {}
        if score is not None:
            attrs[EVAL_SCORE] = float(score)
        if label is not None:
            attrs[EVAL_LABEL] = label
        if explanation is not None:
            attrs[EVAL_EXPLANATION] = to_text(explanation)
        result = {"score": score, "label": label, "explanation": explanation}
        attrs[SpanAttributes.OUTPUT_VALUE] = to_text(result)
        attrs[SpanAttributes.OUTPUT_MIME_TYPE] = "application/json"
        self.span.set_attributes(attrs)

    def set_failure(self, reason: str) -> None:
        """Record that the judge produced no verdict (e.g. unparseable reply) and why."""
        if self.recording:
            self.span.set_attributes({EVAL_FAILURE: to_text(reason)})
            self.span.set_status(Status(StatusCode.ERROR, f"judge failure: {reason}"[:500]))


def evaluator_span(
    name: str,
    *,
    suite: str | None = None,
    case_id: str | None = None,
    input: Any = None,
    attributes: Mapping[str, Any] | None = None,
    tracer: Tracer | None = None,
) -> EvaluatorCall:
    """An EVALUATOR span for one judge on one case (``eval.name/suite/case_id``); LLM spans nest inside."""
    if not name:
        raise TracingConfigError("evaluator_span needs a non-empty name such as 'geval:coherence'")
    return EvaluatorCall(name, suite, case_id, input, attributes, tracer)


class ChainCall(_SpanRecorder):
    """A CHAIN (or other kind) span with input/output values; returned by :func:`chain_span`."""

    def __init__(
        self,
        name: str,
        kind: str,
        input: Any,
        session_id: str | None,
        user_id: str | None,
        attributes: Mapping[str, Any] | None,
        tracer: Tracer | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name, tracer, attributes)
        self._kind = kind
        self._input = input
        self._session: tuple[tuple[str, str], ...] = ()
        if session_id is not None:
            self._session += ((SpanAttributes.SESSION_ID, str(session_id)),)
        if user_id is not None:
            self._session += ((SpanAttributes.USER_ID, str(user_id)),)
        if metadata:  # OpenInference metadata is one JSON attribute; readers of any span inside see it
            self._session += ((SpanAttributes.METADATA, json.dumps(dict(metadata), sort_keys=True, default=str)),)
        self.output: Any = None

    def __enter__(self) -> Self:
        if self._session:
            merged = dict(_SESSION.get())
            merged.update(self._session)
            self._session_token = _SESSION.set(tuple(merged.items()))
        return cast(Self, super().__enter__())

    def _start_attributes(self) -> dict[str, Any]:
        if self._input is None:
            return {}
        return {
            SpanAttributes.INPUT_VALUE: to_text(self._input),
            SpanAttributes.INPUT_MIME_TYPE: mime_of(self._input),
        }

    def set_output(self, value: Any) -> None:
        """Record the chain's result as ``output.value``."""
        self.output = value
        if self.recording and value is not None:
            self.span.set_attributes(
                {SpanAttributes.OUTPUT_VALUE: to_text(value), SpanAttributes.OUTPUT_MIME_TYPE: mime_of(value)}
            )


def _check_kind(kind: str) -> str:
    upper = kind.upper()
    if upper not in _VALID_KINDS:
        raise TracingConfigError(f"unknown span kind {kind!r}; use one of {sorted(_VALID_KINDS)}")
    return upper


def chain_span(
    name: str,
    *,
    input: Any = None,
    session_id: str | None = None,
    user_id: str | None = None,
    kind: str = "CHAIN",
    attributes: Mapping[str, Any] | None = None,
    tracer: Tracer | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ChainCall:
    """A CHAIN span; ``session_id``/``user_id`` and ``metadata`` (e.g. topic, language) are recorded on it
    and on every helper span inside it, so an LLM span read alone still carries them."""
    return ChainCall(name, _check_kind(kind), input, session_id, user_id, attributes, tracer, metadata)


class RetrieverCall(_SpanRecorder):
    """A RETRIEVER span; returned by :func:`retriever_span`."""

    _kind = OpenInferenceSpanKindValues.RETRIEVER.value

    def __init__(
        self,
        name: str,
        query: str,
        documents: Sequence[Any] | None,
        attributes: Mapping[str, Any] | None,
        tracer: Tracer | None,
    ) -> None:
        super().__init__(name, tracer, attributes)
        self.query = query
        self._documents = documents

    def _start_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            SpanAttributes.INPUT_VALUE: to_text(self.query),
            SpanAttributes.INPUT_MIME_TYPE: "text/plain",
        }
        if self._documents:
            attrs.update(document_attributes(self._documents))
        return attrs

    def set_documents(self, documents: Sequence[Any]) -> None:
        """Record the retrieved documents (str, or mappings with content/id/score/metadata)."""
        if self.recording:
            self.span.set_attributes(document_attributes(documents))


def retriever_span(
    query: str,
    documents: Sequence[Any] | None = None,
    *,
    name: str = "retrieve",
    attributes: Mapping[str, Any] | None = None,
    tracer: Tracer | None = None,
) -> RetrieverCall:
    """A RETRIEVER span for ``query``; pass ``documents`` now or call ``set_documents`` inside the block."""
    return RetrieverCall(name, query, documents, attributes, tracer)


def _call_input(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return None  # the call itself will raise the same TypeError, recorded on the span
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def traced(
    kind: str = "CHAIN", *, name: str | None = None, tracer: Tracer | None = None
) -> Callable[[_F], _F]:
    """Decorator: run the function (sync or async) inside a span of ``kind`` with its arguments and result."""
    span_kind = _check_kind(kind)

    def decorate(func: _F) -> _F:
        span_name = name or func.__qualname__
        sig = inspect.signature(func)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with ChainCall(span_name, span_kind, None, None, None, None, tracer) as call:
                    if call.recording:
                        call.set_attributes(_input_attrs(_call_input(sig, args, kwargs)))
                    result = await func(*args, **kwargs)
                    call.set_output(result)
                    return result

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with ChainCall(span_name, span_kind, None, None, None, None, tracer) as call:
                if call.recording:
                    call.set_attributes(_input_attrs(_call_input(sig, args, kwargs)))
                result = func(*args, **kwargs)
                call.set_output(result)
                return result

        return cast(_F, wrapper)

    return decorate


def _input_attrs(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return {SpanAttributes.INPUT_VALUE: to_text(value), SpanAttributes.INPUT_MIME_TYPE: mime_of(value)}
