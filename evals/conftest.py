"""Wires the harness's pytest plugin into the eval suites (fixtures `evaluate`, `evaluate_suite`, `judge_client`)."""

from experiments.pytest_plugin import *
