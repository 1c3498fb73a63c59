"""One request to a running sidecar, with what the tests assert on: status, headers, body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'  # CONTRACT "Status codes"
NO_CREDENTIAL_CHALLENGE = 'Bearer realm="auth-sidecar"'


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


async def call(
    url: str,
    headers: dict[str, str] | CIMultiDict[str] | None = None,
    *,
    method: str = "GET",
) -> Answer:
    """`method url` without following redirects."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, allow_redirects=False) as response,
    ):
        return Answer(response.status, response.headers, await response.text())


def upstream_headers(echo: dict[str, Any]) -> CIMultiDict[str]:
    """The headers the echo upstream received, as a case-insensitive multidict."""
    return CIMultiDict((name, value) for name, value in echo["headers"])


def assert_refused(answer: Answer, status: int, error: str, challenge: str | None) -> None:
    """CONTRACT "Status codes": the status, the small JSON body, the challenge header."""
    assert answer.status == status, answer.text
    assert answer.json() == {"error": error, "request_id": answer.headers["X-Request-ID"]}
    assert answer.headers.get("WWW-Authenticate") == challenge
