"""`/.auth/sessions`: the signed-in user's sessions, and ending them (CONTRACT "Sessions people
can see"; the list itself is `sidecar.sessions.directory`).

- `GET` shows the list: a plain page for browsers (no script, not framable, like the logout
  page), JSON for everyone else. Only a session cookie opens it: a bearer caller has no
  browser sessions to show (403); without a session, 401 or the login redirect.
- `POST /.auth/sessions/end` (`handle=H` or `all_others=1`) takes the logout's Origin/Referer
  rule, ends the sessions on every replica (the one signal: memory copies dropped, websockets
  closed), and answers 303 back to the list. Ending this very session is a logout (the cookie
  is cleared). An unknown handle is 404.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, quote

from aiohttp import web

from sidecar.auth.logout import origin_of, refuse_foreign_origin
from sidecar.config.settings import Settings
from sidecar.errors import BadRequest, Forbidden, LoginRequired, NotFound, Unauthenticated
from sidecar.http.forms import read_bounded_body
from sidecar.metrics import Metrics
from sidecar.pipeline.context import SUBJECT
from sidecar.pipeline.steps import bearer_token
from sidecar.sessions.directory import ListedSession, SessionDirectory
from sidecar.sessions.manager import SessionManager
from sidecar.sessions.sockets import SESSION_TAG

MAX_FORM_BYTES = 1024
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your sessions</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}td,th{{padding:.4rem;text-align:left;
border-bottom:1px solid #ddd}}button{{cursor:pointer}}</style></head>
<body><h1>Signed in on these devices</h1>
<table><thead><tr><th>Device</th><th>Address</th><th>Signed in</th><th>Last used</th><th></th>
</tr></thead><tbody>
{rows}</tbody></table>
<form method="post" action="{action}"><input type="hidden" name="all_others" value="1">
<p><button type="submit" id="end-all-others">Sign out all other sessions</button></p></form>
</body></html>
"""
_ROW = (
    '<tr class="session"><td>{device}</td><td>{client_ip}</td><td>{started}</td>'
    "<td>{last_used}</td><td>{end}</td></tr>\n"
)
_END_FORM = (
    '<form method="post" action="{action}"><input type="hidden" name="handle" value="{handle}">'
    '<button type="submit" class="end-session">Sign out</button></form>'
)


class SessionsPage:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionManager,
        directory: SessionDirectory,
        metrics: Metrics,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._metrics = metrics
        self._origin = origin_of(settings.public_url)
        self._page_path = settings.public_path + "/.auth/sessions"
        self._end_path = self._page_path + "/end"
        self._login_url = f"{settings.public_url}/.auth/login?rd={quote('/.auth/sessions')}"

    async def show(self, request: web.Request) -> web.StreamResponse:
        sub, tag = await self._signed_in(request, browser=True)
        listed = await self._directory.list(sub, current_tag=tag)
        if "text/html" in request.headers.get("Accept", ""):
            return web.Response(
                text=self._render(listed), content_type="text/html", headers=_PAGE_HEADERS
            )
        return web.json_response(
            {"sessions": [entry.to_json() for entry in listed]},
            headers={"Cache-Control": "no-store"},
        )

    async def end(self, request: web.Request) -> web.StreamResponse:
        refuse_foreign_origin(request, self._origin)
        sub, current = await self._signed_in(request, browser=False)
        handle, all_others = await _end_form(request)
        if all_others:
            ended = await self._directory.end_all(sub, keep_tag=current)
            self._metrics.logout.labels(kind="user").inc(ended)
            return self._back()
        tag = await self._directory.find(sub, handle)
        if tag is None:
            raise NotFound()
        await self._directory.end(sub, tag)
        self._metrics.logout.labels(kind="user").inc()
        response = self._back()
        if tag == current:  # ending this one is a logout
            self._sessions.clear_session_cookie(response)
        return response

    async def _signed_in(self, request: web.Request, *, browser: bool) -> tuple[str, str]:
        """The session's `sub` and store tag; 403 for a bearer caller, 401 (or, for a
        browser, the login redirect) without a live session."""
        if bearer_token(request) is not None:
            raise Forbidden()
        try:
            identity = await self._sessions.identity_for(request)
        except Unauthenticated:  # SessionEnded: expired, ended, or a forged cookie
            identity = None
        if identity is None:
            if browser and "text/html" in request.headers.get("Accept", ""):
                raise LoginRequired(self._login_url)
            raise Unauthenticated()
        request[SUBJECT] = identity.sub
        return identity.sub, request[SESSION_TAG]

    def _back(self) -> web.Response:
        return web.Response(
            status=303, headers={"Location": self._page_path, "Cache-Control": "no-store"}
        )

    def _render(self, listed: list[ListedSession]) -> str:
        rows = "".join(self._row(entry) for entry in listed)
        return _PAGE.format(rows=rows, action=html.escape(self._end_path, quote=True))

    def _row(self, entry: ListedSession) -> str:
        shown = entry.to_json()
        end = "This session" if entry.current else ""
        form = _END_FORM.format(
            action=html.escape(self._end_path, quote=True),
            handle=html.escape(entry.handle, quote=True),
        )
        return _ROW.format(
            device=html.escape(entry.device),
            client_ip=html.escape(entry.client_ip),
            started=html.escape(shown["started_at"] or "unknown"),
            last_used=html.escape(shown["last_used_at"] or "unknown"),
            end=f"<strong>{end}</strong> {form}" if end else form,
        )


async def _end_form(request: web.Request) -> tuple[str, bool]:
    """(`handle`, `all_others`) from the form; 400 for anything else."""
    body = await read_bounded_body(request, MAX_FORM_BYTES)
    if body is None:
        raise BadRequest("form too large")
    try:
        form = parse_qs(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("unreadable form") from exc
    handles, others = form.get("handle", []), form.get("all_others", [])
    if others == ["1"] and not handles:
        return "", True
    if len(handles) == 1 and handles[0] and not others:
        return handles[0], False
    raise BadRequest("handle or all_others=1 expected")


SESSIONS_PAGE = web.AppKey("sessions_page", SessionsPage)
