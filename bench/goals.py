"""The goals of issue 9 (against mod_auth_openidc and Apache mod_proxy) and issue 18
(against oauth2-proxy; footprint), from the ratios of one run: met or not, never asserted."""

from __future__ import annotations

from bench.footprint import Footprint
from bench.measure import Measurement
from bench.peer_report import APACHE, O2P, OIDC, Paced, by_key, cpu_ratio
from bench.report import round_ratio

Check = tuple[str, float | None, str, float]


def _rate(a: Measurement | None, b: Measurement | None) -> float | None:
    return round_ratio(a, b) if a is not None and b is not None else None


def issue9(measurements: list[Measurement], sidecar: str, paced: list[Paced]) -> list[Check]:
    keyed = by_key(measurements)
    side = {s: keyed.get((sidecar, s)) for s in "bcd"}
    checks: list[Check] = [
        (
            "bearer CPU/req vs mod_auth_openidc oauth20",
            cpu_ratio(side["c"], keyed.get((OIDC, "c"))),
            "<=",
            0.8,
        ),
        (
            "session CPU/req vs mod_auth_openidc (Redis)",
            cpu_ratio(side["d"], keyed.get((OIDC, "d"))),
            "<=",
            0.8,
        ),
        (
            "passthrough CPU/req vs Apache mod_proxy",
            cpu_ratio(side["b"], keyed.get((APACHE, "b"))),
            "<=",
            1.5,
        ),
        ("passthrough req/s vs the upstream", _rate(side["b"], keyed.get(("", "a"))), ">=", 0.40),
        ("bearer req/s vs passthrough", _rate(side["c"], side["b"]), ">=", 0.9),
        ("session req/s vs passthrough", _rate(side["d"], side["b"]), ">=", 0.85),
    ]
    for p in paced:
        if p.target.target.variant == sidecar:
            name = f"added p99 ms at half peak ({p.scenario}, {p.rate:.0f} req/s)"
            checks.append((name, p.added_p99_ms, "<=", 2.0))
    return checks


def issue18(
    measurements: list[Measurement], sidecar: str, footprint: Footprint | None
) -> list[Check]:
    keyed = by_key(measurements)
    side = {s: keyed.get((sidecar, s)) for s in "bcd"}
    checks: list[Check] = [
        ("bearer CPU/req vs oauth2-proxy", cpu_ratio(side["c"], keyed.get((O2P, "c"))), "<=", 1.0),
        ("session CPU/req vs oauth2-proxy", cpu_ratio(side["d"], keyed.get((O2P, "d"))), "<=", 1.0),
        (
            "passthrough CPU/req vs oauth2-proxy",
            cpu_ratio(side["b"], keyed.get((O2P, "b"))),
            "<=",
            1.5,
        ),
    ]
    checks.append(("idle RSS MB", footprint.idle_mb if footprint else None, "<=", 50.0))
    checks.append(("ready s from start", footprint.ready_s if footprint else None, "<=", 0.5))
    cpu = footprint.ready_cpu_s if footprint else None
    checks.append(("  (CPU s spent by then, less load-dependent)", cpu, "<=", 0.5))
    return checks


def render(title: str, checks: list[Check]) -> str:
    lines = [title]
    for name, value, op, limit in checks:
        if value is None:
            lines.append(f"  {name:<58} {'-':>7}   (not measured)")
            continue
        met = value <= limit if op == "<=" else value >= limit
        verdict = "met" if met else "NOT met"
        lines.append(f"  {name:<58} {value:7.3f}  goal {op} {limit:<5} {verdict}")
    return "\n".join(lines)
