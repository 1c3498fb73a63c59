"""The fault suite's table: `fault_table(fault=..., **figures)` records one row per fault class.

Rows are printed as the test runs, gathered from the test reports (so they come back from
pytest-xdist workers too), shown at the end of the run, and written as JSON lines to the file
named by `FAULTS_REPORT` when it is set (docs/reliability.md is made from them). Registered as a
plugin by tests/conftest.py, so the process that prints the summary has it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

REPORT_ENV = "FAULTS_REPORT"
ROW = "fault-row"


@pytest.fixture
def fault_table(request: pytest.FixtureRequest) -> Callable[..., None]:
    """`fault_table(fault=..., **figures)`: record and print one row of figures."""

    def record(**row: Any) -> None:
        row = json.loads(json.dumps({"test": request.node.name, **row}, default=str))
        request.node.user_properties.append((ROW, row))
        print("FAULT-ROW " + json.dumps(row))

    return record


class FaultTable:
    def __init__(self, report_path: str | None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.report_path = report_path

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, row in report.user_properties:
            if name != ROW:
                continue
            self.rows.append(row)
            if self.report_path:
                with open(self.report_path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(row) + "\n")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rows:
            terminalreporter.section("fault suite figures")
            for row in self.rows:
                terminalreporter.write_line(json.dumps(row))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or the only process) reports
        config.pluginmanager.register(FaultTable(os.environ.get(REPORT_ENV)), "fault-table")
