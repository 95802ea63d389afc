"""Where generated rows start: chunks of documents, golden cases to vary, redacted production inputs.

Every context keeps where it came from (``source``: the file and the document's id; ``position``: the
chunk's character offset), so per-source balance can be measured and reviewers can check the row.
Inputs that give nothing (an empty or binary file, a log without prompts) are returned as
:class:`Skipped` records, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from judges.datasets import jsonl_lines
from synth.errors import SynthSourceError

#: Characters per chunk and overlap between neighbours. 1,200 characters is ~300 tokens: with the
#: prompt and the reply it fits the local model's 4,096-token window several times over.
CHUNK_CHARS = 1200
OVERLAP_CHARS = 200
_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}


@dataclass(frozen=True)
class Chunk:
    """One context to generate from.

    ``kind`` says where it came from: "doc" (a document chunk), "golden" (a golden case whose question
    seeds the variation) or "log" (a redacted production prompt; no context text).
    """

    source: str  # "examples/qa_corpus.jsonl#writing-1", "notes.md", "golden:rag_qa.jsonl#rag-01", "log:prod.jsonl"
    position: int  # character offset in the document (doc), line number (golden, log)
    text: str  # the context; "" for log inputs
    kind: str = "doc"
    seed_question: str | None = None  # golden and log inputs bring their own question
    reference: str | None = None
    contexts: tuple[str, ...] = ()  # golden rows: all of the case's contexts

    @property
    def id(self) -> str:
        return f"{self.source}@{self.position}"


@dataclass(frozen=True)
class Skipped:
    """An input, or part of one, that gave no context, and why."""

    source: str
    reason: str


def chunk_text(text: str, *, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[tuple[int, str]]:
    """Split ``text`` into ``(offset, chunk)`` pieces of at most ``size`` characters overlapping by ``overlap``.

    Cuts fall on a paragraph, sentence or word boundary inside the last fifth of a piece when there is one.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    text = text.strip()
    out: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            window = text[start + size * 4 // 5 : end]
            for sep in ("\n\n", ". ", "\n", " "):
                cut = window.rfind(sep)
                if cut >= 0:
                    end = start + size * 4 // 5 + cut + len(sep)
                    break
        piece = text[start:end].strip()
        if piece:
            out.append((start, piece))
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return out


def _read_text(path: Path) -> str | Skipped:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        return Skipped(str(path), "binary file (NUL bytes); give text, Markdown or JSONL")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Skipped(str(path), f"not UTF-8 text (byte {exc.start}); give text, Markdown or JSONL")
    if not text.strip():
        return Skipped(str(path), "empty document")
    return text


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and (q.suffix in _TEXT_SUFFIXES or q.suffix == ".jsonl"))
        elif p.is_file():
            out.append(p)
        else:
            raise SynthSourceError(f"document {p} does not exist; pass text, Markdown or JSONL files or a folder")
    return out


def load_documents(
    paths: Iterable[str | Path], *, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS
) -> tuple[list[Chunk], list[Skipped]]:
    """Chunks of text, Markdown and JSONL documents (a folder is searched), and the inputs skipped.

    A JSONL line is one document: its text is the first of ``text``, ``content``, ``body``, ``article``,
    ``context`` that is a non-empty string, its name ``<file>#<id>`` (the line number without an id).
    A document longer than ``size`` is split into overlapping chunks, each recorded with its offset.
    """
    chunks: list[Chunk] = []
    skipped: list[Skipped] = []
    for path in _expand(paths):
        text = _read_text(path)
        if isinstance(text, Skipped):
            skipped.append(text)
            continue
        docs: list[tuple[str, str]] = []
        if path.suffix == ".jsonl":
            for n, row in jsonl_lines(text):
                if isinstance(row, json.JSONDecodeError):
                    skipped.append(Skipped(f"{path}:{n}", f"not valid JSON ({row.msg})"))
                    continue
                body = next((row[k] for k in ("text", "content", "body", "article", "context")
                             if isinstance(row, dict) and isinstance(row.get(k), str) and row[k].strip()), None)
                if body is None:
                    skipped.append(Skipped(f"{path}:{n}", "no text field (text, content, body, article, context)"))
                    continue
                docs.append((f"{path}#{row.get('id', n)}", body))
        else:
            docs.append((str(path), text))
        for name, body in docs:
            pieces = chunk_text(body, size=size, overlap=overlap)
            if len(pieces) > 1:
                skipped.append(Skipped(name, f"longer than {size} characters: split into {len(pieces)} chunks"))
            chunks += [Chunk(name, offset, piece) for offset, piece in pieces]
    return chunks, skipped


def load_golden(path: str | Path, kind: str = "rag") -> tuple[list[Chunk], list[Skipped]]:
    """Golden cases to vary: each case's question seeds a variation grounded in the case's context.

    Read with ``judges.load_cases`` (so a bad row fails with its line); cases without a context
    are skipped, since a variation must be grounded in one.
    """
    from judges import load_cases

    chunks: list[Chunk] = []
    skipped: list[Skipped] = []
    for n, case in enumerate(load_cases(path, kind), 1):
        name = f"golden:{Path(path).name}#{case.id}"
        contexts = _golden_contexts(case.context)
        if not contexts:
            skipped.append(Skipped(name, "no context to ground a variation in"))
            continue
        chunks.append(Chunk(name, n, "\n\n".join(contexts), kind="golden", seed_question=case.input,
                            reference=case.expected, contexts=tuple(contexts)))
    return chunks, skipped


def _golden_contexts(context: str | None) -> list[str]:
    if not context:
        return []
    # judges.datasets joins a case's contexts as "[1] ...\n\n[2] ..."
    parts = [p.split("] ", 1)[1] if p.startswith("[") and "] " in p else p for p in context.split("\n\n")]
    return [p.strip() for p in parts if p.strip()]


def load_log(path: str | Path, *, redactor: object | None = None) -> tuple[list[Chunk], list[Skipped]]:
    """Real user inputs from the production log, PII masked by the tracing redactor before any other use.

    Read through ``tracing.production_log`` (the one reader of the log). Rows without a prompt are
    skipped; a log with no usable row at all is a :class:`SynthSourceError` that says what the rows lacked.
    """
    from tracing import Redactor
    from tracing.production_log import read_rows

    red = redactor if isinstance(redactor, Redactor) else Redactor()
    rows = read_rows(path)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    skipped: list[Skipped] = []
    empty = dupes = 0
    for n, row in enumerate(rows, 1):
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            empty += 1
            continue
        masked = red.redact(prompt.strip())
        if masked in seen:
            dupes += 1
            continue
        seen.add(masked)
        chunks.append(Chunk(f"log:{Path(path).name}#{row.get('span_id') or n}", n, "", kind="log",
                            seed_question=masked))
    if empty:
        skipped.append(Skipped(f"log:{path}", f"{empty} of {len(rows)} rows have no prompt"))
    if dupes:
        skipped.append(Skipped(f"log:{path}", f"{dupes} repeated prompts used once"))
    if not chunks:
        raise SynthSourceError(f"production log {path} has no usable rows: {len(rows)} rows, {empty} without a prompt"
                          + (f", {dupes} repeated" if dupes else ""))
    return chunks, skipped


def by_source(chunks: Sequence[Chunk]) -> dict[str, list[Chunk]]:
    """Chunks grouped by their source document, in first-seen order."""
    out: dict[str, list[Chunk]] = {}
    for c in chunks:
        out.setdefault(c.source, []).append(c)
    return out
