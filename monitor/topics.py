"""Topics: what production traffic is about, as a stored model whose topic ids last from day to day.

Fitting (:func:`fit_topics`) embeds the user inputs with the offline embedder (``embed``), and clusters them
without being told how many topics there are:

1. a random sample of at most ``fit_sample`` inputs (8,000) is merged bottom-up (average linkage on cosine
   distance) until the closest two groups are further apart than ``merge_distance``: the number of topics is
   what the data gives at that resolution, not a number passed in;
2. a group holding fewer than ``min_size`` inputs is noise, not a topic;
3. every input, sampled or not, then goes to the nearest topic centroid, unless it is further from it than the
   topic's radius (its furthest sampled member's distance plus ``radius_margin``): those are the outliers
   (topic id ``-1``), never forced into a topic. Assignment is one matrix product per 65,536 inputs, so the
   model serves any number of inputs; the sample bounds the fit's memory.

Each topic is named by its distinctive keywords (class-based TF-IDF over the topic's inputs: frequent in it,
rare in the others), and by a short label from the judge model when one is given.

The model is a versioned JSON file (like the drift reference profile). Later windows are *assigned*
(:meth:`TopicModel.assign`: nearest centroid within its radius, else outlier); a dense group among a window's
outliers is a *candidate new topic* (:func:`new_topic_candidates`); a refit (:func:`fit_topics` with
``previous``) maps each new topic to the old one whose centroid is the closest (Hungarian matching, cosine
similarity at least ``keep_similarity``), so a topic keeps its id and name across refits.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import ConfigError

__all__ = ["OUTLIER", "SCHEMA_VERSION", "Candidate", "Topic", "TopicModel", "TopicParams", "embed_texts",
           "fit_topics", "judge_namer", "keywords", "new_topic_candidates", "topic_labels"]

SCHEMA_VERSION = 1
OUTLIER = -1
EMBEDDER = "all-MiniLM-L6-v2 (embed.TextEmbedder)"

_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
# what users say in any question, beside English function words (scikit-learn's list, loaded with it)
_ASKING = frozenset(("please", "help", "want", "need", "know", "like", "tell", "make", "use", "using", "get", "got",
                     "i'm", "i've", "i'd", "i'll", "im", "ive", "don't", "can't", "okay", "hello", "thanks", "thank"))


@dataclass(frozen=True)
class TopicParams:
    """How topics are found. ``merge_distance`` is the resolution: a larger one gives fewer, broader topics."""

    min_size: int = 8
    merge_distance: float = 0.5
    fit_sample: int = 8_000
    radius_margin: float = 0.05
    keep_similarity: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_size < 2:
            raise ConfigError(f"min_size={self.min_size}: a topic needs at least 2 inputs")
        if not 0.0 < self.merge_distance < 2.0:
            raise ConfigError(f"merge_distance={self.merge_distance}: a cosine distance between 0 and 2 "
                              "(0.55 by default; larger gives fewer, broader topics)")
        if not self.min_size <= self.fit_sample <= 20_000:
            raise ConfigError(f"fit_sample={self.fit_sample}: between min_size and 20,000 (the clustering holds "
                              "the sample's pairwise distances in memory: 8,000 take 256 MB)")
        if not 0.0 <= self.radius_margin < 1.0 or not 0.0 < self.keep_similarity <= 1.0:
            raise ConfigError(f"radius_margin={self.radius_margin} (0 to 1), keep_similarity="
                              f"{self.keep_similarity} (0 to 1)")


@dataclass(frozen=True)
class Topic:
    """One topic: its stable id, name, keywords, where it sits (unit centroid) and how far it reaches."""

    id: int
    name: str
    keywords: tuple[str, ...]
    centroid: tuple[float, ...] = field(repr=False)
    radius: float
    size: int  # inputs in the topic at the fit
    share: float  # of all fitted inputs, outliers included (the reference share)
    examples: tuple[str, ...] = ()
    label: str | None = None  # the judge model's short name, when one named it
    first_version: int = 1  # the model version in which the topic first appeared

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class TopicModel:
    """A fitted topic model: its topics, how they were found, and where it came from."""

    topics: tuple[Topic, ...]
    params: TopicParams
    version: int = 1
    created_at: str = ""
    source: str = ""
    n_fit: int = 0
    outlier_share: float = 0.0
    next_id: int = 0
    embedder: str = EMBEDDER
    #: per refit: {"version", "created_at", "kept": {new position: old id}, "new": [...], "retired": [...]}
    history: tuple[dict[str, Any], ...] = ()

    def topic(self, topic_id: int) -> Topic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(f"no topic {topic_id} in this model (ids: {[t.id for t in self.topics]})")

    def name_of(self, topic_id: int) -> str:
        return "outliers" if topic_id == OUTLIER else self.topic(topic_id).title

    def _matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.array([t.id for t in self.topics], dtype=np.int64)
        cents = np.array([t.centroid for t in self.topics], dtype=np.float32)
        radii = np.array([t.radius for t in self.topics], dtype=np.float32)
        return ids, cents, radii

    def assign(self, vectors: np.ndarray, *, chunk: int = 65_536) -> np.ndarray:
        """The topic id of each unit vector: the nearest centroid's, when within that topic's radius, else -1."""
        out = np.full(len(vectors), OUTLIER, dtype=np.int64)
        if not self.topics or not len(vectors):
            return out
        ids, cents, radii = self._matrix()
        if vectors.shape[1] != cents.shape[1]:
            raise ConfigError(f"vectors of dimension {vectors.shape[1]} against a topic model of dimension "
                              f"{cents.shape[1]}: embed with the model's embedder ({self.embedder})")
        for lo in range(0, len(vectors), chunk):
            sims = np.asarray(vectors[lo:lo + chunk], dtype=np.float32) @ cents.T
            best = sims.argmax(axis=1)
            dist = 1.0 - sims[np.arange(len(best)), best]
            out[lo:lo + chunk] = np.where(dist <= radii[best], ids[best], OUTLIER)
        return out

    # -- the stored file ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": "topic-model", "version": self.version,
                "created_at": self.created_at, "source": self.source, "n_fit": self.n_fit,
                "outlier_share": self.outlier_share, "next_id": self.next_id, "embedder": self.embedder,
                "params": asdict(self.params), "history": list(self.history),
                "topics": [{**asdict(t), "centroid": [round(float(x), 6) for x in t.centroid]} for t in self.topics]}

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the model as JSON (atomically); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, target)
        return str(target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TopicModel:
        """Read a model written by :meth:`save`; a missing, malformed or other-version file is a ConfigError."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no topic model at {path}; fit one with `python -m monitor topics fit`") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"topic model {path} is not readable JSON ({exc}); fit it again") from exc
        return cls.from_dict(raw, where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "<dict>") -> TopicModel:
        if not isinstance(raw, dict) or raw.get("kind") != "topic-model":
            raise ConfigError(f"{where} is not a topic model (no \"kind\": \"topic-model\")")
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(f"topic model {where} has schema_version {raw.get('schema_version')!r}; this version "
                              f"reads {SCHEMA_VERSION}. Fit it again with `python -m monitor topics fit`")
        topics = tuple(Topic(**{**t, "keywords": tuple(t["keywords"]), "centroid": tuple(t["centroid"]),
                                "examples": tuple(t.get("examples", ()))}) for t in raw["topics"])
        return cls(topics=topics, params=TopicParams(**raw["params"]), version=int(raw["version"]),
                   created_at=str(raw.get("created_at", "")), source=str(raw.get("source", "")),
                   n_fit=int(raw.get("n_fit", 0)), outlier_share=float(raw.get("outlier_share", 0.0)),
                   next_id=int(raw.get("next_id", 0)), embedder=str(raw.get("embedder", EMBEDDER)),
                   history=tuple(raw.get("history", ())))

    def category(self, topic_id: int) -> str:
        """The topic as a drift category: ``"<id> <name>"``, or ``"outliers"``."""
        return "outliers" if topic_id == OUTLIER else f"{topic_id} {self.topic(topic_id).title}"


# -- embedding ---------------------------------------------------------------------------------------------------

def embed_texts(texts: Sequence[str], *, embedder: Any = None, batch: int = 2_048,
                progress: bool | None = None) -> np.ndarray:
    """Unit vectors of ``texts`` with the offline embedder, in batches, with a progress bar on a terminal."""
    if embedder is None:
        from embed import TextEmbedder

        embedder = TextEmbedder()
    show = progress if progress is not None else (len(texts) > batch and os.isatty(2))
    parts: list[np.ndarray] = []
    bar: Any = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding inputs", unit="input")
    for lo in range(0, len(texts), batch):
        parts.append(np.asarray(embedder.embed(list(texts[lo:lo + batch])), dtype=np.float32))
        if bar is not None:
            bar.update(min(batch, len(texts) - lo))
    if bar is not None:
        bar.close()
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


# -- clustering --------------------------------------------------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(n > 0, n, 1.0), dtype=np.float32)


def _cluster(vectors: np.ndarray, params: TopicParams, texts: Sequence[str]) -> np.ndarray:
    """Group labels (0..k-1, -1 noise) of unit ``vectors``: average-linkage merging up to ``merge_distance``,
    groups of fewer than ``min_size`` inputs are noise. Repeated texts are clustered once, counted as often as
    they occur (traffic repeats its questions; the pairwise distances are of the distinct ones)."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n < params.min_size:
        return np.full(n, OUTLIER, dtype=np.int64)
    first: dict[str, int] = {}
    inverse = np.array([first.setdefault(t, len(first)) for t in texts], dtype=np.int64)
    distinct = np.zeros(len(first), dtype=np.int64)
    distinct[inverse] = np.arange(n)  # a row of each distinct text
    counts = np.bincount(inverse)
    if len(distinct) == 1:
        groups = np.zeros(1, dtype=np.int64)
    else:
        groups = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=params.merge_distance).fit(vectors[distinct]).labels_
    size = np.bincount(groups, weights=counts).astype(np.int64)
    keep = np.flatnonzero(size >= params.min_size)
    renumber = np.full(len(size), OUTLIER, dtype=np.int64)
    renumber[keep] = np.arange(len(keep))
    return renumber[groups][inverse]


def keywords(texts_by_topic: Sequence[Sequence[str]], k: int = 5) -> list[tuple[str, ...]]:
    """The ``k`` most distinctive words of each group: class-based TF-IDF (frequent in it, rare in the others)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    counts = [Counter(w for t in texts for w in _WORD.findall(t.lower())
                      if len(w) > 2 and w not in ENGLISH_STOP_WORDS and w not in _ASKING) for texts in texts_by_topic]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    total_words = sum(sum(c.values()) for c in counts)
    avg = total_words / max(len(counts), 1)
    out = []
    for c in counts:
        n = sum(c.values()) or 1
        total_of = {w: sum(cc.get(w, 0) for cc in counts) for w in c}
        scored = sorted(c, key=lambda w: (-(c[w] / n) * math.log(1 + avg / total_of[w]) / math.sqrt(df[w]), w))
        out.append(tuple(scored[:k]))
    return out


def _topics_from(labels: np.ndarray, vectors: np.ndarray, texts: Sequence[str], params: TopicParams,
                 ids: Sequence[int], version: int) -> list[Topic]:
    groups = sorted(set(labels.tolist()) - {OUTLIER})
    words = keywords([[texts[i] for i in np.flatnonzero(labels == g).tolist()] for g in groups])
    topics = []
    for g, tid, kw in zip(groups, ids, words, strict=True):
        members = np.flatnonzero(labels == g)
        cent = _unit(vectors[members].mean(axis=0, keepdims=True))[0]
        dist = 1.0 - vectors[members] @ cent
        order = members[np.argsort(dist)]
        seen: list[str] = []
        for i in order:  # the most central distinct inputs
            if texts[i] not in seen:
                seen.append(texts[i])
            if len(seen) == 5:
                break
        topics.append(Topic(id=int(tid), name=" / ".join(kw[:3]) or f"topic {tid}", keywords=kw,
                            centroid=tuple(float(x) for x in cent),
                            radius=float(dist.max()) + params.radius_margin, size=len(members),
                            share=len(members) / len(labels), examples=tuple(seen), first_version=version))
    return topics


def fit_topics(texts: Sequence[str], vectors: np.ndarray | None = None, *, params: TopicParams | None = None,
               previous: TopicModel | None = None, source: str = "",
               namer: Callable[[Topic], str | None] | None = None) -> TopicModel:
    """Fit a topic model on ``texts`` (``vectors``: their unit embeddings, computed when not given).

    With ``previous`` (a refit), each topic takes the id, name and judge label of the previous topic it matches
    (Hungarian matching on centroid cosine similarity, at least ``keep_similarity``); the others get new ids.
    ``namer``: a short label per topic (the judge model), called for new topics only."""
    params = params or (previous.params if previous is not None else TopicParams())
    texts = [t if isinstance(t, str) else "" for t in texts]
    if not texts:
        raise ConfigError("no inputs to fit topics on: the source gave no rows with a prompt")
    x = _unit(np.asarray(vectors if vectors is not None else embed_texts(texts), dtype=np.float32))
    if len(x) != len(texts):
        raise ConfigError(f"{len(x)} vectors for {len(texts)} texts")
    rng = np.random.default_rng(params.seed)
    fit_idx = np.sort(rng.choice(len(x), params.fit_sample, replace=False)) if len(x) > params.fit_sample else (
        np.arange(len(x)))
    labels = _cluster(x[fit_idx], params, [texts[i] for i in fit_idx])
    version = previous.version + 1 if previous is not None else 1
    next_id = previous.next_id if previous is not None else 0
    fit_texts = [texts[i] for i in fit_idx]
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    provisional = _topics_from(labels, x[fit_idx], fit_texts, params, range(n_groups), version)
    kept: dict[int, Topic] = {}
    if previous is not None and previous.topics and provisional:
        from scipy.optimize import linear_sum_assignment

        _, old_c, _ = previous._matrix()
        new_c = np.array([t.centroid for t in provisional], dtype=np.float32)
        sims = new_c @ old_c.T
        rows, cols = linear_sum_assignment(-sims)
        kept = {int(r): previous.topics[c] for r, c in zip(rows, cols, strict=True)
                if sims[r, c] >= params.keep_similarity}
    topics: list[Topic] = []
    for pos, t in enumerate(provisional):
        old = kept.get(pos)
        if old is not None:
            topics.append(replace(t, id=old.id, name=old.name, label=old.label, first_version=old.first_version))
        else:
            topic = replace(t, id=next_id)
            next_id += 1
            topics.append(replace(topic, label=namer(topic)) if namer is not None else topic)
    # every fitted input, sampled or not, counts toward the shares; the sample's own members as a later window's
    # inputs would be assigned (held out of their topic), or the reference would understate the outliers
    model = TopicModel(topics=tuple(topics), params=params, version=version, created_at=_now(), source=source,
                       n_fit=len(x), next_id=next_id, history=previous.history if previous is not None else ())
    rest = np.ones(len(x), dtype=bool)
    rest[fit_idx] = False
    assigned = np.full(len(x), OUTLIER, dtype=np.int64)
    assigned[rest] = model.assign(x[rest])  # each input assigned once: the sample held out, the rest as is
    assigned[fit_idx] = _held_out_assign(model, x[fit_idx], labels)
    sizes = Counter(assigned.tolist())
    topics = [replace(t, size=sizes.get(t.id, 0), share=sizes.get(t.id, 0) / len(x)) for t in topics]
    history = model.history
    if previous is not None:
        old_ids = {t.id for t in previous.topics}
        kept_ids = {t.id for t in kept.values()}
        history += ({"version": version, "created_at": model.created_at,
                     "kept": sorted(kept_ids), "new": sorted(t.id for t in topics if t.id not in old_ids),
                     "retired": sorted(old_ids - kept_ids)},)
    return replace(model, topics=tuple(sorted(topics, key=lambda t: t.id)),
                   outlier_share=sizes.get(OUTLIER, 0) / len(x), history=history)


_HELD_OUT_MIN = 10  # members a topic needs for its leave-one-out assignment; smaller topics count in sample


def _held_out_assign(model: TopicModel, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Topic ids of the fit sample ``x`` (clustered into ``labels``, group g = ``model.topics[g]``) as if each
    member had been left out of its own topic: its topic's centroid and radius without it (leave-one-out).

    An input that helped place a centroid sits closer to it than a new input of the same kind; counted in
    sample, the reference's outlier share came out 6-8% where later windows of the same traffic gave 7-10%
    (BANKING77), and the share test called the outliers grown in windows drawn from the reference itself. Topics of
    fewer than ``_HELD_OUT_MIN`` members are counted in sample: with three members, leaving one out judged most of
    them outliers of a topic that holds them all."""
    out = model.assign(x)
    if not model.topics:
        return out
    ids, cents, radii = model._matrix()
    sims = x @ cents.T
    margin = model.params.radius_margin
    for g in range(len(model.topics)):
        members = np.flatnonzero(labels == g)
        if len(members) < _HELD_OUT_MIN:
            continue  # a handful of members: leaving one out moves the centroid too far to say anything
        mx = x[members]
        loo = mx.sum(axis=0, keepdims=True) - mx
        loo /= np.maximum(np.linalg.norm(loo, axis=1, keepdims=True), 1e-12)
        own = np.einsum("ij,ij->i", mx, loo)
        dist = 1.0 - mx @ cents[g]
        top2 = np.sort(dist)[-2:]
        own_radius = np.where(dist >= top2[-1], top2[0], top2[-1]) + margin
        other = sims[members].copy()
        other[:, g] = -np.inf
        best = other.argmax(axis=1)
        best_sim = other[np.arange(len(members)), best]
        mine = own >= best_sim
        within = np.where(mine, 1.0 - own <= own_radius, 1.0 - best_sim <= radii[best])
        out[members] = np.where(within, np.where(mine, ids[g], ids[best]), OUTLIER)
    return out


# -- new topics in a later window -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """A dense group of a window's outliers: a topic the model does not know yet."""

    size: int
    share: float  # of the window
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    indices: tuple[int, ...] = field(repr=False)  # positions in the window

    @property
    def name(self) -> str:
        return " / ".join(self.keywords[:3]) or "new topic"


def new_topic_candidates(model: TopicModel, texts: Sequence[str], vectors: np.ndarray,
                         assigned: np.ndarray | None = None, *, min_size: int | None = None) -> list[Candidate]:
    """Groups of at least ``min_size`` (the model's) of a window's outliers, clustered as at the fit.

    Outliers of known topics are their tails and scatter; inputs about something new gather."""
    x = _unit(np.asarray(vectors, dtype=np.float32))
    ids = model.assign(x) if assigned is None else assigned
    out_idx = np.flatnonzero(ids == OUTLIER)
    size = min_size or model.params.min_size
    if len(out_idx) < size:
        return []
    labels = _cluster(x[out_idx], replace(model.params, min_size=size), [texts[i] for i in out_idx.tolist()])
    found = []
    groups = sorted(set(labels.tolist()) - {OUTLIER})
    words = keywords([[texts[out_idx[i]] for i in np.flatnonzero(labels == g)] for g in groups])
    for g, kw in zip(groups, words, strict=True):
        members = out_idx[np.flatnonzero(labels == g)]
        found.append(Candidate(size=len(members), share=len(members) / len(x), keywords=kw,
                               examples=tuple(dict.fromkeys(texts[i] for i in members[:5])),
                               indices=tuple(int(i) for i in members)))
    return sorted(found, key=lambda c: -c.size)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def judge_namer(client: Any) -> Callable[[Topic], str | None]:
    """A ``namer`` for :func:`fit_topics`: the judge model gives each new topic a short label from its keywords and
    most central examples. A reply that is empty or longer than 60 characters names nothing (the keywords stay
    the name); a small local model's labels are often poor, so use it with a capable judge."""
    import asyncio

    from judges.types import Message, ModelRequest

    def name(topic: Topic) -> str | None:
        shown = "\n".join(f"- {e[:200]}" for e in topic.examples[:5])
        ask = (f"These user requests are one topic. Distinctive words: {', '.join(topic.keywords)}.\n{shown}\n"
               "Name the topic in two to five words. Reply with the name only.")
        reply = asyncio.run(client.complete(ModelRequest((Message("user", ask),), max_tokens=16, temperature=0.0)))
        text = (reply.text or "").strip().splitlines()[0].strip(" \"'.*#") if (reply.text or "").strip() else ""
        return text if 0 < len(text) <= 60 else None

    return name


def topic_labels(model: TopicModel, texts: Sequence[str], vectors: np.ndarray) -> list[str]:
    """Each input's topic as a category for the drift report: ``"<id> <name>"``, ``"outliers"``, or
    ``"new: <keywords>"`` for the members of a candidate new topic (a category the reference never had)."""
    assigned = model.assign(vectors)
    out = [model.category(int(i)) for i in assigned.tolist()]
    for c in new_topic_candidates(model, texts, vectors, assigned):
        for i in c.indices:
            out[i] = f"new: {c.name}"
    return out
