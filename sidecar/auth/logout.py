"""Sign-out: `/.auth/logout` (GET page, POST action) and `/.auth/logout/done`.

- `GET` changes nothing (RFC 9110 section 9.2.1: GET is safe): it answers a small page whose
  button posts the form, so a link, an `<img>` or a prefetch cannot sign anyone out.
- `POST` is refused with 403 when `Origin` (or, without it, `Referer`) names another origin
  than `public_url`'s (OWASP CSRF cheat sheet, "Verifying origin with standard headers"); a
  request with neither (not a browser) goes on. It ends the session on every replica, clears
  the cookie, then goes on to the provider's `end_session_endpoint` when discovery lists one
  and `oidc.end_session` is `auto` (OpenID Connect RP-Initiated Logout 1.0 section 2:
  `id_token_hint`, `client_id`, `post_logout_redirect_uri`, `state`), else to `rd`.
- `state` seals `rd` (AEAD under the session secret), so `/.auth/logout/done` can only send
  the browser where this sidecar meant to: `/` when `state` is missing or forged.
"""

from __future__ import annotations

import html
from urllib.parse import quote, urlsplit

from aiohttp import web
from yarl import URL

from sidecar.auth.redirects import safe_redirect
from sidecar.config.settings import Settings
from sidecar.errors import Forbidden
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.manager import SessionManager
from sidecar.sessions.record import SessionRecord
from sidecar.sessions.ticket import Sealer

STATE_PURPOSE = "logout rd"
_NO_STORE = {"Cache-Control": "no-store"}
# The page runs no script and may not be framed (a framed sign-out button invites clickjacking).
_PAGE_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;height:90vh}}
button{{font-size:1.1rem;padding:.6rem 1.4rem;cursor:pointer}}</style></head>
<body><form method="post" action="{action}"><p>Sign out of this site?</p>
<button type="submit" id="sign-out">Sign out</button></form></body></html>
"""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute URL as RFC 6454 section 6.2 serializes it:
    lowercased, the port only when it is not the scheme's default."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    shown = f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{shown}"


def refuse_foreign_origin(request: web.Request, origin: str | None) -> None:
    """403 when `Origin` (or, without it, `Referer`) names another origin than `origin` (the
    logout's rule, also the session list's); a request with neither (not a browser) goes on."""
    claimed = request.headers.get("Origin")
    if claimed is None and "Referer" in request.headers:
        claimed = origin_of(request.headers["Referer"]) or "null"
    if claimed is not None and origin_of(claimed) != origin:
        raise Forbidden()  # `Origin: null` (sandboxed or privacy-reduced) included


class LogoutFlow:
    def __init__(
        self,
        settings: Settings,
        provider: OidcProvider,
        sessions: SessionManager,
        sealer: Sealer,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._provider = provider
        self._sessions = sessions
        self._sealer = sealer
        self._metrics = metrics
        self._origin = origin_of(settings.public_url)
        self.done_uri = settings.public_url + "/.auth/logout/done"

    async def page(self, request: web.Request) -> web.StreamResponse:
        rd = safe_redirect(request.query.get("rd"))
        action = f"{self._settings.public_path}/.auth/logout?rd={quote(rd, safe='/')}"
        body = _PAGE.format(action=html.escape(action, quote=True))
        return web.Response(text=body, content_type="text/html", headers=_PAGE_HEADERS)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        refuse_foreign_origin(request, self._origin)
        rd = safe_redirect(request.query.get("rd"))
        record = await self._sessions.end(request)
        self._metrics.logout.labels(kind="local").inc()
        response = _redirect(self._next_location(record, rd))
        self._sessions.clear_session_cookie(response)
        return response

    async def done(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "")
        plaintext = self._sealer.unseal_state(STATE_PURPOSE, state) if state else None
        rd = safe_redirect(plaintext.decode(errors="replace") if plaintext else None)
        return _redirect(self._settings.public_path + rd)

    def _next_location(self, record: SessionRecord | None, rd: str) -> str:
        end_session = self._end_session_endpoint()
        if end_session is None or record is None:
            return self._settings.public_path + rd
        state = self._sealer.seal_state(STATE_PURPOSE, rd.encode())
        return str(
            URL(end_session).update_query(
                id_token_hint=record.id_token,
                client_id=self._settings.oidc.client_id,
                post_logout_redirect_uri=self.done_uri,
                state=state,
            )
        )

    def _end_session_endpoint(self) -> str | None:
        if self._settings.oidc.end_session == "off" or not self._provider.has_metadata:
            return None
        return self._provider.metadata.end_session_endpoint


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **_NO_STORE})


LOGOUT_FLOW = web.AppKey("logout_flow", LogoutFlow)
