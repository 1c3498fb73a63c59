"""Header hygiene: strip what a client may not say, then say it ourselves.

CONTRACT "Identity headers sent upstream". The order is always strip, then inject (as in
oauth2-proxy's header middleware): an upstream must never see an identity header that the
sidecar did not write.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from multidict import CIMultiDict

from sidecar.tokens.identity import Identity

# Every header the sidecar injects, and the identity headers of other systems: Kong's auth
# plugins, kong-oidc, oauth2-proxy, Authelia/Authentik (`Remote-*`).
SPOOFABLE_HEADERS: frozenset[str] = frozenset(
    {
        "x-auth-subject",
        "x-auth-email",
        "x-auth-username",
        "x-auth-name",
        "x-auth-groups",
        "x-auth-assertion",
        "x-auth-actor",
        "x-credential-identifier",
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-groups",
        "x-forwarded-preferred-username",
        "x-forwarded-access-token",
        "x-anonymous-consumer",
        "x-userinfo",
        "x-id-token",
        "x-access-token",
        "remote-user",
        "remote-groups",
        "remote-email",
        "remote-name",
    }
)
# Whole families: X-Auth-* also covers oauth2-proxy's X-Auth-Request-*.
SPOOFABLE_PREFIXES: tuple[str, ...] = ("x-auth-", "x-consumer-", "x-authenticated-")

# Headers only a trusted proxy may set. From anyone else they are dropped (or replaced below).
FORWARDING_HEADERS: frozenset[str] = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-uri",
        "x-forwarded-method",
        "x-original-uri",
        "x-original-method",
        "x-real-ip",
    }
)

# Connection options (RFC 9110 section 7.6.1) that name no field of the request, or one the
# proxy's fixed hop-by-hop list removes anyway: the usual `keep-alive`, `close`, `upgrade`.
_PLAIN_OPTIONS = frozenset({"", "close", "keep-alive", "upgrade", "te"})
# An end-to-end field no connection option removes: HTTP/1.1 needs it (RFC 9112 section 3.2).
_NEVER_OPTIONS = frozenset({"host"})

_MAX_REQUEST_ID = 200
# Identity values: everything printable ASCII but '%' passes as is; '%', other characters and
# non-ASCII are UTF-8 percent-encoded (RFC 3986 section 2.1). See `identity_headers`.
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_GROUP_SAFE = _HEADER_SAFE.replace(",", "")


def _canonical(name: str) -> str:
    """CGI-style servers (WSGI, PHP, Rack) read `X_Auth_Email` as `X-Auth-Email`."""
    return name.lower().replace("_", "-")


@functools.lru_cache(maxsize=1024)  # a pure function of the name; the same few names recur
def _is_spoofable(name: str) -> bool:
    canonical = _canonical(name)
    if canonical in SPOOFABLE_HEADERS or canonical.startswith(SPOOFABLE_PREFIXES):
        return True
    # An underscore twin of a forwarding header is never sent by a real proxy.
    return "_" in name and canonical in FORWARDING_HEADERS | {"x-request-id"}


def drop_connection_options(headers: CIMultiDict[str]) -> None:
    """Apply the client's `Connection` header to the client's own fields, in place: remove it
    and every field it names (RFC 9110 section 7.6.1: they were meant for this hop only).

    Run first, on the client's request alone, before anything is injected: applied after, as
    the proxy's hop-by-hop pass did, `Connection: X-Auth-Subject, X-Forwarded-For` removed
    the sidecar's own headers on their way upstream (Traefik CVE-2024-45410's class). With the
    `Connection` header gone from here on, nothing later can apply it again. `Host` is never
    removed (HTTP/1.1 requires it, RFC 9112 section 3.2). Callers check for `Connection` first:
    most requests have none, and `keep-alive` alone costs one split.
    """
    values = headers.popall("Connection", ())
    if len(values) == 1 and values[0].strip().lower() in _PLAIN_OPTIONS:
        return  # `keep-alive` or `close` alone: the usual case, nothing named
    named = {option.strip().lower() for value in values for option in value.split(",")}
    named -= _PLAIN_OPTIONS
    if named:
        named -= _NEVER_OPTIONS
        for name in {name for name in headers if name.lower() in named}:
            headers.popall(name, None)


def strip_untrusted(headers: CIMultiDict[str], *, cookie_name: str) -> None:
    """Remove, in place, every spoofable header, the sidecar's cookies and `Authorization`.

    The session cookie is a bearer credential for the sidecar only, and the login-binding
    cookies (`<cookie_name>_login_<hash>`) tie a login to its browser: none of them reaches
    the upstream. Other cookies are kept byte-exact. `Authorization` always goes: with
    `headers.forward_token` the upstream gets only the token the sidecar verified, set again
    by the pipeline.
    """
    for name in {name for name in headers if _is_spoofable(name)}:
        headers.popall(name, None)
    headers.popall("Authorization", None)
    if "Cookie" in headers:
        _strip_cookies(headers, cookie_name)


def _strip_cookies(headers: CIMultiDict[str], cookie_name: str) -> None:
    """Drop the sidecar's cookies: `cookie_name` and every name in its login-binding family
    (`sidecar.auth.login`). A `Cookie` line that mentions neither is kept as it is."""
    binding_prefix = cookie_name + "_login_"
    values = headers.popall("Cookie", [])
    for value in values:
        if cookie_name not in value:  # both names start with it: the common, cheap case
            headers.add("Cookie", value)
            continue
        # RFC 6265 section 5.4: pairs separated by ';'; names are case-sensitive.
        kept = [
            pair
            for pair in value.split(";")
            if not _is_own_cookie(pair.split("=", 1)[0].strip(), cookie_name, binding_prefix)
        ]
        remaining = ";".join(kept).lstrip()
        if remaining:
            headers.add("Cookie", remaining)


def _is_own_cookie(name: str, cookie_name: str, binding_prefix: str) -> bool:
    return name == cookie_name or name.startswith(binding_prefix)


def forwarded_headers(
    headers: CIMultiDict[str], *, peer: str | None, scheme: str, host: str | None, trusted: bool
) -> None:
    """Set `X-Forwarded-For/-Proto/-Host` in place, believing only a trusted peer.

    From a trusted peer (Kong) the chain is extended and its proto/host kept (first value);
    from anyone else they are replaced by what the connection says, and every other forwarding
    header (`Forwarded` of RFC 7239, `X-Real-IP`, `X-Forwarded-Uri`, ...) is dropped.
    """
    if trusted:
        chain = [v.strip() for v in headers.popall("X-Forwarded-For", []) if v.strip()]
        proto = _first_value(headers, "X-Forwarded-Proto")
        forwarded_host = _first_value(headers, "X-Forwarded-Host")
    else:
        for name in FORWARDING_HEADERS:
            headers.popall(name, None)
        chain, proto, forwarded_host = [], None, None
    if peer:
        chain.append(peer)
    if chain:
        headers["X-Forwarded-For"] = ", ".join(chain)
    if proto is None or proto.lower() not in ("http", "https"):
        proto = scheme
    headers["X-Forwarded-Proto"] = proto.lower()
    forwarded_host = forwarded_host or host
    if forwarded_host:
        headers["X-Forwarded-Host"] = forwarded_host
    else:
        headers.popall("X-Forwarded-Host", None)


def _first_value(headers: CIMultiDict[str], name: str) -> str | None:
    values = headers.popall(name, [])
    if not values:
        return None
    return values[0].split(",", 1)[0].strip() or None


def request_id(headers: Mapping[str, str], *, trusted: bool) -> str:
    """A trusted proxy's `X-Request-ID` when sane (<= 200 visible ASCII), else a new one."""
    if trusted:
        value = headers.get("X-Request-ID", "")
        if 0 < len(value) <= _MAX_REQUEST_ID and all("!" <= c <= "~" for c in value):
            return value
    return secrets.token_hex(16)  # 128 random bits, as uuid4().hex but without its 6 fixed bits


class IdentityHeaders:
    """`identity_headers`, remembered: the same caller on every request of a session or a
    bearer token gets the same headers (the signer caches the assertion too), so the encoding
    work is done once per identity and assertion instead of per request. The key is the
    values the headers are made of, so two identities never share an entry."""

    def __init__(self, size: int = 4096) -> None:
        self._pairs = functools.lru_cache(maxsize=size)(_identity_header_pairs)

    def __call__(self, identity: Identity, assertion: str) -> list[tuple[str, str]]:
        return list(self._pairs(*_header_values(identity), assertion))


def identity_headers(identity: Identity, assertion: str) -> list[tuple[str, str]]:
    """The identity headers for the upstream (see `_identity_header_pairs`)."""
    return list(_identity_header_pairs(*_header_values(identity), assertion))


def _header_values(
    identity: Identity,
) -> tuple[str, str | None, str | None, str | None, tuple[str, ...], str | None]:
    """What of `identity` the headers are made of, in `_identity_header_pairs`'s order."""
    return (
        identity.sub,
        identity.email,
        identity.preferred_username,
        identity.name,
        identity.groups,
        identity.actor,
    )


def _identity_header_pairs(
    sub: str,
    email: str | None,
    username: str | None,
    name: str | None,
    groups: tuple[str, ...],
    actor: str | None,
    assertion: str,
) -> tuple[tuple[str, str], ...]:
    """The identity headers for the upstream, absent values omitted.

    Values are UTF-8 percent-encoded where they are not printable ASCII, and '%' itself, so
    every header stays latin-1 safe (RFC 9110 section 5.5) and upstreams decode each value with
    one `unquote`; plain ASCII values are unchanged. Group names also encode ',' so that the
    ','-joined list splits back exactly. A value holding CR, LF or NUL is dropped: no
    legitimate claim has one. The signed `X-Auth-Assertion` carries the exact values.
    """
    pairs: list[tuple[str, str | None]] = [
        ("X-Auth-Subject", sub),
        ("X-Auth-Email", email),
        ("X-Auth-Username", username),
        ("X-Auth-Name", name),
        ("X-Auth-Groups", _groups_value(groups)),
        ("X-Credential-Identifier", sub),
        ("X-Auth-Assertion", assertion),
        ("X-Auth-Actor", actor),  # an exchanged token's calling service
    ]
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if not value or _has_breaking_character(value):
            continue
        out.append((name, value if name == "X-Auth-Groups" else _encoded(value, _HEADER_SAFE)))
    return tuple(out)


def _groups_value(groups: Sequence[str]) -> str | None:
    kept = [_encoded(g, _GROUP_SAFE) for g in groups if g and not _has_breaking_character(g)]
    return ",".join(kept) or None


def _encoded(value: str, safe: str) -> str:
    """`quote(value, safe=safe)`, skipping the work when nothing would change: printable
    ASCII without '%' (and without ',' for group names) is all safe. The assertion, a few
    hundred base64url characters, is such a value on every request."""
    unchanged = value.isascii() and value.isprintable() and "%" not in value
    if unchanged and ("," in safe or "," not in value):
        return value
    return quote(value, safe=safe)


def _has_breaking_character(value: str) -> bool:
    return any(c in value for c in "\r\n\x00")
