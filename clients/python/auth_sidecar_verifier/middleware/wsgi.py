"""WSGI (Flask, Django, any PEP 3333 app): `app.wsgi_app = AssertionMiddleware(app.wsgi_app,
verifier)`; the claims are `environ["auth_sidecar.claims"]`. Uses the sync API: a key fetch
blocks one worker thread for at most the verifier's `timeout_s`."""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from auth_sidecar_verifier.errors import KeySetUnavailable, VerificationError
from auth_sidecar_verifier.middleware import CLAIMS_KEY, invalid, refusal
from auth_sidecar_verifier.verifier import Verifier

_STATUS_LINES = {401: "401 Unauthorized", 503: "503 Service Unavailable"}


class AssertionMiddleware:
    def __init__(self, app: WSGIApplication, verifier: Verifier, *, optional: bool = False):
        self.app = app
        self.verifier = verifier
        self.optional = optional

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Servers join repeated headers with ", ", which no compact JWS contains: a duplicate
        # is refused as malformed by the verifier.
        token = environ.get("HTTP_X_AUTH_ASSERTION")
        if token is None and self.optional:
            environ[CLAIMS_KEY] = None
            return self.app(environ, start_response)
        if token is None:
            return _refuse(start_response, invalid("missing"))
        try:
            environ[CLAIMS_KEY] = self.verifier.verify(token)
        except (VerificationError, KeySetUnavailable) as exc:
            return _refuse(start_response, refusal(exc))
        return self.app(environ, start_response)


def _refuse(start_response: StartResponse, status_body: tuple[int, bytes]) -> list[bytes]:
    status, body = status_body
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(_STATUS_LINES[status], headers)
    return [body]
