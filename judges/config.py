"""Choosing the judge model: one setting, from the environment or ``evalharness.toml``.

``EVALHARNESS_JUDGE_MODEL`` (or ``[judge] model`` in the config file) takes:

- ``local``                      the embedded Gemma 3 270M GGUF through llama.cpp's server in process (default)
- ``local:/path/to/model.gguf``  any GGUF file through llama.cpp
- ``openai:MODEL``               an OpenAI-compatible server; ``base_url`` from ``EVALHARNESS_JUDGE_BASE_URL``
                                 or ``[judge] base_url`` (default OpenAI), key from ``$OPENAI_API_KEY``
                                 (or the variable named by ``[judge] api_key_env``)

The environment wins over the file. The cache lives in ``<cache_dir>/cache.sqlite`` (``[tool.evalharness]
cache_dir`` of the project's pyproject.toml, default ``.evalharness``) unless ``EVALHARNESS_CACHE`` (a path,
or ``off``) or ``[judge] cache`` says otherwise. ``evalharness.toml`` and relative paths are taken from the
project root (pytest's rootdir; :mod:`tracing.project`), never from the working directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.cache import DEFAULT_PATH, CallCache, cache_path
from judges.client import ModelClient
from judges.errors import JudgeConfigError
from judges.providers._base import Provider
from tracing.project import resolve

CONFIG_FILE = "evalharness.toml"
_FORMS = "'local', 'local:/path/to/model.gguf' or 'openai:MODEL'"


@dataclass(frozen=True)
class JudgeConfig:
    """The judge model settings after merging the config file and the environment."""

    model: str = "local"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    timeout_s: float = 120.0
    max_retries: int = 5
    n_ctx: int = 4096
    cache: str | None = DEFAULT_PATH  # this default means <cache_dir>/cache.sqlite (tracing.project)
    extra: dict[str, Any] = field(default_factory=dict)


def load_config(path: str | Path | None = None) -> JudgeConfig:
    """Read ``[judge]`` from ``evalharness.toml`` (if present), then apply ``EVALHARNESS_*`` variables."""
    path = resolve(path or os.environ.get("EVALHARNESS_CONFIG", CONFIG_FILE))
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = dict(tomllib.loads(path.read_text()).get("judge", {}))
        except tomllib.TOMLDecodeError as exc:
            raise JudgeConfigError(f"{path} is not valid TOML: {exc}") from exc
    known = set(JudgeConfig.__dataclass_fields__) - {"extra"}
    unknown = set(values) - known
    if unknown:
        raise JudgeConfigError(f"{path}: unknown [judge] keys {sorted(unknown)}; known keys are {sorted(known)}")
    env = {
        "model": "EVALHARNESS_JUDGE_MODEL",
        "base_url": "EVALHARNESS_JUDGE_BASE_URL",
        "cache": "EVALHARNESS_CACHE",
        "max_concurrency": "EVALHARNESS_JUDGE_CONCURRENCY",
        "requests_per_minute": "EVALHARNESS_JUDGE_RPM",
    }
    for key, var in env.items():
        if os.environ.get(var):
            values[key] = os.environ[var]
    if str(values.get("cache", "")).lower() in ("off", "false", "0", "none"):
        values["cache"] = None
    try:
        for key in ("max_concurrency", "max_retries", "n_ctx"):
            if key in values:
                values[key] = int(values[key])
        for key in ("requests_per_minute", "timeout_s"):
            if values.get(key) is not None:
                values[key] = float(values[key])
    except ValueError as exc:
        raise JudgeConfigError(f"judge setting is not a number: {exc}") from exc
    return JudgeConfig(**values)


def make_provider(config: JudgeConfig) -> Provider:
    """The provider named by ``config.model``; an unknown form is a JudgeConfigError that lists the valid ones."""
    spec = config.model.strip()
    kind, _, arg = spec.partition(":")
    if kind == "local":
        import importlib.util

        if importlib.util.find_spec("xllamacpp") is None and importlib.util.find_spec("llama_cpp") is not None:
            # an install from before the prebuilt wheel: the compiled llama-cpp-python path still runs
            from judges.providers.llama import LlamaCppProvider

            return LlamaCppProvider(arg or None, n_ctx=config.n_ctx)
        from judges.providers.embedded import EmbeddedLlamaProvider

        return EmbeddedLlamaProvider(arg or None, n_ctx=config.n_ctx)
    if kind == "openai":
        if not arg:
            raise JudgeConfigError(f"judge model {spec!r} names no model; use e.g. 'openai:gpt-4o-mini'")
        from judges.providers.openai_compat import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            arg, base_url=config.base_url, api_key_env=config.api_key_env, timeout_s=config.timeout_s
        )
    raise JudgeConfigError(f"unknown judge model {spec!r}; use {_FORMS} (EVALHARNESS_JUDGE_MODEL or [judge] model)")


_PROVIDERS: dict[tuple[str, str, int], Provider] = {}


def get_model(spec: str | None = None, *, config: JudgeConfig | None = None, **client_options: Any) -> ModelClient:
    """A ModelClient for the configured judge model (``spec`` overrides the setting).

    Providers are shared per process, so the local model is loaded once however many clients exist.
    """
    cfg = config or load_config()
    if spec is not None:
        cfg = JudgeConfig(**{**cfg.__dict__, "model": spec})
    key = (cfg.model, cfg.base_url, cfg.n_ctx)
    provider = _PROVIDERS.get(key)
    if provider is None:
        provider = _PROVIDERS[key] = make_provider(cfg)
    options: dict[str, Any] = {
        "cache": CallCache(cache_path(cfg.cache)) if cfg.cache else None,
        "max_concurrency": cfg.max_concurrency,
        "requests_per_minute": cfg.requests_per_minute,
        "timeout_s": cfg.timeout_s,
        "max_retries": cfg.max_retries,
    }
    options.update(client_options)
    return ModelClient(provider, **options)
