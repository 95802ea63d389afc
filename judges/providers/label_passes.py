"""Exact label probabilities from llama.cpp's completion endpoint, written once for both ways of reaching it.

The embedded judge calls llama.cpp's server in process; a judge with ``EVALHARNESS_JUDGE_API=completions``
calls a llama.cpp server over HTTP. Both score a label set the same way, with the same requests, so the same
model gives the same probabilities on either path (the kernels see the same batches):

- each label is tokenized on its own; P(label | prompt) = Π P(t_k | prompt, t_<k), multi-token labels included;
- the prompt is evaluated whole (``cache_prompt: false``), whatever the slot held before; each longer label prefix
  then extends that slot's cache by its own tokens;
- one pass reads the top ``TOP_N`` alternatives; a label token outside them is forced with a logit bias, which
  changes what is sampled but not the reported (pre-bias, pre-sampler) log-probability.

:func:`label_passes` is a generator that yields request bodies and receives llama.cpp's replies (the
``/v1/completions`` shape, token ids included), so the sync in-process caller and the async HTTP caller drive it
with their own I/O.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from judges.errors import ProviderError
from judges.scoring import renormalise

# alternatives read per forward pass: label tokens among them need no forced request of their own
TOP_N = 64
# a bias that makes the wanted token the greedy pick whatever its logit (reported log-probabilities are pre-bias)
_FORCE = 1000.0

Passes = Generator[dict[str, Any], dict[str, Any], tuple[dict[str, float], int]]


def label_passes(prompt_ids: list[int], label_ids: dict[str, list[int]],
                 extra: dict[str, Any] | None = None) -> Passes:
    """Yield the completion requests that score ``label_ids`` after ``prompt_ids``; send each reply back in.

    Returns (log P(label | prompt) per label, label tokens evaluated beyond the prompt). ``extra``: fields every
    request carries (``id_slot``, ``model``)."""
    # the tokens wanted after each label prefix; shorter prefixes first, so each pass extends a cached prompt
    wanted: dict[tuple[int, ...], list[int]] = {}
    for seq in label_ids.values():
        for k, tok in enumerate(seq):
            wanted.setdefault(tuple(seq[:k]), []).append(tok)
    logp_at: dict[tuple[int, ...], dict[int, float]] = {}
    evaluated = 0
    for prefix in sorted(wanted, key=len):
        found: dict[int, float] = {}
        missing = list(dict.fromkeys(wanted[prefix]))
        while missing:
            body = {"prompt": prompt_ids + list(prefix), "n_predict": 1, "max_tokens": 1,
                    "n_probs": max(TOP_N, len(missing)), "temperature": 0.0,
                    # the prompt itself is evaluated whole, in one batch; a label prefix extends that cache
                    "cache_prompt": bool(prefix), "logit_bias": [[missing[0], _FORCE]], **(extra or {})}
            reply = yield body
            try:
                entry = reply["choices"][0]["logprobs"]["content"][0]
                sampled, value = int(entry["id"]), float(entry["logprob"])
                alternatives = [(int(a["id"]), float(a["logprob"])) for a in entry["top_logprobs"]]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ProviderError(f"llama.cpp's completion reply has no token logprobs: {str(reply)[:300]}") from exc
            if sampled != missing[0]:
                raise ProviderError(f"llama.cpp sampled token {sampled}, not the forced label token {missing[0]}")
            found[missing[0]] = value
            for tok, lp in alternatives:
                found.setdefault(tok, lp)
            missing = [t for t in missing if t not in found]
        logp_at[prefix] = found
        evaluated += len(prefix)
    logp = {label: sum(logp_at[tuple(seq[:k])][tok] for k, tok in enumerate(seq)) for label, seq in label_ids.items()}
    return logp, evaluated


def distribution(logp: dict[str, float]) -> tuple[dict[str, float], float]:
    """(label probabilities renormalised over the labels, raw probability mass on them) from log-probabilities."""
    top = max(logp.values())
    probs = renormalise({k: math.exp(v - top) for k, v in logp.items()})
    assert probs is not None  # the most likely label weighs 1
    return probs, sum(math.exp(v) for v in logp.values())
