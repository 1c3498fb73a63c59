"""The `/.auth/*` endpoint tests share the request-path logins (`tests/app/`) and the
sign-out provider (`tests/sessions/`)."""

from tests.app.conftest import id_tokens
from tests.sessions.conftest import logout_provider

__all__ = ["id_tokens", "logout_provider"]
