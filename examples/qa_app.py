"""An instrumented question-answering app: retrieval over a tiny corpus, then the local model.

It produces realistic production traffic for the rest of the harness: every request is a CHAIN
span (with ``session.id``/``user.id``) holding a RETRIEVER span and the model client's LLM span,
sent to Phoenix, and one row of the JSONL production log that ``drift/`` and the review queues read.

    python -m tracing.phoenix_server start                      # once, in another shell
    python examples/qa_app.py --requests 40 --log logs/prod.jsonl --phoenix http://127.0.0.1:6006
    python examples/qa_app.py --requests 40 --log logs/shifted.jsonl --topics coding,math --multilingual-share 0.5

The drift demo (docs/drift.md) makes three logs in seconds with ``--model stand-in``, a stand-in for the
model that answers from the retrieved passages and simulates its latency on its own clock.

Questions are the 80 MT-Bench questions shipped in ``examples/mtbench_questions.jsonl`` (Apache-2.0, see
``examples/LICENSE-mtbench.txt``): the first turn, then the follow-up turn in the same session; a share of
requests is asked in French, German or Spanish (of the selected topics) so the ``language`` column varies.
Model calls bypass the response cache: a repeated question must cost what it costs in production.

Log row (one JSON object per line)::

    timestamp (ISO 8601, UTC), prompt, response, model, topic, language, latency_ms, ttft_ms,
    tpot_ms, prompt_tokens, completion_tokens, cost_usd, judge_score (null), label (null),
    session_id, user_id, trace_id, span_id (null when tracing is off)

The model call is not streamed, so the first token reaches the user with the whole reply:
``ttft_ms`` equals ``latency_ms`` and ``tpot_ms`` is ``latency_ms / completion_tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import tracing
from tracing import production_log
from tracing.files import private_file

CORPUS_PATH = HERE / "qa_corpus.jsonl"
QUESTIONS_PATH = HERE / "mtbench_questions.jsonl"  # MT-Bench, Apache-2.0: examples/LICENSE-mtbench.txt
_WORD = re.compile(r"\w+", re.UNICODE)


class ModelClientLike(Protocol):
    """Anything with ``async complete(request)`` returning ``.text``, ``.model`` and ``.usage``."""

    async def complete(self, request: Any) -> Any: ...


@dataclass(frozen=True)
class Document:
    """One passage of the corpus."""

    id: str
    topic: str
    text: str


@dataclass(frozen=True)
class Question:
    """A user question; ``follow_up`` is asked next in the same session."""

    text: str
    topic: str
    follow_up: str | None = None


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens (Unicode letters and digits)."""
    return [w.lower() for w in _WORD.findall(text)]


class TfidfRetriever:
    """Cosine similarity over TF-IDF vectors (smoothed idf, as scikit-learn's default)."""

    def __init__(self, documents: Sequence[Document]) -> None:
        if not documents:
            raise ValueError("TfidfRetriever needs at least one document; the corpus file is empty")
        self.documents = list(documents)
        counts = [Counter(tokenize(d.text)) for d in self.documents]
        n = len(counts)
        df = Counter(term for c in counts for term in c)
        self.idf = {t: math.log((1 + n) / (1 + k)) + 1.0 for t, k in df.items()}
        self._vectors = [self._normalise({t: tf * self.idf[t] for t, tf in c.items()}) for c in counts]

    @staticmethod
    def _normalise(vec: dict[str, float]) -> dict[str, float]:
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def search(self, query: str, k: int = 3) -> list[tuple[Document, float]]:
        """The ``k`` best documents with their cosine score (documents sharing no word are left out)."""
        q = self._normalise(
            {t: tf * self.idf[t] for t, tf in Counter(tokenize(query)).items() if t in self.idf}
        )
        scored = [
            (doc, sum(w * vec.get(t, 0.0) for t, w in q.items()))
            for doc, vec in zip(self.documents, self._vectors)
        ]
        scored = [s for s in scored if s[1] > 0]
        scored.sort(key=lambda s: (-s[1], s[0].id))
        return scored[:k]


_STOPWORDS = {
    "en": {
        "the",
        "is",
        "and",
        "of",
        "to",
        "what",
        "how",
        "a",
        "in",
        "you",
        "your",
        "are",
        "can",
        "for",
        "with",
    },
    "fr": {
        "le",
        "la",
        "les",
        "est",
        "et",
        "de",
        "des",
        "une",
        "un",
        "quelle",
        "quel",
        "pourquoi",
        "comment",
        "en",
        "du",
    },
    "de": {"der", "die", "das", "ist", "und", "wie", "was", "ein", "eine", "warum", "im", "zu", "den", "mit"},
    "es": {"el", "la", "los", "es", "y", "de", "que", "qué", "cómo", "una", "un", "por", "en", "del"},
}


def detect_language(text: str) -> str:
    """ISO 639-1 code by stopword overlap (en, fr, de, es); ``"en"`` on a tie or no signal."""
    words = tokenize(text)
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: (scores[lang], lang == "en"))
    return best if scores[best] > 0 else "en"


BUILTIN_QUESTIONS = [
    Question("Which river is the longest in the world?", "stem", "And which one carries the most water?"),
    Question("How does binary search work and what is its running time?", "coding", "Write it in Python."),
    Question(
        "What is the area of a triangle with vertices (0,0), (4,0) and (0,3)?", "math", "And its perimeter?"
    ),
    Question("If you overtake the second person in a race, what position are you in?", "reasoning"),
    Question(
        "Draft a short email asking my supervisor for feedback on a report.",
        "writing",
        "Make it more formal.",
    ),
    Question("What is the difference between fiscal and monetary policy?", "humanities"),
    Question("Explain photosynthesis to a ten-year-old.", "stem"),
    Question(
        "Extract the dates from: the contract was signed on 17 May 2024 and ends in June 2025.", "extraction"
    ),
    Question("Pretend you are Sherlock Holmes and describe your morning.", "roleplay"),
    Question("Why should antibiotics not be used against viruses?", "stem"),
]
MULTILINGUAL_QUESTIONS = [
    Question("Quelle est la date de la prise de la Bastille et pourquoi est-elle importante ?", "humanities"),
    Question("Comment fonctionne la photosynthèse dans les plantes ?", "stem"),
    Question("Wie schnell ist das Licht im Vakuum und warum ist das wichtig?", "stem"),
    Question("Was ist der Unterschied zwischen Angebot und Nachfrage?", "humanities"),
    Question("¿A qué temperatura hierve el agua en la montaña y por qué?", "stem"),
    Question("¿Qué es la búsqueda binaria y cómo se usa?", "coding"),
]


def load_corpus(path: Path = CORPUS_PATH) -> list[Document]:
    """Documents from a JSONL file of ``{"id", "topic", "text"}``."""
    docs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            try:
                docs.append(Document(str(row["id"]), str(row["topic"]), str(row["text"])))
            except KeyError as exc:
                raise ValueError(
                    f"{path}:{n}: corpus rows need 'id', 'topic' and 'text'; missing {exc}"
                ) from exc
    return docs


def load_questions(path: Path = QUESTIONS_PATH) -> list[Question]:
    """MT-Bench first turns, with the second turn as follow-up (``examples/mtbench_questions.jsonl``)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            turns = row["turns"]
            out.append(Question(turns[0], row["category"], turns[1] if len(turns) > 1 else None))
    return out


def select_topics(questions: Sequence[Question], topics: str | None) -> list[Question]:
    """Keep the questions of the comma-separated ``topics`` (all when None), e.g. to simulate drift;
    :func:`run_traffic` asks multilingual questions of those topics only."""
    if not topics:
        return list(questions)
    wanted = {t.strip() for t in topics.split(",") if t.strip()}
    known = {q.topic for q in questions}
    if unknown := wanted - known:
        raise ValueError(f"unknown topics {sorted(unknown)}; available: {sorted(known)}")
    return [q for q in questions if q.topic in wanted]


def build_prompt(
    question: str, passages: Sequence[Document] | None, history: Sequence[tuple[str, str]] = ()
) -> str:
    """The model prompt: retrieved context, earlier turns of the session, then the question.

    ``passages=None`` leaves the context out (the degraded "no-context" variant the eval suite catches).
    """
    earlier = "".join(f"Q: {q}\nA: {a}\n" for q, a in history)
    if passages is None:
        return f"Answer briefly.\n{earlier}Q: {question}\nA:"
    context = "\n".join(f"- {d.text}" for d in passages) or "- (no relevant passage found)"
    return f"Answer briefly using the context.\nContext:\n{context}\n{earlier}Q: {question}\nA:"


@dataclass(frozen=True)
class Reply:
    """One answer: the text, the passages it was given, the model's completion and the span ids."""

    text: str
    passages: tuple[Document, ...]
    completion: Any
    latency_ms: float
    ids: tuple[str, str] | None


def call_figures(completion: Any, latency_ms: float) -> dict[str, Any]:
    """The figures of one model call that the log and the request's span both carry (one definition)."""
    prompt_tokens = int(completion.usage.prompt_tokens)
    completion_tokens = int(completion.usage.completion_tokens)
    return {
        "model": completion.model,
        "latency_ms": round(latency_ms, 3),
        "ttft_ms": round(latency_ms, 3),  # not streamed: the first token arrives with the reply
        "tpot_ms": round(latency_ms / completion_tokens, 3) if completion_tokens else None,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": tracing.estimate_cost(completion.model, prompt_tokens, completion_tokens),
    }


class QAApp:
    """Answers questions with retrieval + a model client, traces each request and logs it.

    ``log_path=None`` logs nothing (as under evaluation); ``use_context=False`` drops the retrieved
    passages from the prompt, the degraded variant that ``evals/test_qa_app.py`` must catch.
    """

    def __init__(
        self,
        client: ModelClientLike,
        retriever: TfidfRetriever,
        log_path: Path | None,
        *,
        max_tokens: int = 64,
        temperature: float = 0.7,
        use_context: bool = True,
        request_factory: Any = None,
        timer: Callable[[], float] = time.perf_counter,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        redact_log: bool = True,
    ) -> None:
        self.client = client
        # the production log keeps prompts and replies on disk: mask e-mails, phones, cards and keys with the
        # tracing redactor, as spans are, unless the caller explicitly opts out
        self._redact = tracing.Redactor().redact if redact_log else None
        self.retriever = retriever
        self.log_path = Path(log_path) if log_path is not None else None
        self._log_private = False
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.use_context = use_context
        self._request = request_factory or _judges_request
        # A stand-in model brings its own clock (simulated latency); a real one is timed by the wall clock.
        self._timer = timer
        self._now = now

    async def reply(
        self,
        question: str,
        *,
        session_id: str,
        user_id: str,
        history: Sequence[tuple[str, str]] = (),
        topic: str | None = None,
    ) -> Reply:
        """Retrieve, prompt the model and return the reply (traced; nothing logged).

        ``topic`` and the detected language go on every span as OpenInference metadata, so rows read back
        from Phoenix carry the same topic and language columns as the JSONL log.
        """
        metadata = {"language": detect_language(question), **({"topic": topic} if topic else {})}
        with tracing.chain_span("qa", input=question, session_id=session_id, user_id=user_id,
                                metadata=metadata) as chain:
            with tracing.retriever_span(question) as retrieval:
                hits = self.retriever.search(question, k=3)
                retrieval.set_documents([{"id": d.id, "content": d.text, "score": s} for d, s in hits])
            passages = tuple(d for d, _ in hits)
            prompt = build_prompt(question, passages if self.use_context else None, history)
            t0 = self._timer()
            completion = await self.client.complete(
                self._request([{"role": "user", "content": prompt}], self.max_tokens, self.temperature)
            )
            latency_ms = (self._timer() - t0) * 1000.0
            chain.set_output(completion.text)
            # the app's own figures of the call go on the request's span too: read back from Phoenix, the row
            # is the row this app logs (its latency is on its clock; the LLM span times the wall clock)
            chain.set_attributes(production_log.row_attributes(call_figures(completion, latency_ms)))
        return Reply(completion.text, passages if self.use_context else (), completion, latency_ms, chain.ids)

    async def answer(
        self,
        question: str,
        *,
        topic: str,
        session_id: str,
        user_id: str,
        history: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """Answer one question; returns (and appends to the log) its production-log row."""
        reply = await self.reply(question, session_id=session_id, user_id=user_id, history=history, topic=topic)
        completion, ids = reply.completion, reply.ids
        row = {
            "timestamp": self._now().isoformat(),
            "prompt": question,
            "response": completion.text,
            "topic": topic,
            "language": detect_language(question),
            **call_figures(completion, reply.latency_ms),
            "judge_score": None,
            "label": None,
            "session_id": session_id,
            "user_id": user_id,
            "trace_id": ids[0] if ids else None,
            "span_id": ids[1] if ids else None,
        }
        if self.log_path is not None:
            logged = row
            if self._redact is not None:
                logged = {**row, "prompt": self._redact(row["prompt"]), "response": self._redact(row["response"])}
            if not self._log_private:  # prompts and replies: 0600 in folders made 0700, whatever the umask
                private_file(self.log_path)
                self._log_private = True
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(logged, ensure_ascii=False) + "\n")
        return row


VARIANTS = ("default", "no-context")


def _one_answer_request(messages: list[dict[str, str]], max_tokens: int, temperature: float) -> Any:
    from judges import ModelRequest

    # a base model goes on to invent the next "Q:"; one answer is what the user sees
    return ModelRequest(messages=messages, max_tokens=max_tokens, temperature=temperature, stop=("\nQ:", "\n\n"))


def eval_task(variant: str = "default", model: str = "local", *, max_tokens: int = 48) -> Any:
    """The app as a task under test (``experiments.Task``): one question in, the answer and its passages out.

    Greedy decoding (temperature 0) so a rerun of an unchanged app reproduces its baseline; model calls
    bypass the call cache, so the suite sees what the app does now. ``variant="no-context"`` is the
    degraded app (retrieved passages left out of the prompt).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown QA app variant {variant!r}; use one of {VARIANTS}")
    from experiments import Task, TaskOutput
    from judges import get_model

    app: QAApp | None = None

    async def qa_app(case: Any) -> Any:
        nonlocal app
        if app is None:  # built on first use: collecting the suite must not load the model
            app = QAApp(get_model(model, cache=None), TfidfRetriever(load_corpus()), None,
                        max_tokens=max_tokens, temperature=0.0, use_context=variant != "no-context",
                        request_factory=_one_answer_request)
        reply = await app.reply(case.input, session_id=f"eval-{case.id}", user_id="eval")
        usage = reply.completion.usage
        return TaskOutput(reply.text.strip(), contexts=tuple(d.text for d in reply.passages),
                          prompt_tokens=int(usage.prompt_tokens), completion_tokens=int(usage.completion_tokens))

    return Task(qa_app, name=f"qa_app[{variant}]", version="1")


def _judges_request(messages: list[dict[str, str]], max_tokens: int, temperature: float) -> Any:
    from judges import ModelRequest

    return ModelRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)


def multilingual_pool(questions: Sequence[Question], requests: int, multilingual_share: float) -> list[Question]:
    """Check the traffic settings and return the multilingual questions of the topics in ``questions``."""
    if requests < 1:
        raise ValueError(f"requests must be >= 1, got {requests}")
    if not questions:
        raise ValueError("no questions to ask; pass a non-empty question list")
    if not 0.0 <= multilingual_share <= 1.0:
        raise ValueError(f"multilingual_share must be within [0, 1], got {multilingual_share}")
    topics = {q.topic for q in questions}
    pool = [q for q in MULTILINGUAL_QUESTIONS if q.topic in topics]
    if multilingual_share > 0 and not pool:
        have = sorted({q.topic for q in MULTILINGUAL_QUESTIONS})
        raise ValueError(f"no multilingual questions for topics {sorted(topics)} (there are some for {have}); "
                         f"use --multilingual-share 0 or add one of those topics")
    return pool


async def run_traffic(
    app: QAApp,
    questions: Sequence[Question],
    requests: int,
    *,
    seed: int = 0,
    users: int = 12,
    multilingual_share: float = 0.15,
) -> list[dict[str, Any]]:
    """Simulate ``requests`` requests: sessions of one user asking a question and maybe its follow-up.

    A ``multilingual_share`` of the sessions asks a French, German or Spanish question of the same topics
    as ``questions`` (so a topic-filtered run stays within its topics)."""
    multilingual = multilingual_pool(questions, requests, multilingual_share)
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    session_no = 0
    while len(rows) < requests:
        session_no += 1
        session_id = f"sess-{seed}-{session_no:05d}"
        user_id = f"user-{rng.randrange(users):03d}"
        q = rng.choice(multilingual) if rng.random() < multilingual_share else rng.choice(questions)
        history: list[tuple[str, str]] = []
        for text in (q.text, q.follow_up):
            if text is None or len(rows) >= requests:
                break
            row = await app.answer(
                text, topic=q.topic, session_id=session_id, user_id=user_id, history=history
            )
            history.append((text, row["response"]))
            rows.append(row)
            if rng.random() < 0.4:  # not every user asks the follow-up
                break
    return rows


class StandInModel:
    """A stand-in for the model, for demos that need many requests quickly (the drift demo).

    No weights, no network: it answers with the first sentence or two of the top retrieved passage and
    "takes" a simulated time that grows with the prompt and the answer (lognormal noise), kept on its own
    clock, so 500 requests are logged in a second and their latencies do not depend on how busy the machine
    is. It is served through the judges ``ModelClient`` like any provider (LLM spans, no cache). It is not a
    model: never evaluate it.
    """

    name = "stand-in"

    def __init__(self, seed: int = 0, start: datetime | None = None) -> None:
        self._rng = random.Random(seed)
        self.elapsed_s = 0.0
        self._start = start or datetime.now(UTC)

    def timer(self) -> float:
        """Seconds on the simulated clock."""
        return self.elapsed_s

    def now(self) -> datetime:
        """The simulated wall-clock time."""
        return self._start + timedelta(seconds=self.elapsed_s)

    def reply(self, request: Any) -> Any:
        """The completion for a judges ``ModelRequest``; advances the clock by the simulated latency."""
        from judges import Completion
        from judges.types import Usage

        prompt = request.messages[-1].content
        passages = [line[2:] for line in prompt.splitlines() if line.startswith("- ")]
        sentences = re.split(r"(?<=[.!?])\s+", passages[0]) if passages else ["I cannot tell from the context."]
        words = " ".join(sentences[: 1 + (self._rng.random() < 0.5)]).split()[: request.max_tokens]
        prompt_tokens = math.ceil(len(prompt.split()) * 1.3)
        completion_tokens = max(1, min(request.max_tokens, math.ceil(len(words) * 1.3)))
        seconds = 0.05 + 0.0004 * prompt_tokens + 0.02 * completion_tokens
        self.elapsed_s += seconds * self._rng.lognormvariate(0.0, 0.15)
        return Completion(text=" ".join(words), provider="stand-in", model=self.name,
                          usage=Usage(prompt_tokens, completion_tokens))

    def client(self) -> Any:
        """A judges ``ModelClient`` serving :meth:`reply` (no cache)."""
        from judges import ModelClient
        from judges.providers.fakes import FakeFunctionProvider

        return ModelClient(FakeFunctionProvider(self.reply, model=self.name), cache=None)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``--requests N --log PATH [--phoenix URL] [--project NAME] [--model SPEC] [--seed N]
    [--topics T,...] [--multilingual-share S]``. Bad arguments exit 2 with a message."""
    parser = argparse.ArgumentParser(description="Instrumented QA example app (retrieval + local model).")
    parser.add_argument("--requests", type=int, default=20, help="number of requests to simulate")
    parser.add_argument(
        "--log", type=Path, default=Path("logs/prod.jsonl"), help="JSONL production log (appended)"
    )
    parser.add_argument(
        "--phoenix",
        default=None,
        help="Phoenix URL; tracing off when absent and PHOENIX_COLLECTOR_ENDPOINT unset",
    )
    parser.add_argument("--project", default="qa-app", help="Phoenix project name")
    parser.add_argument(
        "--model",
        default="local",
        help="judges model spec (local, openai:gpt-4o-mini), or 'stand-in': answers from the retrieved "
        "passages with a simulated latency, for the drift demo (seconds instead of hours)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--topics", default=None, help="comma-separated topics to ask about (a shifted window)"
    )
    parser.add_argument("--multilingual-share", type=float, default=0.15, help="share of fr/de/es questions")
    parser.add_argument("--no-redact-log", action="store_true",
                        help="write prompts and replies to the log verbatim (default: e-mails, phones, cards "
                             "and keys are masked with the tracing redactor, as in spans)")
    args = parser.parse_args(argv)
    try:
        questions = select_topics(load_questions(), args.topics)
        multilingual_pool(questions, args.requests, args.multilingual_share)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2 with the message, not a traceback

    handle = None
    if args.phoenix or os.environ.get("PHOENIX_COLLECTOR_ENDPOINT"):
        handle = tracing.setup(args.phoenix, args.project)
    kw: dict[str, Any] = {}
    if args.model == StandInModel.name:
        stand_in = StandInModel(args.seed)
        client = stand_in.client()
        kw = {"timer": stand_in.timer, "now": stand_in.now}
    else:
        from judges import get_model

        client = get_model(args.model, cache=None)  # a cached reply would log cache warmth as "latency"
        if args.model.startswith("local"):
            asyncio.run(client.check())  # load the model now (the provider holds llama.cpp's log lines)
    app = QAApp(client, TfidfRetriever(load_corpus()), args.log, max_tokens=args.max_tokens,
                redact_log=not args.no_redact_log, **kw)
    t0 = time.perf_counter()
    rows = asyncio.run(
        run_traffic(app, questions, args.requests, seed=args.seed, multilingual_share=args.multilingual_share)
    )
    took = time.perf_counter() - t0
    print(
        f"{len(rows)} requests in {took:.1f}s, {len({r['session_id'] for r in rows})} sessions -> {args.log}"
    )
    if handle is not None:
        handle.force_flush(30)
        print(
            f"traces in {handle.endpoint} project {handle.project!r}; dropped spans: {handle.dropped_spans}"
        )
        handle.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
