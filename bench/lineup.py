"""The peers of one run, started and turned into checked targets (see `bench.peers`,
`bench.oauth2_proxy`, `bench.envoy`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench import credentials, envoy, oauth2_proxy, peers, tls_jwks
from bench.measure import Target
from bench.peer_report import APACHE, ENVOY, ENVOY_CACHE, NGINX, O2P, OIDC
from bench.peers import Peer
from tests.fixtures.ports import free_port
from tests.fixtures.provider import OidcProvider


@dataclass
class Lineup:
    nginx: Peer
    apache: Peer
    oauth2_proxy: Peer
    envoy: Peer
    envoy_jwt_url: str  # the jwt_authn listener of the same Envoy process

    def footprint_targets(self) -> list[tuple[str, Peer, str, str]]:
        """Per server: its name, process, the URL the distinct tokens go to, what they are."""
        return [
            ("nginx", self.nginx, f"{self.nginx.url}/public/x", "requests (no token check)"),
            ("Apache + mod_auth_openidc", self.apache, f"{self.apache.url}/bearer/x", "tokens"),
            ("oauth2-proxy", self.oauth2_proxy, f"{self.oauth2_proxy.url}/bearer/x", "tokens"),
            ("Envoy", self.envoy, f"{self.envoy_jwt_url}/cached/x", "tokens (jwt cache)"),
        ]


def start_peers(
    workdir: Path,
    provider: OidcProvider,
    upstream_url: str,
    redis_url: str,
    cleanup: contextlib.ExitStack,
) -> Lineup:
    peers.ensure_installed()
    oauth2_proxy.ensure_built()
    workdir.chmod(0o755)  # Apache's worker runs as www-data
    jwks = cleanup.enter_context(tls_jwks.serve_jwks(provider.jwks_url, workdir))
    nginx = peers.start_nginx(workdir, upstream_url)
    cleanup.callback(peers.stop_peer, nginx)
    setup = peers.ApacheSetup(free_port(), upstream_url, provider, redis_url, jwks)
    apache = peers.start_apache(workdir, setup)
    cleanup.callback(peers.stop_peer, apache)
    proxy = oauth2_proxy.start(workdir, provider, upstream_url, redis_url)
    cleanup.callback(peers.stop_peer, proxy)
    mesh, jwt_url = envoy.start(workdir, provider, upstream_url)
    cleanup.callback(peers.stop_peer, mesh)
    return Lineup(nginx, apache, proxy, mesh, jwt_url)


async def peer_targets(
    provider: OidcProvider, lineup: Lineup, token: credentials.Bearer
) -> list[Target]:
    nginx, apache, proxy = lineup.nginx, lineup.apache, lineup.oauth2_proxy
    apache_cookie = await credentials.relying_party_cookie(
        provider, apache.url + "/session/x", peers.SESSION_COOKIE
    )
    proxy_cookie = await credentials.relying_party_cookie(
        provider, proxy.url + "/session/x", oauth2_proxy.COOKIE
    )
    bearer = {"Authorization": f"Bearer {token.token}"}
    ngx, ap, o2p, env = (
        nginx.process.pid,
        apache.process.pid,
        proxy.process.pid,
        lineup.envoy.process.pid,
    )
    oauth20, server_cache = "mod_auth_openidc, oauth20", "mod_auth_openidc, session (Redis)"
    jwt = lineup.envoy_jwt_url
    sub = token.sub
    return [
        Target(NGINX, "b", f"{nginx.url}/public/x", {}, None, ngx, "nginx proxy_pass"),
        Target(APACHE, "b", f"{apache.url}/plain/x", {}, None, ap, "Apache mod_proxy"),
        Target(OIDC, "b", f"{apache.url}/public/x", {}, None, ap, "mod_auth_openidc, public"),
        Target(OIDC, "c", f"{apache.url}/bearer/x", bearer, sub, ap, oauth20),
        Target(
            OIDC, "d", f"{apache.url}/session/x", {"Cookie": apache_cookie}, sub, ap, server_cache
        ),
        Target(O2P, "b", f"{proxy.url}/public/x", {}, None, o2p, "oauth2-proxy, skip_auth_route"),
        Target(O2P, "c", f"{proxy.url}/bearer/x", bearer, sub, o2p, "oauth2-proxy, JWT bearer"),
        Target(
            O2P,
            "d",
            f"{proxy.url}/session/x",
            {"Cookie": proxy_cookie},
            sub,
            o2p,
            "oauth2-proxy, session (Redis)",
        ),
        Target(ENVOY, "b", f"{lineup.envoy.url}/public/x", {}, None, env, "Envoy, router"),
        Target(ENVOY, "c", f"{jwt}/bearer/x", bearer, sub, env, "Envoy jwt_authn"),
        Target(ENVOY_CACHE, "c", f"{jwt}/cached/x", bearer, sub, env, "Envoy jwt_authn + cache"),
    ]
