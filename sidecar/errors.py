"""The sidecar's exception tree.

Every failure that reaches a client is one of these. The error middleware maps each class to its
status code and a fixed, short `error` string; exception text never reaches a response body (it
may carry token fragments or internal addresses).
"""

from __future__ import annotations


class SidecarError(Exception):
    """Base class: `status` and `error` are what the client sees."""

    status: int = 500
    error: str = "internal_error"
    headers: dict[str, str] = {}

    def response_headers(self) -> dict[str, str]:
        return dict(self.headers)


# ---- 4xx: the caller's fault -----------------------------------------------------------------


class BadRequest(SidecarError):
    status = 400
    error = "bad_request"


class HeaderTooLarge(SidecarError):
    """RFC 6585 section 5: request header fields too large."""

    status = 431
    error = "header_too_large"


class Unauthenticated(SidecarError):
    """No credential at all (RFC 6750 section 3: no error code when none was presented)."""

    status = 401
    error = "unauthenticated"
    headers = {"WWW-Authenticate": 'Bearer realm="auth-sidecar"'}


class InvalidToken(Unauthenticated):
    """A credential was presented and refused (RFC 6750 section 3.1 `invalid_token`)."""

    error = "invalid_token"
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}  # CONTRACT, exactly


class SessionEnded(Unauthenticated):
    """The session cookie names no live session (expired, logged out, refresh refused)."""

    error = "session_expired"


class Forbidden(SidecarError):
    status = 403
    error = "forbidden"


class TokenExchangeRefused(SidecarError):
    """RFC 8693 section 2.2.2: a refused token exchange is an RFC 6749 section 5.2 error
    response: 400 with `error` one of `invalid_request`, `invalid_target`,
    `unsupported_grant_type`."""

    status = 400
    headers = {"Cache-Control": "no-store"}

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class ExchangePeerRefused(Forbidden):
    """`POST /.auth/token` from outside `token_exchange.allowed_peers` (RFC 6749 section 5.2
    `unauthorized_client`: this caller may not use the grant)."""

    error = "unauthorized_client"
    headers = {"Cache-Control": "no-store"}


class LoginFailed(SidecarError):
    """The login callback was refused: bad or replayed `state`, wrong `nonce`, provider error."""

    status = 400
    error = "login_failed"


class LoginRequired(SidecarError):
    """A browser without a session: answered with a 302 to `/.auth/login`, not an error body."""

    status = 302
    error = "login_required"

    def __init__(self, location: str) -> None:
        super().__init__("login required")
        self.location = location

    def response_headers(self) -> dict[str, str]:
        return {"Location": self.location}


# ---- 5xx: a dependency's fault ---------------------------------------------------------------


class DependencyUnavailable(SidecarError):
    """Something the decision needs cannot be reached right now: never a 200, never a 500."""

    status = 503
    error = "unavailable"
    headers = {"Retry-After": "5"}


class StoreUnavailable(DependencyUnavailable):
    error = "session_store_unavailable"


class ProviderUnavailable(DependencyUnavailable):
    error = "provider_unavailable"


class TrustedIssuerUnavailable(DependencyUnavailable):
    """A trusted issuer's JWKS cannot be had: its tokens get 503 until it is back."""

    error = "trusted_issuer_unavailable"


class UpstreamUnavailable(SidecarError):
    status = 502
    error = "upstream_unavailable"


class UpstreamTimeout(SidecarError):
    status = 504
    error = "upstream_timeout"


class NotFound(SidecarError):
    status = 404
    error = "not_found"
