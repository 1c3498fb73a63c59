"""`load_settings`: YAML + env, env wins, `_file` secrets, every problem named by key and env var.

`ERROR_CASES` is shared with tests/test_cli.py, which runs each one through the real command.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sidecar.config.parse import ASYMMETRIC_ALGORITHMS
from sidecar.config.settings import ConfigError, HostPort, PolicyRule, Settings, load_settings
from sidecar.config.sources import SCALAR_KEYS, env_name

CLIENT_SECRET = "client-secret-for-tests-only"
DROP = object()  # in a patch: remove the key from the base config


def session_secret(size: int = 32) -> str:
    return secrets.token_urlsafe(size)


def ec_key_pem(curve: ec.EllipticCurve | None = None) -> str:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return _pem(key)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def base_config() -> dict[str, Any]:
    """A valid configuration, flat (`a.b` keys)."""
    return {
        "oidc.issuer": "https://dex.example.com",
        "oidc.client_id": "sidecar",
        "oidc.client_secret": CLIENT_SECRET,
        "public_url": "https://app.example.com",
        "session.secret": session_secret(),
    }


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in flat.items():
        section, dot, name = key.partition(".")
        if dot:
            document.setdefault(section, {})[name] = value
        else:
            document[key] = value
    return document


def write_config(tmp_path: Path, patch: dict[str, Any] | None = None) -> str:
    flat = base_config()
    for key, value in (patch or {}).items():
        if value is DROP:
            flat.pop(key, None)
        else:
            flat[key] = value
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(nest(flat)))
    return str(path)


def problems_of(config_file: str | None, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, env)
    return caught.value.problems


# id, YAML patch, env, the key and the env var the one problem line must name.
# A key of the form `policy[...]` has no env var: its line says "YAML only".
ERROR_CASES: list[tuple[str, dict[str, Any], dict[str, str], str, str]] = [
    ("missing-issuer", {"oidc.issuer": DROP}, {}, "oidc.issuer", "SIDECAR_OIDC_ISSUER"),
    ("missing-client-id", {"oidc.client_id": DROP}, {}, "oidc.client_id", "SIDECAR_OIDC_CLIENT_ID"),
    (
        "missing-client-secret",
        {"oidc.client_secret": DROP},
        {},
        "oidc.client_secret",
        "SIDECAR_OIDC_CLIENT_SECRET",
    ),
    ("missing-public-url", {"public_url": DROP}, {}, "public_url", "SIDECAR_PUBLIC_URL"),
    (
        "missing-session-secret",
        {"session.secret": DROP},
        {},
        "session.secret",
        "SIDECAR_SESSION_SECRET",
    ),
    ("unknown-yaml-key", {"oidc.bogus": "x"}, {}, "oidc.bogus", "SIDECAR_OIDC_BOGUS"),
    ("unknown-top-level-key", {"issuer": "x"}, {}, "issuer", "SIDECAR_ISSUER"),
    ("unknown-env", {}, {"SIDECAR_OIDC_BOGUS": "x"}, "SIDECAR_OIDC_BOGUS", "SIDECAR_OIDC_BOGUS"),
    ("policy-in-env", {}, {"SIDECAR_POLICY": "x"}, "SIDECAR_POLICY", "SIDECAR_POLICY"),
    ("leeway-not-int", {"oidc.leeway_s": "abc"}, {}, "oidc.leeway_s", "SIDECAR_OIDC_LEEWAY_S"),
    (
        "leeway-too-big",
        {},
        {"SIDECAR_OIDC_LEEWAY_S": "301"},
        "oidc.leeway_s",
        "SIDECAR_OIDC_LEEWAY_S",
    ),
    ("workers-zero", {"workers": 0}, {}, "workers", "SIDECAR_WORKERS"),
    (
        "upstream-max-connections-zero",
        {},
        {"SIDECAR_UPSTREAM_MAX_CONNECTIONS": "0"},
        "upstream_max_connections",
        "SIDECAR_UPSTREAM_MAX_CONNECTIONS",
    ),
    ("workers-without-redis", {"workers": 2}, {}, "workers", "SIDECAR_WORKERS"),
    (
        "bool-garbage",
        {},
        {"SIDECAR_SESSION_REDIS_CLUSTER": "maybe"},
        "session.redis_cluster",
        "SIDECAR_SESSION_REDIS_CLUSTER",
    ),
    (
        "forward-token-not-bool",
        {"headers.forward_token": "sure"},
        {},
        "headers.forward_token",
        "SIDECAR_HEADERS_FORWARD_TOKEN",
    ),
    ("listen-is-list", {"listen": ["a", "b"]}, {}, "listen", "SIDECAR_LISTEN"),
    ("ttl-zero", {"session.idle_ttl_s": 0}, {}, "session.idle_ttl_s", "SIDECAR_SESSION_IDLE_TTL_S"),
    (
        "timeout-negative",
        {"oidc.http_timeout_s": -1},
        {},
        "oidc.http_timeout_s",
        "SIDECAR_OIDC_HTTP_TIMEOUT_S",
    ),
    (
        "grace-not-number",
        {"shutdown_grace_s": "soon"},
        {},
        "shutdown_grace_s",
        "SIDECAR_SHUTDOWN_GRACE_S",
    ),
    ("log-level", {"log.level": "verbose"}, {}, "log.level", "SIDECAR_LOG_LEVEL"),
    ("log-format", {}, {"SIDECAR_LOG_FORMAT": "xml"}, "log.format", "SIDECAR_LOG_FORMAT"),
    (
        "cookie-name",
        {"session.cookie_name": "bad name"},
        {},
        "session.cookie_name",
        "SIDECAR_SESSION_COOKIE_NAME",
    ),
    ("alg-none", {"oidc.algorithms": "none"}, {}, "oidc.algorithms", "SIDECAR_OIDC_ALGORITHMS"),
    (
        "alg-hs256",
        {},
        {"SIDECAR_OIDC_ALGORITHMS": "RS256,HS256"},
        "oidc.algorithms",
        "SIDECAR_OIDC_ALGORITHMS",
    ),
    (
        "alg-unknown",
        {"oidc.algorithms": "FOO256"},
        {},
        "oidc.algorithms",
        "SIDECAR_OIDC_ALGORITHMS",
    ),
    ("alg-empty", {"oidc.algorithms": ","}, {}, "oidc.algorithms", "SIDECAR_OIDC_ALGORITHMS"),
    (
        "scopes-no-openid",
        {"oidc.scopes": "email profile"},
        {},
        "oidc.scopes",
        "SIDECAR_OIDC_SCOPES",
    ),
    ("audiences-empty", {"oidc.audiences": ","}, {}, "oidc.audiences", "SIDECAR_OIDC_AUDIENCES"),
    (
        "secret-short",
        {"session.secret": session_secret(16)},
        {},
        "session.secret",
        "SIDECAR_SESSION_SECRET",
    ),
    (
        "secret-bad-base64",
        {},
        {"SIDECAR_SESSION_SECRET": "!!not*base64!!"},
        "session.secret",
        "SIDECAR_SESSION_SECRET",
    ),
    (
        "secret-rotation-entry-short",
        {"session.secret": f"{session_secret()},{session_secret(8)}"},
        {},
        "session.secret",
        "SIDECAR_SESSION_SECRET",
    ),
    (
        "issuer-no-scheme",
        {"oidc.issuer": "dex.example.com"},
        {},
        "oidc.issuer",
        "SIDECAR_OIDC_ISSUER",
    ),
    (
        "issuer-query",
        {"oidc.issuer": "https://dex.example.com/?a=b"},
        {},
        "oidc.issuer",
        "SIDECAR_OIDC_ISSUER",
    ),
    (
        "issuer-credentials",
        {"oidc.issuer": "https://u:p@dex.example.com"},
        {},
        "oidc.issuer",
        "SIDECAR_OIDC_ISSUER",
    ),
    (
        "public-url-ftp",
        {},
        {"SIDECAR_PUBLIC_URL": "ftp://app.example.com"},
        "public_url",
        "SIDECAR_PUBLIC_URL",
    ),
    (
        "public-url-fragment",
        {"public_url": "https://app.example.com/#x"},
        {},
        "public_url",
        "SIDECAR_PUBLIC_URL",
    ),
    ("upstream-not-url", {"upstream": "not a url"}, {}, "upstream", "SIDECAR_UPSTREAM"),
    (
        "upstream-bad-port",
        {"upstream": "http://127.0.0.1:99999"},
        {},
        "upstream",
        "SIDECAR_UPSTREAM",
    ),
    (
        "cidr-bad-prefix",
        {"trusted_proxies": "10.0.0.0/33"},
        {},
        "trusted_proxies",
        "SIDECAR_TRUSTED_PROXIES",
    ),
    (
        "cidr-name",
        {},
        {"SIDECAR_TRUSTED_PROXIES": "10.0.0.0/8,kong"},
        "trusted_proxies",
        "SIDECAR_TRUSTED_PROXIES",
    ),
    ("listen-no-port", {"listen": "8080"}, {}, "listen", "SIDECAR_LISTEN"),
    ("listen-port-range", {}, {"SIDECAR_LISTEN": "127.0.0.1:70000"}, "listen", "SIDECAR_LISTEN"),
    ("listen-bad-v6", {"listen": "[zz]:80"}, {}, "listen", "SIDECAR_LISTEN"),
    ("listen-v6-unbracketed", {"listen": "::1:80"}, {}, "listen", "SIDECAR_LISTEN"),
    (
        "admin-same-as-listen",
        {"listen": "0.0.0.0:8080", "admin_listen": "127.0.0.1:8080"},
        {},
        "admin_listen",
        "SIDECAR_ADMIN_LISTEN",
    ),
    (
        "redis-scheme",
        {"session.redis_url": "http://h:6379"},
        {},
        "session.redis_url",
        "SIDECAR_SESSION_REDIS_URL",
    ),
    (
        "redis-bad-port",
        {},
        {"SIDECAR_SESSION_REDIS_URL": "redis://h:port/0"},
        "session.redis_url",
        "SIDECAR_SESSION_REDIS_URL",
    ),
    (
        "sentinel-without-service",
        {"session.redis_url": "redis+sentinel://h1:26379,h2:26379"},
        {},
        "session.redis_url",
        "SIDECAR_SESSION_REDIS_URL",
    ),
    (
        "cluster-with-sentinel",
        {"session.redis_url": "redis+sentinel://h1:26379/mymaster", "session.redis_cluster": True},
        {},
        "session.redis_cluster",
        "SIDECAR_SESSION_REDIS_CLUSTER",
    ),
    (
        "cluster-without-url",
        {"session.redis_cluster": "yes"},
        {},
        "session.redis_cluster",
        "SIDECAR_SESSION_REDIS_CLUSTER",
    ),
    (
        "signing-key-p384",
        {"assertion.signing_key": ec_key_pem(ec.SECP384R1())},
        {},
        "assertion.signing_key",
        "SIDECAR_ASSERTION_SIGNING_KEY",
    ),
    (
        "signing-key-rsa",
        {},
        {"SIDECAR_ASSERTION_SIGNING_KEY": _pem(rsa.generate_private_key(65537, 2048))},
        "assertion.signing_key",
        "SIDECAR_ASSERTION_SIGNING_KEY",
    ),
    (
        "signing-key-second-bad",
        {"assertion.signing_key": ec_key_pem() + ec_key_pem(ec.SECP521R1())},
        {},
        "assertion.signing_key",
        "SIDECAR_ASSERTION_SIGNING_KEY",
    ),
    (
        "signing-key-garbage",
        {"assertion.signing_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
        {},
        "assertion.signing_key",
        "SIDECAR_ASSERTION_SIGNING_KEY",
    ),
    (
        "signing-key-not-pem",
        {"assertion.signing_key": "just text"},
        {},
        "assertion.signing_key",
        "SIDECAR_ASSERTION_SIGNING_KEY",
    ),
    (
        "idle-over-absolute",
        {"session.idle_ttl_s": 7200, "session.absolute_ttl_s": 3600},
        {},
        "session.idle_ttl_s",
        "SIDECAR_SESSION_IDLE_TTL_S",
    ),
    (
        "secret-value-and-file",
        {},
        {"SIDECAR_OIDC_CLIENT_SECRET": "x", "SIDECAR_OIDC_CLIENT_SECRET_FILE": "/dev/null"},
        "oidc.client_secret",
        "SIDECAR_OIDC_CLIENT_SECRET",
    ),
    (
        "secret-file-missing",
        {"session.secret": DROP, "session.secret_file": "/nonexistent/secret"},
        {},
        "session.secret_file",
        "SIDECAR_SESSION_SECRET_FILE",
    ),
    ("policy-not-list", {"policy": {"path": "/"}}, {}, "policy", "YAML only"),
    ("policy-entry-not-mapping", {"policy": ["/admin"]}, {}, "policy[0]", "YAML only"),
    ("policy-path-missing", {"policy": [{"allow": "public"}]}, {}, "policy[0].path", "YAML only"),
    (
        "policy-path-relative",
        {"policy": [{"path": "admin", "allow": "public"}]},
        {},
        "policy[0].path",
        "YAML only",
    ),
    (
        "policy-path-query",
        {"policy": [{"path": "/a?b", "allow": "public"}]},
        {},
        "policy[0].path",
        "YAML only",
    ),
    (
        "policy-duplicate",
        {"policy": [{"path": "/a", "allow": "public"}, {"path": "/a", "groups": ["g"]}]},
        {},
        "policy[1].path",
        "YAML only",
    ),
    (
        "policy-allow-bad",
        {"policy": [{"path": "/", "allow": "everyone"}]},
        {},
        "policy[0].allow",
        "YAML only",
    ),
    (
        "policy-allow-and-groups",
        {"policy": [{"path": "/", "allow": "public", "groups": ["g"]}]},
        {},
        "policy[0]",
        "YAML only",
    ),
    ("policy-no-rule", {"policy": [{"path": "/"}]}, {}, "policy[0]", "YAML only"),
    (
        "policy-groups-string",
        {"policy": [{"path": "/", "groups": "admins"}]},
        {},
        "policy[0].groups",
        "YAML only",
    ),
    (
        "policy-unknown-field",
        {"policy": [{"path": "/", "allow": "public", "role": "x"}]},
        {},
        "policy[0].role",
        "YAML only",
    ),
    (
        "policy-email-no-at",
        {"policy": [{"path": "/", "emails": ["boss"]}]},
        {},
        "policy[0].emails",
        "YAML only",
    ),
    (
        "policy-domain-with-at",
        {"policy": [{"path": "/", "email_domains": ["@example.com"]}]},
        {},
        "policy[0].email_domains",
        "YAML only",
    ),
]


@pytest.mark.parametrize(
    ("patch", "env", "key", "env_var"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_error_is_one_line_naming_key_and_env(
    tmp_path: Path, patch: dict[str, Any], env: dict[str, str], key: str, env_var: str
) -> None:
    config_file = write_config(tmp_path, patch)
    problems = problems_of(config_file, env)
    assert len(problems) == 1, problems
    assert problems[0].startswith(key), problems
    assert env_var in problems[0]
    assert CLIENT_SECRET not in problems[0]


def test_minimal_config_gets_the_contract_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), {})
    assert settings.oidc.scopes == ("openid", "email", "profile", "groups", "offline_access")
    assert settings.oidc.audiences == ("sidecar",)
    assert settings.oidc.algorithms == ("RS256", "ES256")
    assert settings.oidc.leeway_s == 30
    assert settings.listen == HostPort("0.0.0.0", 8080)
    assert settings.admin_listen == HostPort("0.0.0.0", 9090)
    assert settings.upstream is None
    assert settings.trusted_proxies == ()
    assert settings.session.redis_url is None
    assert not settings.session.redis_cluster
    assert settings.session.cookie_name == "sidecar_session"
    assert settings.session.cookie_secure is True
    assert (settings.session.idle_ttl_s, settings.session.absolute_ttl_s) == (86400, 604800)
    assert settings.session.refresh_margin_s == 60
    assert settings.assertion.signing_keys_pem == ()
    assert settings.assertion.audience == "https://app.example.com"
    assert settings.assertion.ttl_s == 60
    assert settings.forward_token is False
    assert settings.policy == ()
    assert (settings.log_level, settings.log_format) == ("info", "json")
    assert settings.shutdown_grace_s == 20.0
    assert settings.workers == 1
    assert settings.upstream_max_connections == 1024  # CONTRACT "Configuration"


def test_every_key_is_read(tmp_path: Path) -> None:
    keys = [ec_key_pem(), ec_key_pem()]
    secret_a, secret_b = session_secret(), session_secret(48)
    policy = [
        {"path": "/healthz", "allow": "public"},
        {"path": "/admin", "groups": ["admins", "Ops"]},
        {"path": "/reports", "email_domains": ["Example.com"], "emails": ["Boss@corp.io"]},
        {"path": "/", "allow": "authenticated"},
    ]
    flat = {
        "oidc.issuer": "http://127.0.0.1:5556/dex",
        "oidc.client_id": "sidecar",
        "oidc.client_secret": CLIENT_SECRET,
        "oidc.scopes": "openid email",
        "oidc.audiences": ["sidecar", "kong"],
        "oidc.algorithms": "RS256, PS256 ,EdDSA",
        "oidc.leeway_s": 0,
        "oidc.http_timeout_s": 2.5,
        "public_url": "http://app.local:8000/prefix/",
        "listen": "[::1]:8081",
        "admin_listen": "127.0.0.1:0",
        "upstream": "http://127.0.0.1:3000",
        "trusted_proxies": "10.0.0.0/8, 192.168.1.7,fd00::/8",
        "session.secret": f"{secret_a},{secret_b}=",
        "session.redis_url": "rediss://:pw@redis.local:6380/2",
        "session.redis_cluster": "YES",
        "session.cookie_name": "__Host-sid",
        "session.cookie_secure": "1",
        "session.idle_ttl_s": 600,
        "session.absolute_ttl_s": "600",
        "session.refresh_margin_s": 0,
        "session.store_timeout_s": "0.5",
        "assertion.signing_key": "\n".join(keys),
        "assertion.audience": "orders-service",
        "assertion.ttl_s": 30,
        "headers.forward_token": True,
        "log.level": "DEBUG",
        "log.format": "console",
        "shutdown_grace_s": 0,
        "workers": 3,
        "upstream_connect_timeout_s": 1,
        "upstream_timeout_s": 30,
        "upstream_max_connections": 64,
        "policy": policy,
    }
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(nest(flat)))
    settings = load_settings(str(path), {})
    assert settings.oidc.issuer == "http://127.0.0.1:5556/dex"
    assert settings.oidc.scopes == ("openid", "email")
    assert settings.oidc.audiences == ("sidecar", "kong")
    assert settings.oidc.algorithms == ("RS256", "PS256", "EdDSA")
    assert (settings.oidc.leeway_s, settings.oidc.http_timeout_s) == (0, 2.5)
    assert settings.public_url == "http://app.local:8000/prefix"
    assert settings.public_path == "/prefix"
    assert settings.listen == HostPort("::1", 8081)
    assert str(settings.listen) == "[::1]:8081"
    assert settings.admin_listen == HostPort("127.0.0.1", 0)
    assert settings.upstream == "http://127.0.0.1:3000"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("fd00::/8"),
    )
    session = settings.session
    assert [len(s) for s in session.secrets] == [32, 48]
    assert session.redis_url == "rediss://:pw@redis.local:6380/2"
    assert session.redis_cluster is True
    assert (session.cookie_name, session.cookie_secure) == ("__Host-sid", True)
    assert (session.idle_ttl_s, session.absolute_ttl_s, session.refresh_margin_s) == (600, 600, 0)
    assert session.store_timeout_s == 0.5
    assert settings.assertion.signing_keys_pem == tuple(k.strip() for k in keys)
    assert (settings.assertion.audience, settings.assertion.ttl_s) == ("orders-service", 30)
    assert settings.forward_token is True
    assert (settings.log_level, settings.log_format) == ("debug", "console")
    assert (settings.shutdown_grace_s, settings.workers) == (0.0, 3)
    assert (settings.upstream_connect_timeout_s, settings.upstream_timeout_s) == (1.0, 30.0)
    assert settings.upstream_max_connections == 64
    assert settings.policy == (
        PolicyRule("/healthz", "public"),
        PolicyRule("/admin", "restricted", groups=frozenset({"admins", "Ops"})),
        PolicyRule(
            "/reports",
            "restricted",
            emails=frozenset({"boss@corp.io"}),
            email_domains=frozenset({"example.com"}),
        ),
        PolicyRule("/", "authenticated"),
    )


# A valid env value for every scalar key, and where it lands.
ENV_VALUES: dict[str, tuple[str, Any]] = {
    "oidc.issuer": ("https://other.example.com/dex", lambda s: s.oidc.issuer),
    "oidc.client_id": ("other", lambda s: s.oidc.client_id),
    "oidc.client_secret": ("other-secret", lambda s: s.oidc.client_secret),
    "oidc.scopes": ("openid groups", lambda s: s.oidc.scopes),
    "oidc.audiences": ("a,b", lambda s: s.oidc.audiences),
    "oidc.algorithms": ("ES384", lambda s: s.oidc.algorithms),
    "oidc.leeway_s": ("5", lambda s: s.oidc.leeway_s),
    "oidc.http_timeout_s": ("7", lambda s: s.oidc.http_timeout_s),
    "public_url": ("http://localhost:8080", lambda s: s.public_url),
    "listen": ("127.0.0.1:1234", lambda s: str(s.listen)),
    "admin_listen": ("127.0.0.1:1235", lambda s: str(s.admin_listen)),
    "upstream": ("http://127.0.0.1:9", lambda s: s.upstream),
    "trusted_proxies": ("127.0.0.1", lambda s: [str(n) for n in s.trusted_proxies]),
    "session.secret": ("A" * 43, lambda s: s.session.secrets),
    "session.redis_url": ("redis://127.0.0.1:6379/1", lambda s: s.session.redis_url),
    "session.redis_cluster": ("false", lambda s: s.session.redis_cluster),
    "session.cookie_name": ("sid", lambda s: s.session.cookie_name),
    "session.cookie_secure": ("no", lambda s: s.session.cookie_secure),
    "session.idle_ttl_s": ("100", lambda s: s.session.idle_ttl_s),
    "session.absolute_ttl_s": ("100000", lambda s: s.session.absolute_ttl_s),
    "session.refresh_margin_s": ("9", lambda s: s.session.refresh_margin_s),
    "session.store_timeout_s": ("1.5", lambda s: s.session.store_timeout_s),
    "assertion.signing_key": ("", lambda s: len(s.assertion.signing_keys_pem)),
    "assertion.audience": ("aud", lambda s: s.assertion.audience),
    "assertion.ttl_s": ("10", lambda s: s.assertion.ttl_s),
    "headers.forward_token": ("TRUE", lambda s: s.forward_token),
    "log.level": ("warning", lambda s: s.log_level),
    "log.format": ("console", lambda s: s.log_format),
    "shutdown_grace_s": ("3", lambda s: s.shutdown_grace_s),
    "workers": ("1", lambda s: s.workers),
    "upstream_connect_timeout_s": ("0.25", lambda s: s.upstream_connect_timeout_s),
    "upstream_timeout_s": ("90", lambda s: s.upstream_timeout_s),
    "upstream_max_connections": ("8", lambda s: s.upstream_max_connections),
    "oidc.end_session": ("off", lambda s: s.oidc.end_session),
    "oidc.userinfo": ("true", lambda s: s.oidc.userinfo),
    "admin.token": ("an-admin-token-from-the-env", lambda s: s.admin_token),
    "session.cache_s": ("0", lambda s: s.session.cache_s),
    "session.min_replicas": ("2", lambda s: s.session.min_replicas),
    "session.replica_wait_ms": ("50", lambda s: s.session.replica_wait_ms),
    "token_exchange.audiences": (
        "https://b.example.com",
        lambda s: s.token_exchange.audiences,
    ),
    "token_exchange.allowed_peers": (
        "10.0.0.0/8",
        lambda s: [str(n) for n in s.token_exchange.allowed_peers],
    ),
    "token_exchange.ttl_s": ("30", lambda s: s.token_exchange.ttl_s),
    "tracing.enabled": ("true", lambda s: s.tracing.enabled),
}
ENV_EXPECTED: dict[str, Any] = {
    "oidc.scopes": ("openid", "groups"),
    "oidc.audiences": ("a", "b"),
    "oidc.algorithms": ("ES384",),
    "oidc.leeway_s": 5,
    "oidc.http_timeout_s": 7.0,
    "oidc.userinfo": True,
    "trusted_proxies": ["127.0.0.1/32"],
    "session.secret": (b"\x00" * 32,),
    "session.redis_cluster": False,
    "session.cookie_secure": False,
    "session.idle_ttl_s": 100,
    "session.absolute_ttl_s": 100000,
    "session.refresh_margin_s": 9,
    "session.store_timeout_s": 1.5,
    "assertion.signing_key": 1,
    "assertion.ttl_s": 10,
    "headers.forward_token": True,
    "shutdown_grace_s": 3.0,
    "workers": 1,
    "upstream_connect_timeout_s": 0.25,
    "upstream_timeout_s": 90.0,
    "upstream_max_connections": 8,
    "session.cache_s": 0.0,
    "session.min_replicas": 2,
    "session.replica_wait_ms": 50,
    "token_exchange.audiences": ("https://b.example.com",),
    "token_exchange.allowed_peers": ["10.0.0.0/8"],
    "token_exchange.ttl_s": 30,
    "tracing.enabled": True,
}


def test_env_values_cover_every_key() -> None:
    assert set(ENV_VALUES) == SCALAR_KEYS


@pytest.mark.parametrize("key", sorted(ENV_VALUES))
def test_env_wins_over_the_file_for_every_key(tmp_path: Path, key: str) -> None:
    value, where = ENV_VALUES[key]
    if key == "assertion.signing_key":
        value = ec_key_pem()
    yaml_values = {
        "oidc.scopes": "openid",
        "session.cookie_secure": True,
        "assertion.signing_key": ec_key_pem() + ec_key_pem(),
        "headers.forward_token": False,
        "listen": "127.0.0.1:2000",
        "admin_listen": "127.0.0.1:2001",
    }
    config_file = write_config(tmp_path, yaml_values)
    settings = load_settings(config_file, {env_name(key): value})
    assert where(settings) == ENV_EXPECTED.get(key, value)


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    config_file = write_config(
        tmp_path,
        {"oidc.issuer": DROP, "oidc.algorithms": "HS256", "listen": "nope", "bogus": 1},
    )
    problems = problems_of(config_file, {"SIDECAR_SESSION_SECRET": "tooshort", "SIDECAR_X": "1"})
    named = sorted(p.split(" ")[0].rstrip(":") for p in problems)
    assert named == sorted(
        ["oidc.issuer", "oidc.algorithms", "listen", "bogus", "session.secret", "SIDECAR_X"]
    )


@pytest.mark.parametrize("key", ["oidc.client_secret", "session.secret", "assertion.signing_key"])
@pytest.mark.parametrize("layer", ["env", "yaml"])
def test_secrets_can_come_from_files(tmp_path: Path, key: str, layer: str) -> None:
    value = {"oidc.client_secret": "from-a-file", "session.secret": session_secret()}.get(
        key, ec_key_pem()
    )
    secret_file = tmp_path / "mounted"
    secret_file.write_text(value + "\n")  # Secret mounts often end with a newline
    patch: dict[str, Any] = {key: DROP}
    env: dict[str, str] = {}
    if layer == "yaml":
        patch[f"{key}_file"] = str(secret_file)
    else:
        env[f"{env_name(key)}_FILE"] = str(secret_file)
    settings = load_settings(write_config(tmp_path, patch), env)
    loaded = {
        "oidc.client_secret": settings.oidc.client_secret,
        "session.secret": settings.session.secrets,
        "assertion.signing_key": settings.assertion.signing_keys_pem,
    }[key]
    expected = {
        "oidc.client_secret": value,
        "session.secret": (base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)),),
        "assertion.signing_key": (value.strip(),),
    }[key]
    assert loaded == expected


def test_env_secret_file_wins_over_yaml_value(tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text("from-env-file")
    settings = load_settings(
        write_config(tmp_path), {"SIDECAR_OIDC_CLIENT_SECRET_FILE": str(secret_file)}
    )
    assert settings.oidc.client_secret == "from-env-file"


def test_both_value_and_file_in_yaml_is_an_error(tmp_path: Path) -> None:
    secret_file = tmp_path / "s"
    secret_file.write_text(session_secret())
    problems = problems_of(write_config(tmp_path, {"session.secret_file": str(secret_file)}), {})
    assert problems == [
        "session.secret (SIDECAR_SESSION_SECRET): give either session.secret or"
        " session.secret_file, not both"
    ]


def test_empty_secret_file_is_reported_once(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    problems = problems_of(
        write_config(tmp_path, {"oidc.client_secret": DROP}),
        {"SIDECAR_OIDC_CLIENT_SECRET_FILE": str(empty)},
    )
    assert len(problems) == 1
    assert problems[0].startswith("oidc.client_secret_file (SIDECAR_OIDC_CLIENT_SECRET_FILE)")


def test_secret_values_never_appear_in_problems(tmp_path: Path) -> None:
    short = session_secret(20)
    weak_key = ec_key_pem(ec.SECP384R1())
    problems = problems_of(
        write_config(tmp_path, {"session.secret": short, "assertion.signing_key": weak_key}),
        {"SIDECAR_SESSION_REDIS_URL": "redis://:hunter2hunter2@h:99999"},
    )
    text = "\n".join(problems)
    assert len(problems) == 3
    for secret in (short, weak_key.splitlines()[1], "hunter2hunter2", CLIENT_SECRET):
        assert secret not in text


def test_cookie_secure_follows_public_url_scheme(tmp_path: Path) -> None:
    http = load_settings(write_config(tmp_path, {"public_url": "http://localhost:8080"}), {})
    assert http.session.cookie_secure is False
    forced = load_settings(
        write_config(tmp_path, {"public_url": "http://localhost:8080"}),
        {"SIDECAR_SESSION_COOKIE_SECURE": "true"},
    )
    assert forced.session.cookie_secure is True


def test_assertion_audience_defaults_to_upstream(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, {"upstream": "http://127.0.0.1:3000/"}), {})
    assert settings.assertion.audience == "http://127.0.0.1:3000/"


def test_policy_without_root_rule_adds_nothing(tmp_path: Path) -> None:
    settings = load_settings(
        write_config(tmp_path, {"policy": [{"path": "/admin", "groups": ["admins"]}]}), {}
    )
    assert settings.policy == (PolicyRule("/admin", "restricted", groups=frozenset({"admins"})),)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379",
        "redis://user:pass@127.0.0.1:6379/3",
        "rediss://redis.local",
        "redis+sentinel://s1:26379,s2:26379/mymaster",
        "redis+sentinel://:pw@[::1]:26379/mymaster/2",
        "redis+sentinel://s1/mymaster",
    ],
)
def test_redis_url_forms_accepted(tmp_path: Path, url: str) -> None:
    settings = load_settings(write_config(tmp_path, {"session.redis_url": url}), {})
    assert settings.session.redis_url == url


def test_cluster_accepts_a_plain_redis_url(tmp_path: Path) -> None:
    patch = {"session.redis_url": "redis://127.0.0.1:7000", "session.redis_cluster": True}
    assert load_settings(write_config(tmp_path, patch), {}).session.redis_cluster is True


def test_config_file_from_sidecar_config_env(tmp_path: Path) -> None:
    config_file = write_config(tmp_path, {"oidc.client_id": "via-env-path"})
    settings = load_settings(None, {"SIDECAR_CONFIG": config_file})
    assert settings.oidc.client_id == "via-env-path"


def test_environment_alone_is_enough() -> None:
    env = {env_name(key): str(value) for key, value in base_config().items()}
    assert isinstance(load_settings(None, env), Settings)


def test_broken_yaml_names_the_position_not_the_content(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(f"oidc:\n  client_secret: {CLIENT_SECRET}\n  issuer: [unclosed\n")
    problems = problems_of(str(path), {})
    assert "not valid YAML at line" in problems[0]
    assert "SIDECAR_CONFIG" in problems[0]
    assert CLIENT_SECRET not in "\n".join(problems)


def test_yaml_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert "top level must be a mapping" in problems_of(str(path), {})[0]


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    problems = problems_of(write_config(tmp_path, {"oidc.client_secrett": "x"}), {})
    assert problems == [
        "oidc.client_secrett (SIDECAR_OIDC_CLIENT_SECRETT): unknown key;"
        " did you mean oidc.client_secret?"
    ]


def test_allowed_algorithms_are_all_supported_by_pyjwt() -> None:
    supported = jwt.algorithms.get_default_algorithms()
    assert set(ASYMMETRIC_ALGORITHMS) <= set(supported)
    assert not any(name.startswith("HS") or name == "none" for name in ASYMMETRIC_ALGORITHMS)
