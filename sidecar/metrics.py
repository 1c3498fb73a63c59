"""Prometheus metrics, in a registry owned by the app (no process-global collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Auth decisions are sub-millisecond; proxied requests take as long as the upstream.
_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "sidecar_requests",
            "Requests by auth decision",
            ["decision"],
            registry=self.registry,
        )
        self._requests_by_decision: dict[str, Counter] = {}
        self.request_duration = Histogram(
            "sidecar_request_duration_seconds",
            "Time from request to response headers (proxied: to the end of the body)",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.jwks_fetch = Counter(
            "sidecar_jwks_fetch", "JWKS fetches by result", ["result"], registry=self.registry
        )
        self.token_refresh = Counter(
            "sidecar_token_refresh",
            "Session token refreshes by result",
            ["result"],
            registry=self.registry,
        )
        self.session_store_errors = Counter(
            "sidecar_session_store_errors",
            "Session store operations that failed (outage or timeout)",
            registry=self.registry,
        )
        self.assertion_oversize = Counter(
            "sidecar_assertion_oversize",
            "X-Auth-Assertion headers over 4 KiB, by route (name fewer assertion.claims)",
            ["route"],
            registry=self.registry,
        )

        self.token_exchange = Counter(
            "sidecar_token_exchange",
            "POST /.auth/token outcomes: ok, or the OAuth error code",
            ["result"],
            registry=self.registry,
        )
        self.trusted_issuer_jwks_fetch = Counter(
            "sidecar_trusted_issuer_jwks_fetch",
            "JWKS fetches of trusted issuers (other sidecars) by issuer and result",
            ["issuer", "result"],
            registry=self.registry,
        )

        self.session_unreplicated_writes = Counter(
            "sidecar_session_unreplicated_writes",
            "Login or refresh writes that fewer than session.min_replicas replicas acknowledged "
            "within session.replica_wait_ms",
            registry=self.registry,
        )
        self.session_signal_publish_failures = Counter(
            "sidecar_session_signal_publish_failures",
            "Session signal events (logout, refresh) that could not be published, even after "
            "one retry on a freshly asked-for master",
            registry=self.registry,
        )
        self.logout = Counter(
            "sidecar_logout",
            "Sessions ended by a logout, by kind (local, backchannel, user: the session list, "
            "admin: the operator's revoke)",
            ["kind"],
            registry=self.registry,
        )

    def signal_publish_failed(self) -> None:
        """A PUBLISH that failed twice: a store error, and the signal's own count."""
        self.session_store_errors.inc()
        self.session_signal_publish_failures.inc()

    def observe_request(self, decision: str, duration_s: float) -> None:
        # The child per decision, looked up once: `labels()` validates and locks on every
        # call, several microseconds on the request path. Decisions are a small fixed set.
        counter = self._requests_by_decision.get(decision)
        if counter is None:
            counter = self._requests_by_decision[decision] = self.requests.labels(decision=decision)
        counter.inc()
        self.request_duration.observe(duration_s)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
