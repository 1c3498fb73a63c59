"""oauth2-proxy v7 as a peer: built once from the Go module proxy into a cache outside the
repository, run against the run's provider, upstream and Redis in three roles at once:

- passthrough: `/public/` is a `skip_auth_route` (no session, no token);
- bearer: `skip_jwt_bearer_tokens`, the id token verified against the provider's JWKS
  (issuer and audience = the client id, as go-oidc checks them);
- session: Redis session store (`session_store_type = redis`), logged in through its own
  `/oauth2/start` -> provider -> `/oauth2/callback` chain.

The identity reaches the upstream as `X-Auth-Subject` (the session's `user`, which is the
`sub` claim), through an alpha-config `injectRequestHeaders` entry, so that the one upstream
check works for every target. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.peers import Peer, start_peer
from tests.fixtures.ports import free_port
from tests.fixtures.provider import OidcProvider

VERSION = "v7.15.6"
MODULE = f"github.com/oauth2-proxy/oauth2-proxy/v7@{VERSION}"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "auth-sidecar"
BINARY = CACHE / f"oauth2-proxy-{VERSION}" / "oauth2-proxy"
GO = os.environ.get("GO", "/usr/local/go/bin/go")
COOKIE = "_oauth2_proxy"


def ensure_built() -> Path:
    """`go install` the pinned release once (a few minutes on two cores); later runs reuse it.
    Go's module and build caches live under the same cache directory, never in the repo."""
    if BINARY.exists():
        return BINARY
    env = {
        **os.environ,
        "GOBIN": str(BINARY.parent),
        "GOPATH": str(CACHE / "go"),
        "GOCACHE": str(CACHE / "go-build"),
        "GOFLAGS": "-trimpath",
    }
    print(f"building oauth2-proxy: GOBIN={BINARY.parent} {GO} install {MODULE}", file=sys.stderr)
    started = time.monotonic()
    subprocess.run([GO, "install", MODULE], env=env, check=True)
    print(f"built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return BINARY


def alpha_config(port: int, upstream: str, provider: OidcProvider) -> dict[str, Any]:
    subject = {"claimSource": {"claim": "user"}}
    return {
        "server": {"bindAddress": f"127.0.0.1:{port}"},
        "upstreamConfig": {"upstreams": [{"id": "upstream", "path": "/", "uri": upstream}]},
        "injectRequestHeaders": [
            {"name": "X-Auth-Subject", "preserveRequestValue": False, "values": [subject]},
        ],
        "providers": [
            {
                "id": "oidc",
                "provider": "oidc",
                "clientID": provider.client_id,
                "clientSecret": provider.client_secret,
                "scope": "openid email profile groups",
                "code_challenge_method": "S256",
                "oidcConfig": {
                    "issuerURL": provider.issuer,
                    "emailClaim": "email",
                    "groupsClaim": "groups",
                    "audienceClaims": ["aud"],
                },
            }
        ],
    }


def flags(port: int, redis_url: str) -> list[str]:
    return [
        f"--redirect-url=http://127.0.0.1:{port}/oauth2/callback",
        f"--cookie-secret={secrets.token_urlsafe(24)[:32]}",
        f"--cookie-name={COOKIE}",
        "--cookie-secure=false",
        "--email-domain=*",
        "--session-store-type=redis",
        f"--redis-connection-url={redis_url}",
        "--skip-jwt-bearer-tokens=true",
        "--skip-auth-route=^/public/",
        "--skip-provider-button=true",
        "--silence-ping-logging=true",
    ]


def start(workdir: Path, provider: OidcProvider, upstream: str, redis_url: str) -> Peer:
    binary = ensure_built()
    port = free_port()
    provider.register_redirect_uri(f"http://127.0.0.1:{port}/oauth2/callback")
    config = workdir / "oauth2-proxy.yaml"
    config.write_text(yaml.safe_dump(alpha_config(port, upstream, provider)))
    argv = [str(binary), f"--alpha-config={config}", *flags(port, redis_url)]
    return start_peer("oauth2-proxy", argv, workdir, port, ready_path="/ping")
