"""Typed `AppKey`s of the shared resources `create_app` wires (no globals, no string keys).

Objects of a higher layer keep their key beside their class (`pipeline/entry.py`,
`auth/login.py`, `sessions/sockets.py`, ...), so that this module imports only downward.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from sidecar.config.settings import Settings
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.sessions.events import SessionEvents
from sidecar.sessions.store import SessionStore
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.exchange import TokenExchanger
from sidecar.tokens.trusted_issuers import TrustedIssuerKeys

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SIGNER = web.AppKey("signer", AssertionSigner)
PROVIDER_HTTP = web.AppKey("provider_http", aiohttp.ClientSession)
UPSTREAM_HTTP = web.AppKey("upstream_http", aiohttp.ClientSession)
STORE = web.AppKey("store", SessionStore)
PROVIDER = web.AppKey("provider", OidcProvider)
TOKEN_EXCHANGER = web.AppKey("token_exchanger", TokenExchanger)
TRUSTED_ISSUER_KEYS = web.AppKey("trusted_issuer_keys", TrustedIssuerKeys)
EVENTS = web.AppKey("session_events", SessionEvents)
