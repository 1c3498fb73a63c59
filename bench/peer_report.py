"""The side-by-side tables: every target's CPU per request, req/s and added p99 at half its
own peak, and the sidecar / peer ratios (oauth2-proxy, Envoy, mod_auth_openidc). The goals
are in `bench.goals`, what makes the comparisons unfair in `bench.unfair`."""

from __future__ import annotations

from dataclasses import dataclass

from bench.measure import Measurement
from bench.report import round_ratio

NGINX, APACHE, OIDC = "nginx", "apache", "mod_auth_openidc"
O2P, ENVOY, ENVOY_CACHE = "oauth2-proxy", "envoy", "envoy-cache"
PEERS = (NGINX, APACHE, OIDC, O2P, ENVOY, ENVOY_CACHE)
PATHS = {"a": "upstream", "b": "passthrough", "c": "bearer", "d": "session"}
Key = tuple[str, str]  # (variant, scenario)


@dataclass(frozen=True)
class Paced:
    scenario: str
    rate: float  # the requested rate: half the target's own measured peak
    target: Measurement
    upstream: Measurement  # the upstream alone at the same rate, measured just before

    @property
    def added_p99_ms(self) -> float:
        return self.target.p99_ms - self.upstream.p99_ms


def by_key(measurements: list[Measurement]) -> dict[Key, Measurement]:
    return {(m.target.variant, m.target.scenario): m for m in measurements}


def _order(variant: str, sidecar: str) -> int:
    names = [sidecar, O2P, ENVOY, ENVOY_CACHE, OIDC, APACHE, NGINX, ""]
    return names.index(variant) if variant in names else 1


def peer_table(measurements: list[Measurement], sidecar: str, paced: list[Paced]) -> str:
    added = {(p.target.target.variant, p.scenario): p for p in paced}
    rows = sorted(
        measurements, key=lambda m: (_order(m.target.variant, sidecar), m.target.scenario)
    )
    lines = [
        "Every target, one run (CPU: the server's process tree; req/s, p99: medians of the "
        "rounds; added p99: paced at half the target's own peak, minus the upstream's p99 "
        "at the same rate):",
        f"  {'target':<40}{'path':<13}{'CPU us/req':>11}{'req/s':>8}{'p99 ms':>8}"
        f"{'added p99 ms @ req/s':>24}",
    ]
    for m in rows:
        t = m.target
        if t.variant not in (sidecar, "", *PEERS):
            continue
        label = t.label or (f"sidecar {t.variant}" if t.variant else "upstream directly")
        p = added.get((t.variant, t.scenario))
        pace = f"{p.added_p99_ms:8.2f} @ {p.rate:6.0f}" if p else ""
        lines.append(
            f"  {label:<40}{PATHS[t.scenario]:<13}{m.cpu_us_per_request:11.0f}"
            f"{m.rate:8.0f}{m.p99_ms:8.2f}{pace:>24}"
        )
    return "\n".join(lines)


def cpu_ratio(measured: Measurement | None, base: Measurement | None) -> float | None:
    if measured is None or base is None or not base.cpu_us_per_request:
        return None
    return measured.cpu_us_per_request / base.cpu_us_per_request


RATIOS = (
    ("oauth2-proxy", {"b": (O2P, "b"), "c": (O2P, "c"), "d": (O2P, "d")}),
    ("Envoy (router; jwt_authn)", {"b": (ENVOY, "b"), "c": (ENVOY, "c")}),
    ("Envoy jwt_authn + jwt cache", {"c": (ENVOY_CACHE, "c")}),
    ("mod_auth_openidc", {"b": (OIDC, "b"), "c": (OIDC, "c"), "d": (OIDC, "d")}),
    ("Apache mod_proxy", {"b": (APACHE, "b")}),
    ("nginx proxy_pass", {"b": (NGINX, "b")}),
)


def ratio_table(measurements: list[Measurement], sidecar: str) -> str:
    keyed = by_key(measurements)
    head = "".join(f"{PATHS[s]:>22}" for s in "bcd")
    lines = [f"sidecar {sidecar} / peer: CPU per request, req/s (one run)", f"  {'peer':<30}{head}"]
    for name, paths in RATIOS:
        cells = ""
        for scenario in "bcd":
            side, peer = keyed.get((sidecar, scenario)), keyed.get(paths.get(scenario, ("?", "?")))
            cpu = cpu_ratio(side, peer)
            if cpu is None or side is None or peer is None:
                cells += f"{'-':>22}"
                continue
            cells += f"{f'{cpu:.2f}, {round_ratio(side, peer):.2f}':>22}"
        lines.append(f"  {name:<30}{cells}")
    return "\n".join(lines)


def paced_table(paced: list[Paced]) -> str:
    lines = ["Paced at half each target's own peak (p99 of the target minus the upstream's):"]
    for p in paced:
        s, u = p.target, p.upstream
        name = s.target.label or f"sidecar {s.target.variant}"
        lines.append(
            f"  ({p.scenario}) {name:<34} asked {p.rate:6.0f} req/s: got {s.rate:6.0f}, p50 "
            f"{s.p50_ms:5.2f} p99 {s.p99_ms:6.2f} ms; upstream alone p50 {u.p50_ms:5.2f} "
            f"p99 {u.p99_ms:6.2f} ms; added p99 {p.added_p99_ms:5.2f} ms"
        )
    return "\n".join(lines)
