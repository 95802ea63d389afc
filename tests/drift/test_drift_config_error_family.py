"""Every package's configuration error is also the harness's one shared ``tracing.errors.ConfigError`` (the
floor's docstring promises it), so ``except ConfigError`` catches a bad setting whichever package noticed it."""

from __future__ import annotations

import pytest

import dashboard.errors
import drift.errors
import judges.errors
import monitor.errors
import review.errors
import synth.errors
import tracing.errors
from drift.config import load_config


@pytest.mark.parametrize("cls", [tracing.errors.TracingConfigError, judges.errors.JudgeConfigError,
                                 synth.errors.SynthConfigError, drift.errors.ConfigError, review.errors.ConfigError,
                                 monitor.errors.ConfigError, dashboard.errors.ConfigError])
def test_each_packages_config_error_is_the_shared_one(cls):
    assert issubclass(cls, tracing.errors.ConfigError)


def test_a_bad_drift_config_is_caught_as_the_shared_config_error(tmp_path):
    bad = tmp_path / "drift.toml"
    bad.write_text('bins = 1\n')
    with pytest.raises(tracing.errors.ConfigError, match="bins"):
        load_config(bad)
