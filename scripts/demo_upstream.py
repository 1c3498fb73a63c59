"""The demo's upstream: a page that shows who the sidecar says you are.

It reads what a real upstream behind the sidecar would read: the `X-Auth-*` headers, and the
signed `X-Auth-Assertion`, which it verifies against the sidecar's `/.auth/jwks` (ES256, `iss`
= the sidecar's public URL, `aud` = this upstream) exactly as the CONTRACT tells upstreams to.
The headers alone prove nothing to an upstream that anyone else can reach; the assertion does.

The first service of the demo also calls a second one on the user's behalf (CONTRACT "Service
to service"): it exchanges the assertion it received at its own sidecar's `POST /.auth/token`
(it is the app in the sidecar's pod: loopback) for a token addressed to the second sidecar,
calls `/api/whoami` there with it, and shows what the second service saw, `X-Auth-Actor`
included. It never sees, let alone forwards, the user's id token or cookie.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp
import jwt
from aiohttp import web

SHOWN_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Email",
    "X-Auth-Username",
    "X-Auth-Name",
    "X-Auth-Groups",
    "X-Credential-Identifier",
    "X-Auth-Actor",
    "X-Request-ID",
    "X-Forwarded-For",
)


@dataclass(frozen=True)
class AssertionCheck:
    jwks_url: str
    issuer: str
    audience: str


@dataclass(frozen=True)
class Downstream:
    """Where the first service exchanges its assertion, and the service it then calls."""

    token_url: str  # its own sidecar's POST /.auth/token
    url: str  # the second sidecar's public_url: the exchange's `audience`


CHECK = web.AppKey("check", AssertionCheck)
DOWNSTREAM = web.AppKey("downstream", Downstream)
HTTP = web.AppKey("http", aiohttp.ClientSession)


async def verify_assertion(request: web.Request) -> tuple[dict[str, Any] | None, str]:
    """The assertion's claims and "verified", or None and why not."""
    token = request.headers.get("X-Auth-Assertion")
    if not token:
        return None, "no X-Auth-Assertion header"
    check = request.app[CHECK]
    try:
        # Fetched each time: a demo favours showing the real round trip over caching it.
        async with request.app[HTTP].get(check.jwks_url) as response:
            keys = jwt.PyJWKSet.from_dict(await response.json())
        kid = jwt.get_unverified_header(token).get("kid", "")
        claims: dict[str, Any] = jwt.decode(
            token,
            keys[kid].key,
            algorithms=["ES256"],
            audience=check.audience,
            issuer=check.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except (aiohttp.ClientError, KeyError, ValueError, jwt.PyJWTError) as exc:
        return None, f"NOT verified ({type(exc).__name__})"
    return claims, "verified"


async def call_downstream(request: web.Request) -> tuple[dict[str, Any] | None, str]:
    """Exchange this request's assertion, call the second service with the token; its view of
    the caller, or None and why not."""
    downstream = request.app.get(DOWNSTREAM)
    assertion = request.headers.get("X-Auth-Assertion")
    if downstream is None or not assertion:
        return None, "no second service"
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": assertion,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "audience": downstream.url,
    }
    http = request.app[HTTP]
    try:
        async with http.post(downstream.token_url, data=form) as response:
            exchanged = await response.json()
            if response.status != 200:
                return None, f"exchange refused: {response.status} {exchanged.get('error')}"
        bearer = {"Authorization": f"Bearer {exchanged['access_token']}"}
        async with http.get(downstream.url + "/api/whoami", headers=bearer) as response:
            if response.status != 200:
                return None, f"second service answered {response.status}"
            seen: dict[str, Any] = await response.json()
    except (aiohttp.ClientError, KeyError, ValueError) as exc:
        return None, f"call failed ({type(exc).__name__})"
    return seen, "called"


async def whoami_json(request: web.Request) -> web.Response:
    """The second service's API: who called, as the sidecar in front of it says."""
    claims, verdict = await verify_assertion(request)
    headers = {name: unquote(request.headers.get(name, "")) for name in SHOWN_HEADERS}
    return web.json_response({"headers": headers, "assertion": verdict, "claims": claims})


def _downstream_section(seen: dict[str, Any] | None, status: str) -> str:
    if seen is None:
        return f'<h2>Second service</h2><p id="second-service">{html.escape(status)}</p>'
    headers = seen["headers"]
    actor = headers.get("X-Auth-Actor") or "-"
    return f"""<h2>Second service, called on your behalf</h2>
<p>It sees you as <b>{html.escape(headers.get("X-Auth-Name") or "?")}</b>, called by
<span id="actor">{html.escape(actor)}</span> (<code>X-Auth-Actor</code>); its assertion:
<span id="second-assertion">{html.escape(str(seen["assertion"]))}</span>.</p>
<table>{_rows([(name, value or "-") for name, value in headers.items()])}</table>"""


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(
        f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(value)}</code></td></tr>"
        for name, value in pairs
    )


async def whoami(request: web.Request) -> web.Response:
    claims, verdict = await verify_assertion(request)
    headers = [(name, unquote(request.headers.get(name, "-"))) for name in SHOWN_HEADERS]
    name = unquote(request.headers.get("X-Auth-Name", "")) or "anonymous"
    email = unquote(request.headers.get("X-Auth-Email", ""))
    claim_rows = _rows([(k, str(v)) for k, v in (claims or {}).items()])
    downstream = ""
    if request.app.get(DOWNSTREAM) is not None:
        downstream = _downstream_section(*await call_downstream(request))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Who am I</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}</style>
</head><body>
<h1>Hello, {html.escape(name)}</h1><p>{html.escape(email)}</p>
<p>You asked for <code>{html.escape(request.path_qs)}</code>.</p>
<h2>Identity headers from the sidecar</h2><table>{_rows(headers)}</table>
<h2>X-Auth-Assertion: <span id="assertion">{html.escape(verdict)}</span></h2>
<table>{claim_rows}</table>
{downstream}
<p><a href="/admins">/admins</a> (group admins only) &middot; <a href="/public">/public</a>
&middot; <a href="/.auth/me">/.auth/me</a> &middot;
<form method="post" action="/.auth/logout?rd=/public" style="display:inline">
<button type="submit">log out</button></form></p>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


def create_upstream_app(
    check: AssertionCheck, downstream: Downstream | None = None
) -> web.Application:
    app = web.Application()
    app[CHECK] = check
    if downstream is not None:
        app[DOWNSTREAM] = downstream

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            app[HTTP] = session
            yield

    app.cleanup_ctx.append(http_client)
    app.router.add_get("/api/whoami", whoami_json)
    app.router.add_get("/{tail:.*}", whoami)
    return app


async def start_upstream(
    check: AssertionCheck, port: int, downstream: Downstream | None = None
) -> web.AppRunner:
    """Serve the page on 127.0.0.1:`port`; the caller cleans the runner up."""
    runner = web.AppRunner(create_upstream_app(check, downstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner
