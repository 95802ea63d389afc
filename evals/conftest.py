"""Wires the harness's pytest plugin into the eval suites (fixtures `evaluate`, `evaluate_suite`, `judge_client`)."""

from judges.pytest_plugin import *
