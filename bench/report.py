"""The results table: req/s, p50, p99, CPU per request, and the ratios that mean something on
a shared box (each the median of the per-round ratios)."""

from __future__ import annotations

import statistics

from bench.measure import Measurement

SCENARIOS = {
    "a": "upstream directly",
    "b": "sidecar, public path (passthrough)",
    "c": "sidecar, bearer token",
    "d": "sidecar, session cookie (Redis)",
}
_BASE = {"b": "a", "c": "b", "d": "b"}  # b/a, c/b, d/b
_PEERS = ("nginx", "apache", "mod_auth_openidc", "oauth2-proxy", "envoy", "envoy-cache")


def round_ratio(measured: Measurement, base: Measurement) -> float:
    """Median over rounds of measured/base req/s, each pair measured seconds apart."""
    pairs = zip(measured.rounds, base.rounds, strict=True)
    return statistics.median(m.rate / b.rate for m, b in pairs if b.rate)


def table(measurements: list[Measurement], default_variant: str) -> str:
    by_key = {(m.target.variant, m.target.scenario): m for m in measurements}
    lines = [
        f"{'variant':<16} {'target':<40} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'ratio':>10} {'vs ' + default_variant:>10} {'errors':>6}",
    ]
    for m in measurements:
        variant, scenario = m.target.variant, m.target.scenario
        ratio = ""
        if scenario in _BASE:
            base = by_key.get(("" if _BASE[scenario] == "a" else variant, _BASE[scenario]))
            if base is not None:
                ratio = f"{scenario}/{_BASE[scenario]} {round_ratio(m, base):.2f}"
        versus = ""
        reference = by_key.get((default_variant, scenario))
        if variant not in ("", default_variant, *_PEERS) and reference is not None:
            versus = f"{round_ratio(m, reference):.2f}"
        label = f"({scenario}) {m.target.label or SCENARIOS[scenario]}"
        lines.append(
            f"{variant or '-':<16} {label:<40} {m.rate:>7.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f} "
            f"{m.cpu_us_per_request:>10.0f} {ratio:>10} {versus:>10} {m.errors:>6}"
        )
    return "\n".join(lines)
