"""The keys the second round of the contract added: their defaults, env forms and errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sidecar.config.settings import ConfigError, TrustedIssuer, load_settings
from tests.config.test_settings import write_config


def test_defaults_follow_the_contract(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    assert settings.session.cache_s == 5
    assert settings.session.min_replicas == 0
    assert settings.session.replica_wait_ms == 100
    assert settings.oidc.end_session == "auto"
    assert settings.token_exchange.audiences == ()
    assert not settings.token_exchange.enabled
    assert settings.token_exchange.allowed_peers == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.token_exchange.ttl_s == 60
    assert settings.trusted_issuers == ()
    assert settings.tracing.enabled is False


@pytest.mark.parametrize(
    ("url", "cluster", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "false", 0),
        ("redis://127.0.0.1:7000", "true", 1),
        ("redis+sentinel://127.0.0.1:26379/mymaster", "false", 1),
    ],
)
def test_min_replicas_default_depends_on_topology(
    tmp_path: Path, url: str, cluster: str, expected: int
) -> None:
    env = {"SIDECAR_SESSION_REDIS_URL": url, "SIDECAR_SESSION_REDIS_CLUSTER": cluster}
    assert load_settings(write_config(tmp_path), environ=env).session.min_replicas == expected


def test_env_sets_every_new_scalar(tmp_path: Path) -> None:
    env = {
        "SIDECAR_SESSION_CACHE_S": "0",
        "SIDECAR_SESSION_MIN_REPLICAS": "2",
        "SIDECAR_SESSION_REPLICA_WAIT_MS": "250",
        "SIDECAR_OIDC_END_SESSION": "off",
        "SIDECAR_TOKEN_EXCHANGE_AUDIENCES": "https://b.example.com/, https://c.example.com",
        "SIDECAR_TOKEN_EXCHANGE_ALLOWED_PEERS": "10.0.0.0/8",
        "SIDECAR_TOKEN_EXCHANGE_TTL_S": "30",
        "SIDECAR_TRACING_ENABLED": "true",
    }
    settings = load_settings(write_config(tmp_path), environ=env)
    assert settings.session.cache_s == 0
    assert settings.session.min_replicas == 2
    assert settings.session.replica_wait_ms == 250
    assert settings.oidc.end_session == "off"
    assert settings.token_exchange.audiences == ("https://b.example.com", "https://c.example.com")
    assert settings.token_exchange.allowed_peers == (ipaddress.ip_network("10.0.0.0/8"),)
    assert settings.token_exchange.ttl_s == 30
    assert settings.tracing.enabled is True


def test_trusted_issuers_from_yaml(tmp_path: Path) -> None:
    entry = {"issuer": "https://a.example.com/", "jwks_url": "https://a.example.com/.auth/jwks"}
    settings = load_settings(write_config(tmp_path, {"trusted_issuers": [entry]}), environ={})
    assert settings.trusted_issuers == (
        TrustedIssuer("https://a.example.com", "https://a.example.com/.auth/jwks"),
    )


def test_every_bad_new_key_is_named_at_once(tmp_path: Path) -> None:
    patch = {
        "session.cache_s": -1,
        "oidc.end_session": "sometimes",
        "token_exchange.audiences": "not a url",
        "token_exchange.ttl_s": 0,
        "tracing.enabled": "maybe",
        "trusted_issuers": [{"issuer": "https://a.example.com"}],
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, patch), environ={"SIDECAR_TRUSTED_ISSUERS": "x"})
    text = "\n".join(caught.value.problems)
    for name in (
        "SIDECAR_SESSION_CACHE_S",
        "SIDECAR_OIDC_END_SESSION",
        "SIDECAR_TOKEN_EXCHANGE_AUDIENCES",
        "SIDECAR_TOKEN_EXCHANGE_TTL_S",
        "SIDECAR_TRACING_ENABLED",
        "trusted_issuers[0] (YAML only)",
        "SIDECAR_TRUSTED_ISSUERS: unknown setting (no such key); trusted_issuers is YAML only",
    ):
        assert name in text, text
    assert len(caught.value.problems) == 7, text
