"""The generation loop: sources in turn, an evolution and a persona per candidate, filters, balance, report.

Sources take turns (round-robin in a seeded order), so each source document gets about the same
number of rows; a candidate the filters reject (no valid reply, a duplicate by meaning, a critic score
under the threshold) is regenerated a bounded number of times at a higher temperature with another
fixed seed. Every model call goes through the client's cache, so a rerun replays a finished or
interrupted run without model calls, and the same seed gives the same set.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from judges import ModelClient
from synth._critic import Critic, CriticVerdict
from synth._evolutions import EVOLUTIONS, PERSONAS, choose_evolution, parse_mix
from synth._filters import DedupIndex, Embedder, balance, max_min_ratio, near_duplicate_share
from synth._generate import Candidate, generate_candidate
from synth._report import RejectedCandidate, SkippedInput, SynthReport
from synth._rows import GENERATOR_VERSION, Origin, SyntheticRow
from synth._sources import Chunk, Skipped, by_source
from synth._structured import CONSTRAINED_PROVIDERS
from synth.errors import SynthConfigError, SynthSourceError

#: The temperature of regenerations after a rejected first try (the first try is at 0).
RETRY_TEMPERATURE = 0.8


@dataclass(frozen=True)
class SynthConfig:
    """What to generate and how strictly to filter it.

    ``mix``: evolution weights (``None``: all equal); ``dedup_threshold``: cosine at or above which a
    question duplicates one already kept or a golden one; ``max_ratio``: the bound on the largest
    source's row count over the smallest's; ``critic=None`` turns the critic off.
    """

    n: int = 50
    seed: int = 0
    mix: Mapping[str, float] | str | None = None
    personas: tuple[str, ...] = tuple(PERSONAS)
    critic: Critic | None = field(default_factory=Critic)
    dedup_threshold: float = 0.9
    max_ratio: float = 3.0
    max_parse_retries: int = 2
    max_candidates: int | None = None  # the generation budget; None: 4 per requested row

    def __post_init__(self) -> None:
        if self.n < 1:
            raise SynthConfigError(f"n must be >= 1, got {self.n}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise SynthConfigError(f"max_candidates must be >= 1, got {self.max_candidates}")
        if self.max_ratio < 1:
            raise SynthConfigError(f"max_ratio must be >= 1, got {self.max_ratio}")
        if not 0 < self.dedup_threshold <= 1:
            raise SynthConfigError(f"dedup_threshold is a cosine in (0, 1], got {self.dedup_threshold}")
        unknown = sorted(set(self.personas) - set(PERSONAS))
        if unknown or not self.personas:
            raise SynthConfigError(f"unknown or no personas {unknown}; use some of {sorted(PERSONAS)}")


@dataclass(frozen=True)
class SynthResult:
    """The generated rows and their report."""

    rows: list[SyntheticRow]
    report: SynthReport


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def _usable(chunk: Chunk, mix: Mapping[str, float], has_partner: bool) -> list[str]:
    has_context = bool(chunk.text)
    return sorted(k for k in mix if (has_context or not EVOLUTIONS[k].needs_context)
                  and ((has_partner and has_context) or not EVOLUTIONS[k].needs_two))


class _Tally:
    def __init__(self) -> None:
        self.replies = self.parsed = self.candidates = 0
        self.scored = self.passed = self.dup_set = self.dup_golden = 0
        self.rejected: list[RejectedCandidate] = []

    def reject(self, cand: Candidate, step: str, reason: str, raw: str = "") -> None:
        self.rejected.append(RejectedCandidate(source=cand.chunk.id, evolution=cand.evolution, step=step,
                                               reason=reason, raw=raw))


async def synthesize(
    client: ModelClient,
    chunks: Sequence[Chunk],
    config: SynthConfig | None = None,
    *,
    embedder: Embedder | None = None,
    golden_questions: Sequence[str] = (),
    skipped: Sequence[Skipped] = (),
    progress: bool = False,
) -> SynthResult:
    """Generate up to ``config.n`` rows from ``chunks``; fewer (with the reason in the report) when the
    sources cannot support more or the filters reject too many.

    ``embedder`` defaults to the offline MiniLM (``embed.TextEmbedder``);
    ``golden_questions`` are the existing golden inputs new rows must not duplicate.
    """
    cfg = config or SynthConfig()
    if not chunks:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped) or "no inputs given"
        raise SynthSourceError(f"no usable input to generate from ({reasons})")
    mix = parse_mix(cfg.mix)
    if embedder is None:
        embedder = _default_embedder()
    t0 = time.perf_counter()
    stats0 = client.stats.snapshot()
    rng = random.Random(cfg.seed)
    groups = by_source(chunks)
    order = sorted(groups)
    rng.shuffle(order)
    with_text = [c for c in chunks if c.text]
    remaining = {c.id: _usable(c, mix, any(p.source != c.source for p in with_text)) for c in chunks}
    possible = sum(len(v) for v in remaining.values())
    target = min(cfg.n, possible)
    message = ""
    if cfg.n > possible:
        message = (f"asked for {cfg.n} rows but the sources support at most {possible} ({len(chunks)} contexts from "
                   f"{len(groups)} sources x the usable evolutions of {sorted(mix)}); generating up to {possible}. "
                   "Add documents, or widen the evolution mix.")
    golden = embedder.embed(list(golden_questions)) if golden_questions else None
    index = DedupIndex(cfg.dedup_threshold, golden)
    tally = _Tally()
    kept: list[tuple[SyntheticRow, np.ndarray]] = []
    cursor = dict.fromkeys(groups, 0)
    budget = cfg.max_candidates or 4 * cfg.n
    bar = _bar(target, progress)
    try:
        while len(kept) < target and tally.candidates < budget and any(remaining[c.id] for c in chunks):
            for src in order:
                if len(kept) >= target or tally.candidates >= budget:
                    break
                pick = _next_slot(groups[src], cursor, src, remaining, mix, rng)
                if pick is None:
                    continue
                chunk, evolution = pick
                persona = PERSONAS[rng.choice(cfg.personas)]
                partners = [c for c in with_text if c.source != chunk.source]
                partner = rng.choice(partners) if EVOLUTIONS[evolution].needs_two and partners else None
                got = await _one(client, chunk, evolution, persona.name, partner, cfg, embedder, index, tally)
                if got is not None:
                    kept.append(got)
                    index.add(got[1])
                    bar.update(1)
    finally:
        bar.close()
    rows = [r for r, _ in kept]
    balanced = balance(kept, [r.origin.source for r in rows], cfg.max_ratio)
    for row, _ in kept:
        if all(row is not b[0] for b in balanced):
            tally.rejected.append(RejectedCandidate(source=row.origin.source, evolution=row.origin.evolution,
                                                    step="balance", reason=f"source over {cfg.max_ratio:g}x the smallest"))
    rows = [r for r, _ in balanced]
    vectors = np.stack([v for _, v in balanced]) if balanced else np.zeros((0, 1), dtype=np.float32)
    per_source = Counter(r.origin.source for r in rows)
    if len(rows) < cfg.n and not message:
        steps = Counter(r.step for r in tally.rejected)
        why = (f"the generation budget of {budget} candidates was spent" if tally.candidates >= budget
               else "the sources ran out of (context, evolution) pairs")
        message = (f"produced {len(rows)} of {cfg.n} rows: {why}; the filters rejected {dict(steps)}. Add documents, "
                   "lower the critic threshold, raise the dedup threshold or max_candidates.")
    stats = client.stats
    report = SynthReport(
        generator=GENERATOR_VERSION, model=client.info.model, seed=cfg.seed, requested=cfg.n, possible=possible,
        rows=len(rows), message=message, constrained_decoding=client.info.name in CONSTRAINED_PROVIDERS,
        json_replies=tally.replies, json_parsed=tally.parsed,
        json_parse_rate=tally.parsed / tally.replies if tally.replies else None,
        critic_threshold=cfg.critic.threshold if cfg.critic else None, critic_scored=tally.scored,
        critic_passed=tally.passed, critic_pass_rate=tally.passed / tally.scored if tally.scored else None,
        dedup_threshold=cfg.dedup_threshold, duplicates_in_set=tally.dup_set, duplicates_of_golden=tally.dup_golden,
        near_duplicate_share=near_duplicate_share(vectors), per_source=dict(sorted(per_source.items())),
        sources_without_rows=sorted(set(groups) - set(per_source)), max_min_ratio=max_min_ratio(per_source),
        max_ratio_bound=cfg.max_ratio, balanced_out=len(kept) - len(balanced),
        evolution_mix=dict(Counter(r.origin.evolution for r in rows)), evolution_target=mix,
        personas=dict(Counter(r.origin.persona for r in rows)), candidates=tally.candidates,
        model_calls=stats.calls - stats0.calls, cache_hits=stats.cache_hits - stats0.cache_hits,
        elapsed_s=round(time.perf_counter() - t0, 1),
        skipped_inputs=[SkippedInput(source=s.source, reason=s.reason) for s in skipped], rejected=tally.rejected,
    )
    return SynthResult(rows, report)


def _next_slot(
    chunks: list[Chunk], cursor: dict[str, int], src: str, remaining: dict[str, list[str]],
    mix: Mapping[str, float], rng: random.Random,
) -> tuple[Chunk, str] | None:
    """The source's next (chunk, evolution) not yet tried: chunks in turn, the evolution drawn from the mix."""
    for _ in range(len(chunks)):
        chunk = chunks[cursor[src] % len(chunks)]
        cursor[src] += 1
        left = remaining[chunk.id]
        if left:
            evolution = choose_evolution({k: mix[k] for k in left}, rng, has_context=True, has_partner=True)
            left.remove(evolution)
            return chunk, evolution
    return None


async def _one(
    client: ModelClient, chunk: Chunk, evolution: str, persona: str, partner: Chunk | None, cfg: SynthConfig,
    embedder: Embedder, index: DedupIndex, tally: _Tally,
) -> tuple[SyntheticRow, np.ndarray] | None:
    """One kept row for (chunk, evolution), or None after the bounded attempts were all rejected."""
    attempts = 1 + (cfg.critic.max_retries if cfg.critic else 2)
    vecs: list[np.ndarray] = []

    def screen(cand: Candidate) -> tuple[str, str] | None:
        assert cand.question is not None
        if cand.seed_question is not None and _norm(cand.question) == _norm(cand.seed_question):
            return "evolution", "the evolved question repeats the seed question"
        vec = np.asarray(embedder.embed([cand.question])[0], dtype=np.float32)
        dup, where = index.is_duplicate(vec)
        if dup:
            if where == "golden":
                tally.dup_golden += 1
            else:
                tally.dup_set += 1
            return "duplicate", f"cosine >= {cfg.dedup_threshold:g} with a {where} question: {cand.question}"
        vecs.append(vec)
        return None

    for attempt in range(attempts):
        tally.candidates += 1
        cand = await generate_candidate(
            client, chunk, evolution=evolution, persona=PERSONAS[persona], partner=partner,
            seed=_seed(cfg.seed, chunk.id, evolution, attempt), temperature=0.0 if attempt == 0 else RETRY_TEMPERATURE,
            max_parse_retries=cfg.max_parse_retries, screen=screen,
        )
        tally.replies += cand.replies
        tally.parsed += cand.parsed
        if cand.rejected is not None:
            tally.reject(cand, *cand.rejected)
            continue
        if cand.question is None:
            last = cand.failures[-1] if cand.failures else None
            provider = last is not None and last.reason.startswith("provider error")
            tally.reject(cand, "provider" if provider else "parse", last.reason if last else "no reply",
                         last.raw if last else "")
            if provider:
                return None  # the context does not fit the model's window: another try will not either
            continue
        vec = vecs[-1]
        verdict: CriticVerdict | None = None
        if cfg.critic is not None:
            verdict = await cfg.critic.score(client, cand.question, cand.contexts, cand.reference)
            tally.scored += 1
            if not verdict.passed:
                tally.reject(cand, "critic", verdict.reason)
                continue
            tally.passed += 1
        return _row(cand, verdict, cfg, attempt + 1, client.info.model), vec
    return None


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip("?.! ")


def _row(cand: Candidate, verdict: CriticVerdict | None, cfg: SynthConfig, attempts: int, model: str) -> SyntheticRow:
    chunk = cand.chunk
    assert cand.question is not None
    origin = Origin(
        source=chunk.source, position=chunk.position, source_kind=chunk.kind,  # type: ignore[arg-type]
        context_sources=list(cand.context_sources), evolution=cand.evolution, persona=cand.persona,
        seed_question=cand.seed_question, critic_score=verdict.score if verdict else None,
        critic_input=verdict.input_score if verdict else None, critic_output=verdict.output_score if verdict else None,
        critic_threshold=cfg.critic.threshold if cfg.critic else None, attempts=attempts, model=model,
    )
    row_id = "synth-" + hashlib.sha256(f"{chunk.id}|{cand.evolution}|{cand.question}".encode()).hexdigest()[:12]
    return SyntheticRow(id=row_id, kind="rag" if cand.contexts else "qa", question=cand.question,
                        contexts=list(cand.contexts) or None, reference=cand.reference, origin=origin)


def _default_embedder() -> Embedder:
    # the offline MiniLM; imported on use, like experiments' SemanticSimilarity (torch is heavy)
    from embed import TextEmbedder

    return TextEmbedder()


def _bar(total: int, enabled: bool):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc="synth rows", unit="row", disable=not enabled, file=sys.stderr)
