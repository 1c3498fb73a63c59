"""The few PromQL shapes the Grafana dashboard uses, evaluated over scrapes of `/metrics`.

Not a PromQL engine: `scripts/dashboard_screenshot.py` draws the dashboard's panels from a real
sidecar's metrics without Prometheus or Grafana (neither installs here), and this evaluates each
panel's own `expr` from the JSON, so the picture shows what the queries compute. Shapes:
  sum [by (labels)] (rate|increase(metric{matchers}[window]))
  histogram_quantile(q, sum by (le) (rate(metric_bucket{matchers}[window])))
  1 - <sum ...> / <sum ...>
`$job` matchers are ignored (one sidecar); `$__rate_interval` and `$__range` are given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

Labels = frozenset[tuple[str, str]]
Result = dict[Labels, float]

_AGG = re.compile(
    r"^sum(?: by \((?P<by>[\w, ]+)\))? ?\((?P<fn>rate|increase)\((?P<metric>\w+)"
    r"\{(?P<matchers>[^}]*)\}\[(?P<window>[^\]]+)\]\)\)$"
)
_QUANTILE = re.compile(r"^histogram_quantile\((?P<q>[\d.]+), (?P<inner>.+)\)$")
_RATIO = re.compile(r"^1 - (?P<num>sum.+\)\)) / (?P<den>sum.+\)\))$")
_MATCHER = re.compile(r'(\w+)(=~|!~|!=|=)"([^"]*)"')


@dataclass(frozen=True)
class Scrape:
    t: float  # seconds since the first scrape
    samples: Mapping[tuple[str, Labels], float]


class Evaluator:
    def __init__(self, scrapes: list[Scrape], rate_interval_s: float) -> None:
        self._scrapes = scrapes
        span = scrapes[-1].t - scrapes[0].t
        self._windows = {"$__rate_interval": rate_interval_s, "$__range": span}

    def at(self, expr: str, index: int) -> Result:
        """`expr` evaluated at scrape `index` (empty: no data, as Grafana would show)."""
        if match := _RATIO.match(expr):
            num, den = self.at(match["num"], index), self.at(match["den"], index)
            total = sum(den.values())
            return {frozenset(): 1 - sum(num.values()) / total} if total else {}
        if match := _QUANTILE.match(expr):
            return self._quantile(float(match["q"]), self.at(match["inner"], index))
        match = _AGG.match(expr)
        if match is None:
            raise ValueError(f"not a shape this evaluator knows: {expr}")
        return self._aggregate(match, index)

    def _aggregate(self, match: re.Match[str], index: int) -> Result:
        window = self._windows.get(match["window"]) or float(match["window"].rstrip("s"))
        now = self._scrapes[index]
        then = self._scrape_before(now.t - window)
        if then is None or now.t - then.t <= 0:
            return {}
        by = [label.strip() for label in (match["by"] or "").split(",") if label.strip()]
        matchers = [m for m in _MATCHER.findall(match["matchers"]) if m[0] != "job"]
        result: Result = {}
        for (name, labels), value in now.samples.items():
            if name != match["metric"] or not _matches(dict(labels), matchers):
                continue
            before = then.samples.get((name, labels), 0.0)
            delta = value - before if value >= before else value  # a counter reset
            if match["fn"] == "rate":
                delta /= now.t - then.t
            key = frozenset((k, v) for k, v in labels if k in by)
            result[key] = result.get(key, 0.0) + delta
        return result

    def _scrape_before(self, t: float) -> Scrape | None:
        earlier = [s for s in self._scrapes if s.t <= t + 1e-9]
        return earlier[-1] if earlier else None

    @staticmethod
    def _quantile(q: float, buckets: Result) -> Result:
        """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
        bounds = sorted((float(dict(k)["le"]), v) for k, v in buckets.items())
        if not bounds or bounds[-1][1] <= 0:
            return {}
        rank, lower, below = q * bounds[-1][1], 0.0, 0.0
        for upper, count in bounds:
            if count >= rank:
                if math.isinf(upper):
                    return {frozenset(): lower}
                inside = count - below
                share = (rank - below) / inside if inside else 0.0
                return {frozenset(): lower + (upper - lower) * share}
            lower, below = upper, count
        return {frozenset(): lower}


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, pattern in matchers:
        value = labels.get(name, "")
        full = re.fullmatch(pattern, value) is not None
        if (op == "=~" and not full) or (op == "!~" and full):
            return False
        if (op == "=" and value != pattern) or (op == "!=" and value == pattern):
            return False
    return True


def legend(template: str, labels: Labels) -> str:
    values = dict(labels)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values.get(m[1], ""), template)
