"""The server-side tests (admin listener, shutdown) use the request-path logins."""

from tests.app.conftest import id_tokens

__all__ = ["id_tokens"]
