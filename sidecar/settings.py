"""Settings: one frozen object, built once from a YAML file and the environment.

The dataclasses are the shape every module reads. `load_settings` reads the sources
(`settings_sources`), converts each key (`settings_parse`), checks the rules that span keys, and
raises one `ConfigError` listing every problem, each naming the key and its env var.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from sidecar import settings_parse as parse
from sidecar.settings_sources import CONFIG_ENV, Reader, read_sources

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
    """One `policy` entry. `access` is `public`, `authenticated`, or `restricted` (any of
    groups / emails / email_domains must match)."""

    path: str
    access: Access
    groups: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    email_domains: frozenset[str] = frozenset()


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


@dataclass(frozen=True, slots=True)
class AssertionSettings:
    signing_keys_pem: tuple[str, ...] = ()  # empty -> ephemeral key with a warning
    audience: str = ""  # loader fills with `upstream` (or public_url when no upstream)
    ttl_s: int = 60


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
    upstream_timeout_s: float = 60.0  # extra key: time to response headers -> 504

    @property
    def public_path(self) -> str:
        """The path prefix of `public_url` ('' at the root): cookie Path and /.auth prefix."""
        return urlsplit(self.public_url).path.rstrip("/")


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
    workers = r.get("workers", parse.to_int(1, 64), d["workers"])
    if workers > 1 and session.redis_url is None:
        r.problem(
            "workers", "more than 1 needs session.redis_url (the memory store is per process)"
        )
    return Settings(
        oidc=oidc,
        public_url=public_url,
        session=session,
        assertion=_assertion(r, upstream or public_url),
        listen=listen,
        admin_listen=admin_listen,
        upstream=upstream,
        trusted_proxies=r.get("trusted_proxies", parse.to_networks, ()),
        forward_token=r.get("headers.forward_token", parse.to_bool, d["forward_token"]),
        policy=_policy(r),
        log_level=r.get("log.level", parse.to_choice(LOG_LEVELS), d["log_level"]),
        log_format=r.get("log.format", parse.to_log_format, d["log_format"]),
        shutdown_grace_s=r.get("shutdown_grace_s", parse.to_float(0, 3600), d["shutdown_grace_s"]),
        workers=workers,
        upstream_connect_timeout_s=r.get(
            "upstream_connect_timeout_s", _positive_float, d["upstream_connect_timeout_s"]
        ),
        upstream_timeout_s=r.get("upstream_timeout_s", _positive_float, d["upstream_timeout_s"]),
    )


LOG_LEVELS = ("debug", "info", "warning", "error")
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
    )


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
    )


def _assertion(r: Reader, default_audience: str) -> AssertionSettings:
    d = _defaults(AssertionSettings)
    return AssertionSettings(
        signing_keys_pem=r.get("assertion.signing_key", parse.to_signing_keys, ()),
        audience=r.get("assertion.audience", parse.to_text, default_audience),
        ttl_s=r.get("assertion.ttl_s", parse.to_int(1, 3600), d["ttl_s"]),
    )


def _policy(r: Reader) -> tuple[PolicyRule, ...]:
    """`policy` (YAML only): `{path, allow: public|authenticated}` or `{path, groups, emails,
    email_domains}` (restricted: any one match suffices). Without a `/` rule nothing is added:
    the policy module's default is `authenticated`."""
    if r.policy is None:
        return ()
    if not isinstance(r.policy, list):
        r.problems.append("policy (YAML only): must be a list of {path, ...} entries")
        return ()
    rules: list[PolicyRule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(r.policy):
        problems_before = len(r.problems)
        rule = _policy_rule(entry, f"policy[{index}]", r.problems)
        if rule is None or len(r.problems) > problems_before:
            continue
        if rule.path in seen:
            r.problems.append(
                f"policy[{index}].path (YAML only): duplicate of policy[{seen[rule.path]}]"
            )
        seen.setdefault(rule.path, index)
        rules.append(rule)
    return tuple(rules)


POLICY_FIELDS = ("path", "allow", "groups", "emails", "email_domains")
_POLICY_LISTS = ("groups", "emails", "email_domains")


def _policy_rule(entry: object, where: str, problems: list[str]) -> PolicyRule | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} (YAML only): must be a mapping with a path")
        return None
    for name in entry:
        if name not in POLICY_FIELDS:
            problems.append(
                f"{where}.{name} (YAML only): unknown field; use {', '.join(POLICY_FIELDS)}"
            )
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/") or not path.isprintable():
        problems.append(f"{where}.path (YAML only): must be a path starting with /")
    elif "?" in path or "#" in path or " " in path:
        problems.append(f"{where}.path (YAML only): a path only, no query, fragment or space")
    lists = {name: _policy_list(entry, name, where, problems) for name in _POLICY_LISTS}
    allow = entry.get("allow")
    restricted = any(entry.get(name) is not None for name in _POLICY_LISTS)
    if allow is not None and restricted:
        problems.append(f"{where} (YAML only): allow excludes {', '.join(_POLICY_LISTS)}")
    elif allow is None and not restricted:
        problems.append(
            f"{where} (YAML only): needs allow: public|authenticated, or groups, emails or"
            " email_domains"
        )
    elif allow not in (None, "public", "authenticated"):
        problems.append(f"{where}.allow (YAML only): must be public or authenticated")
    access: Access = (
        "restricted" if allow is None else "public" if allow == "public" else "authenticated"
    )
    return PolicyRule(str(path), access, lists["groups"], lists["emails"], lists["email_domains"])


def _policy_list(
    entry: dict[Any, Any], name: str, where: str, problems: list[str]
) -> frozenset[str]:
    value = entry.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}.{name} (YAML only): must be a list of non-empty strings")
        return frozenset()
    items = [v.strip() for v in value]
    if name == "emails" and not all("@" in v for v in items):
        problems.append(f"{where}.emails (YAML only): each must be an email address")
    if name == "email_domains" and any("@" in v for v in items):
        problems.append(f"{where}.email_domains (YAML only): domains only, without @")
    # Groups are case-sensitive names; email addresses and domains are compared lowercased.
    return frozenset(items if name == "groups" else (v.lower() for v in items))
