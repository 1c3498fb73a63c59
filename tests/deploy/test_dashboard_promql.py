"""The PromQL stand-in that draws docs/dashboard.png: each shape the dashboard uses, on
scrapes built so that the right answer is known by construction."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from scripts.dashboard_promql import Evaluator, Scrape
from tests.deploy.test_dashboard import DASHBOARD, METRIC, targets


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


def scrapes() -> list[Scrape]:
    """10 s apart; `allow` grows 5/s, `forbidden` 1/s; 100 observations per scrape interval in
    a histogram, 50 below 1 ms, 40 in (1 ms, 10 ms], 10 in (10 ms, +Inf)."""
    out = []
    for i in range(4):
        samples = {
            ("sidecar_requests_total", labels(decision="allow")): 50.0 * i,
            ("sidecar_requests_total", labels(decision="forbidden")): 10.0 * i,
            ("sidecar_request_duration_seconds_bucket", labels(le="0.001")): 50.0 * i,
            ("sidecar_request_duration_seconds_bucket", labels(le="0.01")): 90.0 * i,
            ("sidecar_request_duration_seconds_bucket", labels(le="+Inf")): 100.0 * i,
        }
        out.append(Scrape(10.0 * i, samples))
    return out


def test_rate_by_label_and_in_total():
    ev = Evaluator(scrapes(), rate_interval_s=10)
    by = ev.at('sum by (decision) (rate(sidecar_requests_total{job=~"$job"}[$__rate_interval]))', 3)
    assert by == {labels(decision="allow"): 5.0, labels(decision="forbidden"): 1.0}
    total = ev.at('sum(increase(sidecar_requests_total{job=~"$job"}[$__range]))', 3)
    assert total == {frozenset(): 180.0}
    assert ev.at('sum(rate(sidecar_requests_total{job=~"$job"}[$__rate_interval]))', 0) == {}


def test_ratio_with_a_regex_matcher():
    ev = Evaluator(scrapes(), rate_interval_s=10)
    expr = (
        '1 - sum(rate(sidecar_requests_total{job=~"$job",decision=~"allow|public"}'
        '[$__rate_interval])) / sum(rate(sidecar_requests_total{job=~"$job"}[$__rate_interval]))'
    )
    assert ev.at(expr, 2)[frozenset()] == pytest.approx(1 / 6)


def test_histogram_quantile_interpolates_like_prometheus():
    ev = Evaluator(scrapes(), rate_interval_s=10)
    inner = 'sum by (le) (rate(sidecar_request_duration_seconds_bucket{job=~"$job"}[10s]))'
    median = ev.at(f"histogram_quantile(0.5, {inner})", 3)[frozenset()]
    assert median == pytest.approx(0.001)  # rank 50 of 100: the top of the first bucket
    p70 = ev.at(f"histogram_quantile(0.7, {inner})", 3)[frozenset()]
    assert p70 == pytest.approx(0.001 + (0.01 - 0.001) * 20 / 40)
    p99 = ev.at(f"histogram_quantile(0.99, {inner})", 3)[frozenset()]
    assert p99 == pytest.approx(0.01)  # in +Inf: the highest finite bound


GROUPED_BY = re.compile(r"\bby \(([^)]*)\)")


def grouping_of(expr: str) -> set[str]:
    """The labels a query's outermost `sum by (...)` keeps, `le` aside (a quantile's input)."""
    return {label.strip() for group in GROUPED_BY.findall(expr) for label in group.split(",")} - {
        "le"
    }


def dashboard_scrapes(board: dict[str, Any]) -> list[Scrape]:
    """`scrapes()`, plus a growing counter for every other metric the dashboard queries,
    carrying every label a query groups it by: each query has data by construction."""
    labels_of: dict[str, set[str]] = {}
    for _, target in targets(board):
        for name in METRIC.findall(target["expr"]):
            labels_of.setdefault(name, set()).update(grouping_of(target["expr"]))
    out = []
    for scrape in scrapes():
        known = {name for name, _ in scrape.samples}
        extra = {
            (name, frozenset((label, "x") for label in names)): 7.0 * scrape.t
            for name, names in labels_of.items()
            if name not in known
        }
        out.append(Scrape(scrape.t, {**scrape.samples, **extra}))
    return out


def test_every_query_of_the_dashboard_has_data_grouped_as_its_legend_says():
    board = json.loads(DASHBOARD.read_text())
    ev = Evaluator(dashboard_scrapes(board), rate_interval_s=10)
    for title, target in targets(board):
        result = ev.at(target["expr"], 3)  # raises on a shape it does not know
        assert result, f"{title}: no data for {target['expr']}"
        for series, value in result.items():
            assert {label for label, _ in series} == grouping_of(target["expr"]), title
            assert math.isfinite(value), title


def test_the_kept_scrapes_redraw_every_panel_of_the_picture():
    from scripts.dashboard_page import page
    from scripts.dashboard_screenshot import DASHBOARD as SCRIPT_DASHBOARD
    from scripts.dashboard_screenshot import RATE_INTERVAL_S, REPO, load_scrapes

    assert SCRIPT_DASHBOARD == DASHBOARD
    kept = load_scrapes(REPO / "docs" / "dashboard.scrapes.json")
    board = json.loads(DASHBOARD.read_text())
    html = page(board, Evaluator(kept, RATE_INTERVAL_S), kept, RATE_INTERVAL_S)
    for panel in board["panels"]:
        assert f"<h2>{panel['title']}</h2>" in html
    assert html.count("No data") <= 3  # only the metrics that build did not export yet
    assert "Not Grafana" in html
