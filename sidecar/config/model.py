"""The settings' shape: frozen dataclasses that every module reads (built by `settings`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Access = Literal["public", "authenticated", "restricted"]


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One `policy` entry. `access` is `public`, `authenticated`, or `restricted`: any of
    groups / emails / email_domains must match (when one is listed), every entry of `claims`
    must hold, and the actor must be one of `actors` (when listed). `methods` empty: every
    method; else the rule applies to those methods only."""

    path: str
    access: Access
    groups: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    email_domains: frozenset[str] = frozenset()
    methods: frozenset[str] = frozenset()
    claims: tuple[tuple[str, frozenset[str]], ...] = ()  # (claim, accepted values), sorted
    actors: frozenset[str] = frozenset()


# CONTRACT "Identity headers sent upstream": the identity claims an assertion may carry, and
# the default set of a route's `assertion.claims`. `iss`, `aud`, `iat`, `exp` are always there.
ASSERTION_CLAIMS: tuple[str, ...] = ("sub", "email", "preferred_username", "name", "groups")


@dataclass(frozen=True, slots=True)
class RouteAssertion:
    """What one route's `X-Auth-Assertion` says: its `aud` and the identity claims it names."""

    audience: str
    claims: tuple[str, ...] = ASSERTION_CLAIMS


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the route table (or the shorthand: top-level `upstream` + `policy`).

    `host`: None for any host, `api.example.com` exact, `*.example.com` any name below it
    (lowercase, no port, no trailing dot). `path`: a normalized prefix without a trailing '/'
    (except '/'). `upstream` None: only `/.auth/verify` serves it (forward-auth). `name` is
    how logs and metrics name the route: `host` + `path`, or `path` alone.
    """

    name: str
    path: str
    upstream: str | None
    assertion: RouteAssertion
    host: str | None = None
    strip_prefix: bool = False
    policy: tuple[PolicyRule, ...] = ()


def shorthand_route(upstream: str | None, policy: tuple[PolicyRule, ...], audience: str) -> Route:
    """The route that top-level `upstream` and `policy` stand for: every host, every path."""
    return Route(
        name="/", path="/", upstream=upstream, assertion=RouteAssertion(audience), policy=policy
    )


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile", "groups", "offline_access")
    audiences: tuple[str, ...] = ()  # loader fills with (client_id,) when unset
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: int = 30
    http_timeout_s: float = 5.0  # extra key: timeout for discovery, JWKS and token calls
    end_session: Literal["auto", "off"] = "auto"  # RP-initiated logout at the provider
    userinfo: bool = False  # call userinfo_endpoint at login and refresh (CONTRACT "Userinfo")


@dataclass(frozen=True, slots=True)
class SessionSettings:
    secrets: tuple[bytes, ...]  # decoded url-safe base64, each >= 32 bytes; first seals
    redis_url: str | None = None
    redis_cluster: bool = False
    cookie_name: str = "sidecar_session"
    cookie_secure: bool = True
    idle_ttl_s: int = 86400
    absolute_ttl_s: int = 604800
    refresh_margin_s: int = 60
    store_timeout_s: float = 2.0  # extra key: per Redis command; beyond it -> 503
    cache_s: float = 5.0  # unsealed sessions kept in process memory at most this long; 0: off
    min_replicas: int = 0  # loader: 1 with Sentinel or Cluster; WAIT for this many after writes
    replica_wait_ms: int = 100


@dataclass(frozen=True, slots=True)
class AssertionSettings:
    signing_keys_pem: tuple[str, ...] = ()  # empty -> ephemeral key with a warning
    audience: str = ""  # loader fills with `upstream` (or public_url when no upstream)
    ttl_s: int = 60


DEFAULT_EXCHANGE_PEERS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True, slots=True)
class TokenExchangeSettings:
    """CONTRACT "Service to service": RFC 8693 exchange at `POST /.auth/token`."""

    audiences: tuple[str, ...] = ()  # empty: exchange off
    allowed_peers: tuple[IPNetwork, ...] = DEFAULT_EXCHANGE_PEERS
    ttl_s: int = 60

    @property
    def enabled(self) -> bool:
        return bool(self.audiences)


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """Another sidecar whose exchanged tokens this one accepts (`trusted_issuers`, YAML only)."""

    issuer: str
    jwks_url: str


@dataclass(frozen=True, slots=True)
class TracingSettings:
    enabled: bool = False  # exporter configured by the standard OTEL_* variables


@dataclass(frozen=True, slots=True)
class Settings:
    oidc: OidcSettings
    public_url: str  # no trailing slash
    session: SessionSettings
    assertion: AssertionSettings = field(default_factory=AssertionSettings)
    listen: HostPort = HostPort("0.0.0.0", 8080)
    admin_listen: HostPort = HostPort("0.0.0.0", 9090)
    upstream: str | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    forward_token: bool = False  # key headers.forward_token
    policy: tuple[PolicyRule, ...] = ()
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    shutdown_grace_s: float = 20.0
    workers: int = 1  # extra key: processes sharing the port via SO_REUSEPORT
    upstream_connect_timeout_s: float = 5.0  # extra key
    # Connections to one upstream origin at once; a request that gets none within
    # upstream_connect_timeout_s is answered 504.
    upstream_max_connections: int = 1024
    upstream_timeout_s: float = 60.0  # extra key: time to response headers -> 504
    token_exchange: TokenExchangeSettings = field(default_factory=TokenExchangeSettings)
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    tracing: TracingSettings = field(default_factory=TracingSettings)
    # Never empty once loaded: the route table, or the one shorthand route built from
    # `upstream`, `policy` and `assertion.audience` (so the request path has one code path).
    routes: tuple[Route, ...] = ()
    admin_token: str | None = None  # admin.token: the admin listener's /sessions; None: off

    def __post_init__(self) -> None:
        if not self.routes:  # built by hand (tests, tools): the shorthand, as the loader does
            route = shorthand_route(self.upstream, self.policy, self.assertion.audience)
            object.__setattr__(self, "routes", (route,))

    @property
    def public_path(self) -> str:
        """The path prefix of `public_url` ('' at the root): cookie Path and /.auth prefix."""
        return urlsplit(self.public_url).path.rstrip("/")
