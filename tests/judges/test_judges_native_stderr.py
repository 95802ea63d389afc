"""llama.cpp's loading chatter (written by native code to file descriptor 2) is held, and replayed only on failure."""

from __future__ import annotations

import os

import pytest

from judges.providers.llama import native_stderr_held


def test_native_loading_chatter_is_held_and_replayed_only_on_failure(capfd: pytest.CaptureFixture[str]) -> None:
    with native_stderr_held():
        os.write(2, b"llama_kv_cache_iswa: using full-size SWA cache\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), native_stderr_held():
        os.write(2, b"llama_model_load: error loading model\n")
        raise RuntimeError("load failed")
    assert "error loading model" in capfd.readouterr().err
