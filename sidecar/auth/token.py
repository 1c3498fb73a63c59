"""`POST /.auth/token`: the RFC 8693 endpoint (CONTRACT "Service to service").

The checks on the token itself live in `tokens/exchange.py`; this is the HTTP side: the TCP
peer (never `X-Forwarded-For`: whoever can set a header could claim any address), the bounded
urlencoded form (RFC 6749 section 3.2), and the answer (RFC 8693 section 2.2.1), every
outcome counted by result.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from aiohttp import web

from sidecar.errors import ExchangePeerRefused, TokenExchangeRefused
from sidecar.http.forms import read_bounded_body
from sidecar.keys import TOKEN_EXCHANGER
from sidecar.net import is_trusted_peer
from sidecar.pipeline.context import DECISION, SUBJECT
from sidecar.tokens.exchange import parse_request

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024  # a subject token is at most 8 KiB
MAX_FORM_FIELDS = 20
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 section 5.1


async def token(request: web.Request) -> web.StreamResponse:
    """Routed only when `token_exchange.audiences` is set, else an unknown `/.auth` path."""
    request[DECISION] = "token_exchange"
    exchanger = request.app[TOKEN_EXCHANGER]
    try:
        if not is_trusted_peer(request.remote, exchanger.allowed_peers):
            raise ExchangePeerRefused()
        issued = exchanger.exchange(parse_request(await read_form(request)))
    except (TokenExchangeRefused, ExchangePeerRefused) as refused:
        exchanger.report(refused.error)
        raise
    exchanger.report("ok")
    request[SUBJECT] = issued.claims["sub"]
    return web.json_response(issued.body(), headers=NO_STORE)


async def read_form(request: web.Request) -> dict[str, list[str]]:
    """The urlencoded body, bounded (the app streams bodies, so nothing bounds them for us)."""
    if request.content_type != FORM_TYPE:
        raise TokenExchangeRefused("invalid_request")
    body = await read_bounded_body(request, MAX_FORM_BYTES)
    if body is None:
        raise TokenExchangeRefused("invalid_request")
    try:
        return parse_qs(
            body.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise TokenExchangeRefused("invalid_request") from exc
