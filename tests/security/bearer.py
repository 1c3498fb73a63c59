"""Presenting a bearer token to the sidecar, as an API caller (never redirected to login)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass
class Answer:
    status: int
    www_authenticate: str | None
    body: str


async def present(base: str, token: str, path: str = "/x") -> Answer:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with aiohttp.ClientSession() as http, http.get(base + path, headers=headers) as r:
        return Answer(r.status, r.headers.get("WWW-Authenticate"), await r.text())


def assert_refused(answer: Answer) -> None:
    """CONTRACT: an invalid bearer token is 401 with `error="invalid_token"`, never a 500."""
    assert answer.status == 401, answer
    assert answer.www_authenticate is not None
    assert 'error="invalid_token"' in answer.www_authenticate, answer
