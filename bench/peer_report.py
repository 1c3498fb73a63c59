"""The side-by-side table: the sidecar next to nginx, Apache mod_proxy and mod_auth_openidc,
the sidecar / mod_auth_openidc ratios, the issue's goals met or not, and what is unfair."""

from __future__ import annotations

from dataclasses import dataclass

from bench.measure import Measurement
from bench.report import round_ratio

NGINX, APACHE, OIDC = "nginx", "apache", "mod_auth_openidc"
PEERS = (NGINX, APACHE, OIDC)
PATHS = (("b", "passthrough (public path)"), ("c", "bearer token"), ("d", "session cookie (Redis)"))
UNFAIR = """\
Differences that make the comparison unfair, either way:
- mod_auth_openidc's oauth20 check ignores `aud` and `iss` (the sidecar checks both, and
  `exp`, `nbf`, `iat` and the algorithm), forwards the client's `Authorization` and its
  cookies (the sidecar strips both), and checks the RSA signature on every request; the
  sidecar caches verified tokens (one RSA check per token), so (c) is its cache-hit path.
- mod_auth_openidc sends claims as OIDC_CLAIM_* headers; the sidecar also strips every
  spoofable identity header, sets X-Forwarded-*, X-Request-ID, and signs an ES256 assertion
  (cached for a quarter of its lifetime).
- the session: mod_auth_openidc does two Redis GETs per request (session, provider metadata);
  the sidecar one MGET (session + last-seen) and an AES-GCM unseal of the record.
- both C servers write a plain access line; the sidecar a structlog JSON line."""


@dataclass(frozen=True)
class Paced:
    scenario: str
    rate: float  # the requested rate: half the sidecar's measured peak
    sidecar: Measurement
    upstream: Measurement

    @property
    def added_p99_ms(self) -> float:
        return self.sidecar.p99_ms - self.upstream.p99_ms


def _cell(m: Measurement | None) -> str:
    return f"{m.cpu_us_per_request:5.0f} {m.rate:6.0f}" if m is not None else f"{'':12}"


def peer_table(measurements: list[Measurement], sidecar: str) -> str:
    by_key = {(m.target.variant, m.target.scenario): m for m in measurements}
    upstream = by_key[("", "a")]
    columns = (
        "upstream",
        "nginx",
        "Apache mod_proxy",
        "Apache+mod_auth_oidc",
        f"sidecar {sidecar}",
    )
    head = "".join(f"{name:>22}" for name in columns)
    lines = [
        "CPU us/req and req/s per target (medians of the rounds), one run:",
        f"{'path':<28}{head}{'sidecar/mod_auth_oidc: CPU, req/s':>36}",
    ]
    for scenario, label in PATHS:
        row = [
            upstream if scenario == "b" else None,
            by_key.get((NGINX, scenario)),
            by_key.get((APACHE, scenario)),
            by_key.get((OIDC, scenario)),
            by_key.get((sidecar, scenario)),
        ]
        ratio = _cpu_ratio(row[4], row[3])
        if row[3] is not None and row[4] is not None:
            ratio += f"  {round_ratio(row[4], row[3]):.2f}"
        cells = "".join(f"{_cell(m):>22}" for m in row)
        lines.append(f"{label:<28}{cells}{ratio:>36}")
    return "\n".join(lines)


def _cpu_ratio(measured: Measurement | None, base: Measurement | None) -> str:
    if measured is None or base is None or not base.cpu_us_per_request:
        return ""
    return f"{measured.cpu_us_per_request / base.cpu_us_per_request:.2f}"


def goals(measurements: list[Measurement], sidecar: str, paced: list[Paced]) -> str:
    by_key = {(m.target.variant, m.target.scenario): m for m in measurements}
    side = {s: by_key.get((sidecar, s)) for s in "bcd"}
    checks: list[tuple[str, float | None, str, float]] = []

    def cpu(a: Measurement | None, b: Measurement | None) -> float | None:
        if a is None or b is None or not b.cpu_us_per_request:
            return None
        return a.cpu_us_per_request / b.cpu_us_per_request

    def rate(a: Measurement | None, b: Measurement | None) -> float | None:
        return round_ratio(a, b) if a is not None and b is not None else None

    checks += [
        (
            "bearer CPU/req vs mod_auth_openidc oauth20",
            cpu(side["c"], by_key.get((OIDC, "c"))),
            "<=",
            0.8,
        ),
        (
            "session CPU/req vs mod_auth_openidc (Redis)",
            cpu(side["d"], by_key.get((OIDC, "d"))),
            "<=",
            0.8,
        ),
        (
            "passthrough CPU/req vs Apache mod_proxy",
            cpu(side["b"], by_key.get((APACHE, "b"))),
            "<=",
            1.5,
        ),
        ("passthrough req/s vs the upstream", rate(side["b"], by_key.get(("", "a"))), ">=", 0.40),
        ("bearer req/s vs passthrough", rate(side["c"], side["b"]), ">=", 0.9),
        ("session req/s vs passthrough", rate(side["d"], side["b"]), ">=", 0.85),
    ]
    for p in paced:
        if p.sidecar.target.variant != sidecar:
            continue
        checks.append(
            (
                f"added p99 ms at half peak ({p.scenario}, {p.rate:.0f} req/s)",
                p.added_p99_ms,
                "<=",
                2.0,
            )
        )
    lines = ["Goals (issue 9), ratios from this run:"]
    for name, value, op, limit in checks:
        if value is None:
            lines.append(f"  {name:<58} {'-':>6}   (not measured)")
            continue
        met = value <= limit if op == "<=" else value >= limit
        lines.append(
            f"  {name:<58} {value:6.3f}  goal {op} {limit:<4} {'met' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def paced_table(paced: list[Paced]) -> str:
    lines = ["Paced load at half the sidecar's peak (p99 of the sidecar minus the upstream's):"]
    for p in paced:
        s, u = p.sidecar, p.upstream
        lines.append(
            f"  ({p.scenario}) {s.target.variant:<10} asked {p.rate:6.0f} req/s: sidecar "
            f"{s.rate:6.0f} req/s p50 "
            f"{s.p50_ms:5.2f} p99 {s.p99_ms:6.2f} ms; upstream {u.rate:6.0f} req/s p50 "
            f"{u.p50_ms:5.2f} p99 {u.p99_ms:6.2f} ms; added p99 {p.added_p99_ms:5.2f} ms"
        )
    return "\n".join(lines)
