"""The eval suites' conftest. The harness's pytest plugin (fixtures `evaluate`, `evaluate_suite`, `judge_client`,
the --eval-* options) comes from the installed package's pytest11 entry point; a session without plugin
autoloading (PYTEST_DISABLE_PLUGIN_AUTOLOAD) gets it registered here."""

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    import experiments.pytest_plugin as plugin

    if not pluginmanager.is_registered(plugin) and not pluginmanager.is_blocked("evalharness"):
        pluginmanager.register(plugin, "evalharness")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every suite here runs the real local model: `pytest -m "not slow"` leaves them out
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.slow)
