"""The peers of one run, started and turned into checked targets (see `bench.peers`)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bench import credentials, peers, tls_jwks
from bench.measure import Target
from bench.peer_report import APACHE, NGINX, OIDC
from tests.fixtures.ports import free_port
from tests.fixtures.provider import OidcProvider


def start_peers(
    workdir: Path,
    provider: OidcProvider,
    upstream_url: str,
    redis_url: str,
    cleanup: contextlib.ExitStack,
) -> tuple[peers.Peer, peers.Peer]:
    peers.ensure_installed()
    workdir.chmod(0o755)  # Apache's worker runs as www-data
    jwks = cleanup.enter_context(tls_jwks.serve_jwks(provider.jwks_url, workdir))
    nginx = peers.start_nginx(workdir, upstream_url)
    cleanup.callback(peers.stop_peer, nginx)
    setup = peers.ApacheSetup(free_port(), upstream_url, provider, redis_url, jwks)
    apache = peers.start_apache(workdir, setup)
    cleanup.callback(peers.stop_peer, apache)
    return nginx, apache


async def peer_targets(
    provider: OidcProvider, nginx: peers.Peer, apache: peers.Peer, token: credentials.Bearer
) -> list[Target]:
    cookie = await credentials.apache_session_cookie(
        provider, apache.url + "/session/x", peers.SESSION_COOKIE
    )
    bearer = {"Authorization": f"Bearer {token.token}"}
    session = {"Cookie": cookie}
    ngx, ap = nginx.process.pid, apache.process.pid
    oauth20, server_cache = "mod_auth_openidc, oauth20", "mod_auth_openidc, session (Redis)"
    return [
        Target(NGINX, "b", f"{nginx.url}/public/x", {}, None, ngx, "nginx proxy_pass"),
        Target(APACHE, "b", f"{apache.url}/plain/x", {}, None, ap, "Apache mod_proxy"),
        Target(OIDC, "b", f"{apache.url}/public/x", {}, None, ap, "mod_auth_openidc, public"),
        Target(OIDC, "c", f"{apache.url}/bearer/x", bearer, token.sub, ap, oauth20),
        Target(OIDC, "d", f"{apache.url}/session/x", session, token.sub, ap, server_cache),
    ]
