"""The results table: req/s, p50, p99 and the ratios that mean something on a shared box."""

from __future__ import annotations

from dataclasses import dataclass

from bench.wrk import Result

SCENARIOS = {
    "a": "upstream directly",
    "b": "sidecar, public path (passthrough)",
    "c": "sidecar, bearer token",
    "d": "sidecar, session cookie (Redis)",
}
_BASE = {"b": "a", "c": "b", "d": "b"}  # b/a, c/b, d/b


@dataclass(frozen=True)
class Measurement:
    variant: str  # "" for the upstream itself
    scenario: str  # a, b, c, d
    result: Result

    @property
    def label(self) -> str:
        return f"({self.scenario}) {SCENARIOS[self.scenario]}"


def table(measurements: list[Measurement], default_variant: str) -> str:
    by_key = {(m.variant, m.scenario): m.result for m in measurements}
    upstream = by_key.get(("", "a"))
    lines = [
        f"{'variant':<10} {'target':<40} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'ratio':>12} {'vs ' + default_variant:>12} {'errors':>6}",
    ]
    for m in measurements:
        result = m.result
        ratio = ""
        if m.scenario in _BASE:
            base = upstream if _BASE[m.scenario] == "a" else by_key.get((m.variant, "b"))
            if base is not None and base.rate:
                ratio = f"{m.scenario}/{_BASE[m.scenario]} {result.rate / base.rate:.2f}"
        versus = ""
        reference = by_key.get((default_variant, m.scenario))
        if m.variant not in ("", default_variant) and reference is not None and reference.rate:
            versus = f"{result.rate / reference.rate:.2f}"
        lines.append(
            f"{m.variant or '-':<10} {m.label:<40} {result.rate:>8.0f} {result.p50_ms:>7.2f} "
            f"{result.p99_ms:>7.2f} {ratio:>12} {versus:>12} {result.errors:>6}"
        )
    return "\n".join(lines)
