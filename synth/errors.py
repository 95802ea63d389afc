"""The errors of ``synth``: one base class, and what each subclass means.

- :class:`SynthError` — the base; every error the library raises on purpose is one.
- :class:`SynthSourceError` — an input (document, golden file, production log) gave nothing usable; the
  message names the input and why.
- :class:`SynthConfigError` — a setting is out of range or malformed (an evolution mix, a threshold); the
  message names the setting and the valid values. It is also a ``tracing.errors.ConfigError``, the shared
  base of every package's configuration error.
"""

from __future__ import annotations

from tracing.errors import ConfigError


class SynthError(Exception):
    """Base class of the errors raised by ``synth``."""


class SynthSourceError(SynthError):
    """No usable input: the message names the file and what was wrong with it."""


class SynthConfigError(SynthError, ConfigError):
    """A setting is invalid: the message names it and says what is allowed."""
