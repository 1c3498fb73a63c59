"""Typed `AppKey`s: how handlers reach what `create_app` wired (no globals, no string keys)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from sidecar.auth.backchannel import BackchannelLogout
from sidecar.auth.login import LoginFlow
from sidecar.auth.logout import LogoutFlow
from sidecar.config.settings import Settings
from sidecar.metrics import Metrics
from sidecar.oidc.provider import OidcProvider
from sidecar.pipeline.exchange import Pipeline
from sidecar.pipeline.steps import Authenticate
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
PROXY_PIPELINE = web.AppKey("proxy_pipeline", Pipeline)
VERIFY_PIPELINE = web.AppKey("verify_pipeline", Pipeline)
AUTHENTICATE = web.AppKey("authenticate", Authenticate)
LOGIN_FLOW = web.AppKey("login_flow", LoginFlow)
TOKEN_EXCHANGER = web.AppKey("token_exchanger", TokenExchanger)
TRUSTED_ISSUER_KEYS = web.AppKey("trusted_issuer_keys", TrustedIssuerKeys)
LOGOUT_FLOW = web.AppKey("logout_flow", LogoutFlow)
BACKCHANNEL = web.AppKey("backchannel", BackchannelLogout)
EVENTS = web.AppKey("session_events", SessionEvents)
