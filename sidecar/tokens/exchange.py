"""RFC 8693 token exchange for service-to-service calls: the request and the issued token
(the endpoint, `POST /.auth/token`, is `auth/token.py`).

CONTRACT "Service to service". The app behind this sidecar (service A) holds the user's
`X-Auth-Assertion`; to call service B on the user's behalf it exchanges it here for a token
that only B accepts. The rules, each a refusal:

- the caller's TCP peer address is in `token_exchange.allowed_peers` (the app in the same
  pod); `X-Forwarded-For` is never read: whoever can set a header could claim any address.
  Else 403 `unauthorized_client` (RFC 6749 section 5.2: this client may not use the grant);
- RFC 6749 section 3.2: `application/x-www-form-urlencoded`, each parameter at most once
  (section 3.1), unknown parameters ignored; RFC 8693 section 2.1: `grant_type` is
  `urn:ietf:params:oauth:grant-type:token-exchange` (else `unsupported_grant_type`),
  `subject_token` and `subject_token_type` = `urn:ietf:params:oauth:token-type:jwt` are
  required; no `actor_token` (delegation by a second token is not offered);
- RFC 8693 section 2.2.2: a subject token that is invalid "for any reason" is
  `invalid_request`: it must be an assertion this sidecar signed (`assertion_verify`);
- the `audience` (and `resource`, when given) names one service of `token_exchange.audiences`,
  else `invalid_target`.

The issued token (RFC 8693 section 2.2.1): an ES256 JWS with the assertion key, `iss` = own
`public_url`, `aud` = the target, the subject's `sub`, `email`, `groups`, `name`, a fresh
`jti`, `exp` at most `ttl_s` ahead and never past the subject's, and `act: {sub: own
public_url}` nesting the subject's own `act` (RFC 8693 section 4.1: the outermost `act` is the
current actor, nested ones the prior actors).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from sidecar.config.model import TokenExchangeSettings
from sidecar.config.settings import IPNetwork
from sidecar.errors import InvalidToken, TokenExchangeRefused
from sidecar.tokens.assertion import AssertionSigner
from sidecar.tokens.assertion_verify import EXCHANGED_TOKEN_TYP, OwnAssertionVerifier
from sidecar.tokens.identity import MAX_ACT_DEPTH

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
_IDENTITY_CLAIMS = ("email", "groups", "name")

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    subject_token: str
    audience: str


@dataclass(frozen=True, slots=True)
class Issued:
    token: str
    claims: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """RFC 8693 section 2.2.1."""
        return {
            "access_token": self.token,
            "issued_token_type": JWT_TOKEN_TYPE,
            "token_type": "N_A",  # not an OAuth access token: a JWT for one service
            "expires_in": self.claims["exp"] - self.claims["iat"],
        }


def parse_request(form: Mapping[str, list[str]]) -> ExchangeRequest:
    """RFC 8693 section 2.1 parameters, or `TokenExchangeRefused`."""
    grant_type = _single(form, "grant_type")
    if grant_type is None:
        raise TokenExchangeRefused("invalid_request")
    if grant_type != GRANT_TYPE:
        raise TokenExchangeRefused("unsupported_grant_type")
    subject_token = _single(form, "subject_token")
    if subject_token is None or _single(form, "subject_token_type") != JWT_TOKEN_TYPE:
        raise TokenExchangeRefused("invalid_request")
    if _single(form, "actor_token") is not None or _single(form, "actor_token_type") is not None:
        raise TokenExchangeRefused("invalid_request")
    if _single(form, "requested_token_type") not in (None, JWT_TOKEN_TYPE):
        raise TokenExchangeRefused("invalid_request")
    audiences = [value for value in form.get("audience", []) if value]
    if not audiences:
        raise TokenExchangeRefused("invalid_request")
    resources = [value for value in form.get("resource", []) if value]
    if len(set(audiences + resources)) != 1:
        raise TokenExchangeRefused("invalid_target")  # one token names exactly one service
    return ExchangeRequest(subject_token, audiences[0])


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    """RFC 6749 section 3.1: an empty parameter is an omitted one; a repeated one is refused."""
    values = [value for value in form.get(name, []) if value]
    if len(values) > 1:
        raise TokenExchangeRefused("invalid_request")
    return values[0] if values else None


class TokenExchanger:
    def __init__(
        self,
        settings: TokenExchangeSettings,
        *,
        public_url: str,
        signer: AssertionSigner,
        on_result: Callable[[str], None] = lambda result: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._audiences = frozenset(settings.audiences)
        self._public_url = public_url
        self._signer = signer
        self._verifier = OwnAssertionVerifier(signer, issuer=public_url, clock=clock)
        self.report = on_result  # counts every outcome of the endpoint by result
        self._clock = clock

    @property
    def allowed_peers(self) -> tuple[IPNetwork, ...]:
        return tuple(self._settings.allowed_peers)

    def exchange(self, wanted: ExchangeRequest) -> Issued:
        """The token for a parsed request, or `TokenExchangeRefused`."""
        audience = wanted.audience.rstrip("/")
        if audience not in self._audiences:
            log.info("token_exchange_refused", reason="audience not allowed")
            raise TokenExchangeRefused("invalid_target")
        try:
            subject = self._verifier.verify(wanted.subject_token)
        except InvalidToken as exc:
            log.info("token_exchange_refused", reason=f"subject token: {exc}")
            raise TokenExchangeRefused("invalid_request") from exc
        claims = self._claims_for(subject, audience)
        return Issued(self._signer.sign_claims(claims, typ=EXCHANGED_TOKEN_TYP), claims)

    def _claims_for(self, subject: dict[str, Any], audience: str) -> dict[str, Any]:
        now = int(self._clock())
        act: dict[str, Any] = {"sub": self._public_url}
        if isinstance(subject.get("act"), dict):
            if _act_depth(subject["act"]) >= MAX_ACT_DEPTH:
                raise TokenExchangeRefused("invalid_request")
            act["act"] = subject["act"]
        claims: dict[str, Any] = {
            "iss": self._public_url,
            "aud": audience,
            "sub": subject["sub"],
            "iat": now,
            "exp": min(now + self._settings.ttl_s, int(subject["exp"])),
            "jti": secrets.token_urlsafe(16),
            "act": act,
        }
        claims.update({name: subject[name] for name in _IDENTITY_CLAIMS if name in subject})
        return claims


def _act_depth(act: Mapping[str, Any]) -> int:
    depth = 1
    while isinstance(act.get("act"), dict):
        act, depth = act["act"], depth + 1
    return depth
