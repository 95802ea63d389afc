"""Sources: chunking with overlap and positions, JSONL/Markdown documents, bad inputs, golden cases, the log."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from synth import load_documents, load_golden, load_log
from synth._sources import chunk_text
from synth.errors import SynthSourceError


def test_chunks_overlap_and_keep_their_offsets() -> None:
    text = " ".join(f"word{i}" for i in range(300))  # 2,389 characters
    pieces = chunk_text(text, size=500, overlap=100)
    assert len(pieces) >= 5
    for offset, piece in pieces:
        assert text[offset : offset + len(piece)] == piece  # the offset points at the chunk in the document
        assert len(piece) <= 500
    for (o1, p1), (o2, _) in itertools.pairwise(pieces):
        assert o2 < o1 + len(p1)  # neighbours overlap
        assert o1 + len(p1) - o2 <= 100 + 1
    assert pieces[-1][0] + len(pieces[-1][1]) == len(text)  # nothing is lost at the end


def test_chunk_cuts_on_a_sentence_boundary() -> None:
    text = "A" * 420 + ". " + "B" * 300
    (_, first), *_ = chunk_text(text, size=500, overlap=50)
    assert first.endswith(".")


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_chunk_rejects_bad_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("text", size=size, overlap=overlap)


def test_documents_of_each_format_and_the_bad_ones_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nMarkdown body about gardens.")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"id": "x1", "text": "First document."}) + "\n\n"
        + json.dumps({"id": "x2", "title": "no text"}) + "\n" + "{not json\n"
    )
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "long.txt").write_text("Sentence number one is here. " * 100)
    chunks, skipped = load_documents([tmp_path], size=1200, overlap=200)
    sources = {c.source for c in chunks}
    assert str(tmp_path / "a.md") in sources
    assert f"{tmp_path / 'b.jsonl'}#x1" in sources
    long = [c for c in chunks if c.source.endswith("long.txt")]
    assert len(long) == 3 and long[0].position == 0 and long[1].position > 0
    reasons = {Path(s.source.split(":")[0].split("#")[0]).name: s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty document"
    assert "binary" in reasons["blob.txt"]
    assert "split into 3 chunks" in reasons["long.txt"]
    assert any("no text field" in s.reason for s in skipped) and any("not valid JSON" in s.reason for s in skipped)


def test_missing_document_is_an_error_that_names_it(tmp_path: Path) -> None:
    with pytest.raises(SynthSourceError, match="nope.md does not exist"):
        load_documents([tmp_path / "nope.md"])


def test_golden_cases_seed_variations_with_their_contexts(tmp_path: Path) -> None:
    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps({"id": "g1", "question": "How many moons has Mars?", "contexts": ["Mars has two moons.",
                                                                                         "Both found in 1877."]}) + "\n"
                 + json.dumps({"id": "g2", "question": "No context here?"}) + "\n")
    chunks, skipped = load_golden(p)
    assert [c.source for c in chunks] == ["golden:g.jsonl#g1"]
    assert chunks[0].contexts == ("Mars has two moons.", "Both found in 1877.")
    assert chunks[0].seed_question == "How many moons has Mars?"
    assert skipped[0].source == "golden:g.jsonl#g2"


def test_log_prompts_are_redacted_before_use_and_an_empty_log_is_an_error(tmp_path: Path) -> None:
    log = tmp_path / "prod.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Mail me at jane.doe@example.com about my order", "span_id": "s1"},
        {"prompt": "Mail me at jane.doe@example.com about my order", "span_id": "s2"},
        {"prompt": "", "span_id": "s3"},
    ]) + "\n")
    chunks, skipped = load_log(log)
    assert len(chunks) == 1
    assert "jane.doe@example.com" not in (chunks[0].seed_question or "") and "[EMAIL]" in (chunks[0].seed_question or "")
    assert {s.reason for s in skipped} == {"1 of 3 rows have no prompt", "1 repeated prompts used once"}
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"prompt": None}) + "\n")
    with pytest.raises(SynthSourceError, match="no usable rows: 1 rows, 1 without a prompt"):
        load_log(empty)
