"""Converters from one raw configuration value to a typed one.

Each takes what the environment (a string) or YAML (a string, number, bool or list) gave, and
returns the typed value or raises `ValueError` with a message for the operator. Messages never
quote the value of a secret or of a URL (a Redis URL may carry a password).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Number = TypeVar("Number", int, float)

MIN_SECRET_BYTES = 32
# Asymmetric JWS algorithms (RFC 7518 section 3.1, RFC 8037) that pyjwt verifies with
# `cryptography`. HS* would make the client secret a verification key anyone holding it can sign
# with, and `none` is an unsecured JWS (RFC 7518 section 3.6): both are refused.
ASYMMETRIC_ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel")
# RFC 6265 section 4.1.1: a cookie name is an RFC 7230 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def to_text(raw: object) -> str:
    if isinstance(raw, bool | list | dict):
        raise ValueError("must be a single string")
    return str(raw).strip()


def to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = to_text(raw).lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"must be true/false/1/0/yes/no, got {text!r}")


def to_int(low: int, high: int | None = None) -> Callable[[object], int]:
    def convert(raw: object) -> int:
        try:
            value = int(to_text(raw), 10)
        except ValueError:
            raise ValueError(f"must be a whole number, got {to_text(raw)!r}") from None
        return _in_range(value, low, high)

    return convert


def to_float(low: float, high: float | None = None) -> Callable[[object], float]:
    def convert(raw: object) -> float:
        try:
            value = float(to_text(raw))
        except ValueError:
            raise ValueError(f"must be a number, got {to_text(raw)!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return _in_range(value, low, high)

    return convert


def _in_range(value: Number, low: Number, high: Number | None) -> Number:
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"must be {bound}, got {value}")
    return value


def to_list(separator: str | None) -> Callable[[object], tuple[str, ...]]:
    """A `separator`-separated string (None: whitespace), or a YAML list of strings."""

    def convert(raw: object) -> tuple[str, ...]:
        if isinstance(raw, list):
            items = [to_text(item) for item in raw]
        else:
            items = to_text(raw).split(separator)
        return tuple(item.strip() for item in items if item.strip())

    return convert


def to_choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(raw: object) -> str:
        value = to_text(raw).lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return convert


def to_log_format(raw: object) -> Literal["json", "console"]:
    return "console" if to_choice(("json", "console"))(raw) == "console" else "json"


def to_http_url(raw: object) -> str:
    """An absolute http(s) URL without credentials, query or fragment. The value is not quoted
    back in messages."""
    text = to_text(raw)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("must not have a query or a fragment")
    return text


def to_scopes(raw: object) -> tuple[str, ...]:
    scopes = to_list(None)(raw)
    if "openid" not in scopes:
        raise ValueError("must include openid")
    return scopes


def to_algorithms(raw: object) -> tuple[str, ...]:
    algorithms = to_list(",")(raw)
    if not algorithms:
        raise ValueError("must name at least one algorithm")
    for name in algorithms:
        if name.lower() == "none":
            raise ValueError("'none' (unsecured JWS) is refused")
        if name.upper().startswith("HS"):
            raise ValueError(f"{name} is refused: HS* algorithms verify with a shared secret")
        if name not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"{name!r} is not one of {', '.join(ASYMMETRIC_ALGORITHMS)}")
    return algorithms


def to_host_port(raw: object) -> tuple[str, int]:
    """`host:port` or `[v6]:port`; port 0 asks the OS for a free one."""
    text = to_text(raw)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"must be host:port with a port from 0 to 65535, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets must be an IPv6 address") from None
    elif ":" in host or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise ValueError(f"must be host:port (IPv6 as [addr]:port), got {text!r}")
    return host, int(port)


def listeners_clash(first: tuple[str, int], second: tuple[str, int]) -> bool:
    """Same port on the same or a wildcard address (port 0 is always a fresh port)."""
    if first[1] != second[1] or first[1] == 0:
        return False
    return first[0] == second[0] or bool({first[0], second[0]} & _WILDCARD_HOSTS)


def to_networks(raw: object) -> tuple[IPNetwork, ...]:
    networks = []
    for item in to_list(",")(raw):
        try:
            # strict=False: 10.1.2.3/8 means 10.0.0.0/8, as Go's net.ParseCIDR reads it.
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(networks)


def to_session_secrets(raw: object) -> tuple[bytes, ...]:
    """Comma separated url-safe base64 secrets (padding optional); each names its position,
    never its value."""
    decoded = []
    for position, item in enumerate(to_list(",")(raw), start=1):
        if not _BASE64URL.fullmatch(item):
            raise ValueError(f"entry {position} is not url-safe base64")
        try:
            value = base64.urlsafe_b64decode(item.rstrip("=") + "=" * (-len(item.rstrip("=")) % 4))
        except (binascii.Error, ValueError):
            raise ValueError(f"entry {position} is not url-safe base64") from None
        if len(value) < MIN_SECRET_BYTES:
            raise ValueError(
                f"entry {position} decodes to {len(value)} bytes, at least {MIN_SECRET_BYTES}"
                " are needed (make one with `auth-sidecar gen-secret`)"
            )
        decoded.append(value)
    if not decoded:
        raise ValueError("required")
    return tuple(decoded)


def to_redis_url(raw: object) -> str:
    """`redis://`, `rediss://` or `redis+sentinel://host:port[,host:port]/service[/db]`."""
    text = to_text(raw)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in REDIS_SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(REDIS_SCHEMES)}")
    hosts_part, _, path = rest.partition("/")
    hosts = hosts_part.rpartition("@")[2].split(",")
    if not all(hosts):
        raise ValueError("needs a host")
    if scheme.lower() == "redis+sentinel":
        segments = [segment for segment in path.split("?")[0].split("/") if segment]
        if not segments:
            raise ValueError("a redis+sentinel URL needs a service name: .../service_name[/db]")
        if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
            raise ValueError("a redis+sentinel URL path is /service_name[/db]")
    elif len(hosts) > 1:
        raise ValueError("only a redis+sentinel URL may list several hosts")
    elif path.split("?")[0] and not path.split("?")[0].isdigit():
        raise ValueError("the path of a redis:// URL is the db number")
    for host in hosts:
        _check_redis_host(host)
    return text


def _check_redis_host(host: str) -> None:
    _, sep, port = host.rpartition(":")
    if host.endswith("]") or not sep:
        return
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("has a port that is not between 1 and 65535")


def to_cookie_name(raw: object) -> str:
    text = to_text(raw)
    if not _COOKIE_NAME.fullmatch(text):
        raise ValueError(f"must be a cookie token (RFC 6265), got {text!r}")
    return text


def to_signing_keys(raw: object) -> tuple[str, ...]:
    """One or more concatenated PEM EC P-256 private keys; each is loaded to be sure. Messages
    name a key by its position only."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(to_text(raw))]
    if not blocks:
        raise ValueError("holds no PEM block (expected EC P-256 private keys)")
    for position, block in enumerate(blocks, start=1):
        try:
            key = serialization.load_pem_private_key(block.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError(f"key {position} is not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"key {position} is not an EC P-256 (ES256) private key")
    return tuple(blocks)
