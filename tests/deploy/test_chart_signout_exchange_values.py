"""The chart takes the second round's keys (sign-out, cache, replication, token exchange,
trusted issuers) through its schema, and the sidecar's own loader accepts what it renders."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.config.settings import TrustedIssuer, load_settings
from tests.deploy.charts import load_values, render
from tests.deploy.test_chart import ci

helm_python = pytest.importorskip("helm_python", reason="PyPI helm-python-sdk (dev extras)")

SECOND_ROUND = {
    "oidc": {"end_session": "off"},
    "session": {"cache_s": 2, "min_replicas": 1, "replica_wait_ms": 250},
    "token_exchange": {"audiences": "https://b.example.com", "ttl_s": 30},
    "trusted_issuers": [
        {"issuer": "https://a.example.com", "jwks_url": "http://a.apps.svc/.auth/jwks"}
    ],
}


def with_second_round() -> dict[str, Any]:
    values = copy.deepcopy(load_values(ci("standalone")))
    config = values.setdefault("config", {})
    for key, value in SECOND_ROUND.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return values


def test_second_round_keys_render_and_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(render(with_second_round()).sidecar_config()))
    env = {"SIDECAR_OIDC_CLIENT_SECRET": "x", "SIDECAR_SESSION_SECRET": "k" * 43}
    settings = load_settings(str(path), env)
    assert settings.oidc.end_session == "off"
    assert (settings.session.cache_s, settings.session.min_replicas) == (2, 1)
    assert settings.session.replica_wait_ms == 250
    assert settings.token_exchange.audiences == ("https://b.example.com",)
    assert settings.token_exchange.ttl_s == 30
    assert settings.trusted_issuers == (
        TrustedIssuer("https://a.example.com", "http://a.apps.svc/.auth/jwks"),
    )


@pytest.mark.parametrize(
    ("section", "patch"),
    [
        ("oidc", {"end_session": "sometimes"}),
        ("session", {"cache_s": -1}),
        ("token_exchange", {"audience": "https://b.example.com"}),
    ],
)
def test_schema_refuses_bad_second_round_values(section: str, patch: dict[str, Any]) -> None:
    values = with_second_round()
    values["config"][section].update(patch)
    with pytest.raises(helm_python.HelmError):
        render(values)


def test_schema_refuses_a_trusted_issuer_without_jwks_url() -> None:
    values = with_second_round()
    values["config"]["trusted_issuers"] = [{"issuer": "https://a.example.com"}]
    with pytest.raises(helm_python.HelmError):
        render(values)


def test_network_policy_admits_extra_peers_on_the_main_port_only() -> None:
    values = with_second_round()
    peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "auth-sidecar"}}}
    values.setdefault("networkPolicy", {})["extraFrom"] = [peer]
    policy = render(values).one("NetworkPolicy")
    extra = [rule for rule in policy["spec"]["ingress"] if rule["from"] == [peer]]
    assert [rule["ports"] for rule in extra] == [[{"port": "http", "protocol": "TCP"}]]
    assert len(policy["spec"]["ingress"]) == 3
    assert len(render(with_second_round()).one("NetworkPolicy")["spec"]["ingress"]) == 2
