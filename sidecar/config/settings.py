"""Settings: one frozen object, built once from a YAML file and the environment.

The dataclasses (`model`) are the shape every module reads. `load_settings` reads the sources
(`sources`), converts each key (`parse`, `rules`), checks the rules that span keys, and raises
one `ConfigError` listing every problem, each naming the key and its env var.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, Literal, cast

from sidecar.config import parse
from sidecar.config.model import (
    DEFAULT_EXCHANGE_PEERS,
    Access,
    AssertionSettings,
    HostPort,
    IPNetwork,
    OidcSettings,
    PolicyRule,
    Route,
    RouteAssertion,
    SessionSettings,
    Settings,
    TokenExchangeSettings,
    TracingSettings,
    TrustedIssuer,
)
from sidecar.config.routes import parse_routes, shorthand_route
from sidecar.config.rules import parse_policy
from sidecar.config.sources import CONFIG_ENV, Reader, read_sources

__all__ = [
    "Access",
    "AssertionSettings",
    "ConfigError",
    "HostPort",
    "IPNetwork",
    "OidcSettings",
    "PolicyRule",
    "Route",
    "RouteAssertion",
    "SessionSettings",
    "Settings",
    "TokenExchangeSettings",
    "TracingSettings",
    "TrustedIssuer",
    "load_settings",
]


class ConfigError(Exception):
    """All configuration problems at once; `problems` is one line each, naming key and env."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} configuration problem(s)")
        self.problems = problems


def load_settings(
    config_file: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build `Settings` from `config_file` (else `$SIDECAR_CONFIG`, else none) and `environ`
    (default `os.environ`); env wins. Raises `ConfigError` with every problem found."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    reader = read_sources(config_file or env.get(CONFIG_ENV) or None, env, problems)
    settings = _build(reader)
    if problems:
        raise ConfigError(problems)
    return settings


def _defaults(cls: type) -> dict[str, Any]:
    """The dataclass defaults, so that each is written down once."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def _build(r: Reader) -> Settings:
    d = _defaults(Settings)
    oidc = _oidc(r)
    public_url = r.required("public_url", parse.to_http_url, "").rstrip("/")
    upstream = r.get("upstream", parse.to_http_url, None)
    listen = HostPort(*r.get("listen", parse.to_host_port, _pair(d["listen"])))
    admin_listen = HostPort(*r.get("admin_listen", parse.to_host_port, _pair(d["admin_listen"])))
    if parse.listeners_clash(_pair(listen), _pair(admin_listen)):
        r.problem("admin_listen", f"must differ from listen ({listen})")
    session = _session(r, public_url)
    assertion = _assertion(r, upstream or public_url)
    policy = parse_policy(r.policy, r.problems)
    routes = _routes(r, public_url, shorthand_route(upstream, policy, assertion.audience))
    workers = r.get("workers", parse.to_int(1, 64), d["workers"])
    if workers > 1 and session.redis_url is None:
        r.problem(
            "workers", "more than 1 needs session.redis_url (the memory store is per process)"
        )
    return Settings(
        oidc=oidc,
        public_url=public_url,
        session=session,
        assertion=assertion,
        listen=listen,
        admin_listen=admin_listen,
        upstream=upstream,
        trusted_proxies=r.get("trusted_proxies", parse.to_networks, ()),
        forward_token=r.get("headers.forward_token", parse.to_bool, d["forward_token"]),
        policy=policy,
        log_level=r.get("log.level", parse.to_choice(LOG_LEVELS), d["log_level"]),
        log_format=r.get("log.format", parse.to_log_format, d["log_format"]),
        shutdown_grace_s=r.get("shutdown_grace_s", parse.to_float(0, 3600), d["shutdown_grace_s"]),
        workers=workers,
        upstream_connect_timeout_s=r.get(
            "upstream_connect_timeout_s", _positive_float, d["upstream_connect_timeout_s"]
        ),
        upstream_timeout_s=r.get("upstream_timeout_s", _positive_float, d["upstream_timeout_s"]),
        upstream_max_connections=r.get(
            "upstream_max_connections",
            parse.to_int(1, MAX_UPSTREAM_CONNECTIONS),
            d["upstream_max_connections"],
        ),
        token_exchange=_token_exchange(r),
        trusted_issuers=_trusted_issuers(r.yaml_only.get("trusted_issuers"), r.problems),
        tracing=TracingSettings(enabled=r.get("tracing.enabled", parse.to_bool, False)),
        routes=routes,
        admin_token=r.get("admin.token", _admin_token, None),
    )


def _routes(r: Reader, public_url: str, shorthand: Route) -> tuple[Route, ...]:
    """The route table, or the shorthand route; the two forms never mix (CONTRACT)."""
    raw = r.yaml_only.get("routes")
    if raw is None:
        return (shorthand,)
    for key in ("upstream", "assertion.audience"):
        if r.raw(key) is not None:
            r.problem(key, "not with routes: give each route its own (the two forms never mix)")
    if r.policy is not None:
        r.problems.append(
            "policy (YAML only): not with routes: give each route its own policy"
            " (the two forms never mix)"
        )
    return parse_routes(raw, r.problems, public_url) or (shorthand,)


LOG_LEVELS = ("debug", "info", "warning", "error")
# Connections from one address to one origin: no more than there are source ports.
MAX_UPSTREAM_CONNECTIONS = 65535
_positive_float = parse.to_float(0.001)


def _pair(host_port: HostPort) -> tuple[str, int]:
    return host_port.host, host_port.port


def _oidc(r: Reader) -> OidcSettings:
    d = _defaults(OidcSettings)
    client_id = r.required("oidc.client_id", parse.to_text, "")
    return OidcSettings(
        issuer=r.required("oidc.issuer", parse.to_http_url, ""),
        client_id=client_id,
        client_secret=r.required("oidc.client_secret", parse.to_text, ""),
        scopes=r.get("oidc.scopes", parse.to_scopes, d["scopes"]),
        audiences=r.get("oidc.audiences", _non_empty_list, ()) or (client_id,),
        algorithms=r.get("oidc.algorithms", parse.to_algorithms, d["algorithms"]),
        leeway_s=r.get("oidc.leeway_s", parse.to_int(0, 300), d["leeway_s"]),
        http_timeout_s=r.get("oidc.http_timeout_s", _positive_float, d["http_timeout_s"]),
        end_session=cast(
            Literal["auto", "off"],
            r.get("oidc.end_session", parse.to_choice(("auto", "off")), d["end_session"]),
        ),
        userinfo=r.get("oidc.userinfo", parse.to_bool, d["userinfo"]),
    )


ADMIN_TOKEN_MIN_CHARS = 16


def _admin_token(raw: object) -> str:
    """A bearer secret for the admin listener's `/sessions` endpoints: printable ASCII, no
    spaces, long enough not to be guessed (`auth-sidecar gen-secret` makes one)."""
    token = parse.to_text(raw)
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError("must be printable ASCII without spaces")
    if len(token) < ADMIN_TOKEN_MIN_CHARS:
        raise ValueError(
            f"must be at least {ADMIN_TOKEN_MIN_CHARS} characters (`auth-sidecar gen-secret`)"
        )
    return token


def _non_empty_list(raw: object) -> tuple[str, ...]:
    items = parse.to_list(",")(raw)
    if not items:
        raise ValueError("must name at least one value")
    return items


def _session(r: Reader, public_url: str) -> SessionSettings:
    d = _defaults(SessionSettings)
    redis_url = r.get("session.redis_url", parse.to_redis_url, None)
    cluster = r.get("session.redis_cluster", parse.to_bool, d["redis_cluster"])
    raw_url = str(r.raw("session.redis_url") or "").lower()
    if cluster and not raw_url.startswith(("redis://", "rediss://")):
        r.problem("session.redis_cluster", "needs a redis:// or rediss:// session.redis_url")
    ttl = parse.to_int(1)
    idle = r.get("session.idle_ttl_s", ttl, d["idle_ttl_s"])
    absolute = r.get("session.absolute_ttl_s", ttl, d["absolute_ttl_s"])
    if idle > absolute:
        r.problem("session.idle_ttl_s", f"must not exceed session.absolute_ttl_s ({absolute})")
    # CONTRACT: `1` with Sentinel or Cluster (a failover may lose an unreplicated write), else 0.
    replicated = int(cluster or raw_url.startswith("redis+sentinel://"))
    return SessionSettings(
        secrets=r.required("session.secret", parse.to_session_secrets, ()),
        redis_url=redis_url,
        redis_cluster=cluster,
        cookie_name=r.get("session.cookie_name", parse.to_cookie_name, d["cookie_name"]),
        cookie_secure=r.get(
            "session.cookie_secure", parse.to_bool, public_url.lower().startswith("https:")
        ),
        idle_ttl_s=idle,
        absolute_ttl_s=absolute,
        refresh_margin_s=r.get("session.refresh_margin_s", parse.to_int(0), d["refresh_margin_s"]),
        store_timeout_s=r.get("session.store_timeout_s", _positive_float, d["store_timeout_s"]),
        cache_s=r.get("session.cache_s", parse.to_float(0, 3600), d["cache_s"]),
        min_replicas=r.get("session.min_replicas", parse.to_int(0, 16), replicated),
        replica_wait_ms=r.get("session.replica_wait_ms", parse.to_int(1, 60_000), 100),
    )


def _assertion(r: Reader, default_audience: str) -> AssertionSettings:
    d = _defaults(AssertionSettings)
    return AssertionSettings(
        signing_keys_pem=r.get("assertion.signing_key", parse.to_signing_keys, ()),
        audience=r.get("assertion.audience", parse.to_text, default_audience),
        ttl_s=r.get("assertion.ttl_s", parse.to_int(1, 3600), d["ttl_s"]),
    )


def _token_exchange(r: Reader) -> TokenExchangeSettings:
    d = _defaults(TokenExchangeSettings)
    none: tuple[str, ...] = ()
    audiences = r.get("token_exchange.audiences", parse.to_list(","), none)
    checked: list[str] = []
    for audience in audiences:
        try:
            checked.append(parse.to_http_url(audience).rstrip("/"))
        except ValueError as exc:
            r.problem("token_exchange.audiences", f"{audience!r}: {exc}")
    return TokenExchangeSettings(
        audiences=tuple(checked),
        allowed_peers=r.get(
            "token_exchange.allowed_peers", parse.to_networks, DEFAULT_EXCHANGE_PEERS
        ),
        ttl_s=r.get("token_exchange.ttl_s", parse.to_int(1, 3600), d["ttl_s"]),
    )


def _trusted_issuers(raw: object, problems: list[str]) -> tuple[TrustedIssuer, ...]:
    """`trusted_issuers` (YAML only): `[{issuer: URL, jwks_url: URL}]`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("trusted_issuers (YAML only): must be a list of {issuer, jwks_url}")
        return ()
    issuers: list[TrustedIssuer] = []
    for index, entry in enumerate(raw):
        where = f"trusted_issuers[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"issuer", "jwks_url"}:
            problems.append(f"{where} (YAML only): must be a mapping of exactly issuer, jwks_url")
            continue
        try:
            issuers.append(
                TrustedIssuer(
                    issuer=parse.to_http_url(entry["issuer"]).rstrip("/"),
                    jwks_url=parse.to_http_url(entry["jwks_url"]),
                )
            )
        except ValueError as exc:
            problems.append(f"{where} (YAML only): {exc}")
    return tuple(issuers)
