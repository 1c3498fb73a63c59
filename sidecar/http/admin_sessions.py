"""The operator's session administration on the admin listener (CONTRACT "Sessions people can
see"): `GET /sessions?sub=S` (the list that user sees) and `POST /sessions/revoke` with JSON
`{"sub": "S"}` (end all of that subject's sessions on every replica: `{"ended": N}`).

Off unless `admin.token` is set (then 404, as for any unknown path); each call needs
`Authorization: Bearer <admin.token>`, compared in constant time (else 401). `/healthz`,
`/readyz` and `/metrics` stay open: they are not behind this check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from sidecar.errors import BadRequest, DependencyUnavailable, NotFound, SidecarError
from sidecar.http.forms import read_bounded_body
from sidecar.metrics import Metrics
from sidecar.sessions.directory import SessionDirectory
from sidecar.tokens.claims import is_subject

DirectoryGetter = Callable[[], SessionDirectory | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 4096
_BEARER = "bearer "
_NO_STORE = {"Cache-Control": "no-store"}


class AdminUnauthorized(SidecarError):
    status = 401
    error = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="auth-sidecar admin"'}


class SessionAdmin:
    def __init__(self, token: str | None, directory: DirectoryGetter, metrics: Metrics) -> None:
        self._token = _digest(token) if token else None
        self._directory = directory
        self._metrics = metrics

    async def list_sessions(self, request: web.Request) -> web.StreamResponse:
        directory = self._authorized(request)
        sub = _checked_sub(request.query.get("sub"))
        listed = await directory.list(sub)
        return web.json_response(
            {"sessions": [entry.to_json() for entry in listed]}, headers=_NO_STORE
        )

    async def revoke(self, request: web.Request) -> web.StreamResponse:
        directory = self._authorized(request)
        sub = _checked_sub(await _json_sub(request))
        ended = await directory.end_all(sub)
        self._metrics.logout.labels(kind="admin").inc(ended)
        return web.json_response({"ended": ended}, headers=_NO_STORE)

    def _authorized(self, request: web.Request) -> SessionDirectory:
        if self._token is None:
            raise NotFound()
        given = request.headers.get("Authorization", "")
        presented = given[len(_BEARER) :].strip() if given.lower().startswith(_BEARER) else ""
        # Digests of both: the comparison takes the same time whatever the lengths.
        if not hmac.compare_digest(_digest(presented), self._token):
            raise AdminUnauthorized()
        directory = self._directory()
        if directory is None:  # still starting
            raise DependencyUnavailable("sessions not ready")
        return directory


def _digest(token: str) -> bytes:
    # `surrogateescape`: the header's own bytes, where aiohttp decoded non-UTF-8 ones as
    # surrogates (a plain `encode` raised: a 500).
    return hashlib.sha256(token.encode(errors="surrogateescape")).digest()


def _checked_sub(sub: object) -> str:
    """A `sub` any session could have (the rule every token's `sub` passed): a lone
    surrogate from JSON, say, would fail the index's keyed hash (a 500)."""
    if not is_subject(sub):
        raise BadRequest("sub expected")
    return sub


async def _json_sub(request: web.Request) -> object:
    body = await read_bounded_body(request, MAX_BODY_BYTES)
    if body is None:
        raise BadRequest("body too large")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError included; `[[[...`
        raise BadRequest("not JSON") from exc
    return document.get("sub") if isinstance(document, dict) else None


def _answering_errors(handler: Handler) -> Handler:
    """The admin app has no error middleware: map the exception tree here, same bodies."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SidecarError as error:
            return web.json_response(
                {"error": error.error},
                status=error.status,
                headers={**error.response_headers(), **_NO_STORE},
            )

    return answer


def add_session_admin(app: web.Application, admin: SessionAdmin) -> None:
    app.router.add_get("/sessions", _answering_errors(admin.list_sessions))
    app.router.add_post("/sessions/revoke", _answering_errors(admin.revoke))
