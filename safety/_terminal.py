"""A section of the pytest terminal summary, added from inside a test (the suites' reports print there)."""

from __future__ import annotations

from typing import Any


def add_terminal_section(config: Any, title: str, text: str) -> None:
    """Print ``text`` under ``title`` in the terminal summary of the pytest run that owns ``config``."""

    class _Section:
        def pytest_terminal_summary(self, terminalreporter: Any) -> None:
            terminalreporter.write_sep("=", title)
            terminalreporter.write_line(text)

    name = f"safety-section-{title}"
    if config.pluginmanager.get_plugin(name) is not None:
        config.pluginmanager.unregister(name=name)
    config.pluginmanager.register(_Section(), name=name)
