"""The route table (`routes:`, YAML only) and the one-route shorthand (CONTRACT "Access policy").

`routes: [{match: {host, path}, upstream, strip_prefix, assertion: {audience, claims}, policy}]`
is checked entry by entry, every problem named by its place (`routes[1].match.host (YAML
only): ...`). The top-level `upstream` + `policy` (+ `assertion.audience`) are the shorthand for
one route matching every request; the two forms never mix. Either way `Settings.routes` holds
at least one route, so the request path has one code path.
"""

from __future__ import annotations

import re
from typing import Any

from sidecar.config import parse
from sidecar.config.model import ASSERTION_CLAIMS, Route, RouteAssertion, shorthand_route
from sidecar.config.rules import parse_policy

__all__ = ["parse_routes", "shorthand_route"]

ROUTE_FIELDS = ("match", "upstream", "strip_prefix", "assertion", "policy")
MATCH_FIELDS = ("host", "path")
ASSERTION_FIELDS = ("audience", "claims")
# Always in an assertion (CONTRACT), so naming them in `assertion.claims` changes nothing.
_ALWAYS = frozenset({"iss", "aud", "iat", "exp"})
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A route path is written in its normalized form: nothing that decoding, dot-segment removal,
# backslash folding or matrix parameters could read another way.
_NOT_NORMAL = re.compile(r"[%\\;?#\s\x00-\x1f\x7f]|//|/\.\.?(?:/|$)")


def parse_routes(raw: object, problems: list[str], public_url: str) -> tuple[Route, ...]:
    """`routes` (YAML only): a non-empty list; a duplicate `match` is an error."""
    if not isinstance(raw, list) or not raw:
        problems.append("routes (YAML only): must be a non-empty list of {match, upstream, ...}")
        return ()
    routes: list[Route] = []
    seen: dict[tuple[str | None, str], int] = {}
    for index, entry in enumerate(raw):
        where = f"routes[{index}]"
        before = len(problems)
        route = _route(entry, where, problems, public_url)
        if route is None or len(problems) > before:
            continue
        key = (route.host, route.path.casefold())
        if key in seen:
            problems.append(f"{where}.match (YAML only): duplicate of routes[{seen[key]}]")
            continue
        seen[key] = index
        routes.append(route)
    return tuple(routes)


def _route(entry: object, where: str, problems: list[str], public_url: str) -> Route | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} (YAML only): must be a mapping with match and upstream")
        return None
    _unknown(entry, ROUTE_FIELDS, where, problems)
    host, path = _match(entry.get("match"), f"{where}.match", problems)
    upstream = _optional(entry, "upstream", parse.to_http_url, where, problems)
    strip = _optional(entry, "strip_prefix", parse.to_bool, where, problems) or False
    policy = parse_policy(entry.get("policy"), problems, f"{where}.policy")
    for index, rule in enumerate(policy):
        if not (_under(rule.path, path) or _under(path, rule.path)):
            problems.append(
                f"{where}.policy[{index}].path (YAML only): outside the route's path {path}"
                " (rule paths are full request paths, before strip_prefix)"
            )
    assertion = _assertion(entry.get("assertion"), f"{where}.assertion", problems)
    return Route(
        name=f"{host}{path}" if host else path,
        path=path,
        upstream=upstream,
        assertion=RouteAssertion(
            audience=assertion.get("audience") or upstream or public_url,
            claims=assertion.get("claims", ASSERTION_CLAIMS),
        ),
        host=host,
        strip_prefix=strip,
        policy=policy,
    )


def _unknown(
    entry: dict[Any, Any], known: tuple[str, ...], where: str, problems: list[str]
) -> None:
    for name in entry:
        if name not in known:
            problems.append(f"{where}.{name} (YAML only): unknown field; use {', '.join(known)}")


def _optional(
    entry: dict[Any, Any], name: str, convert: Any, where: str, problems: list[str]
) -> Any:
    value = entry.get(name)
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as exc:
        problems.append(f"{where}.{name} (YAML only): {exc}")
        return None


def _match(raw: object, where: str, problems: list[str]) -> tuple[str | None, str]:
    """`match: {host, path}`; both optional (`path` defaults to `/`)."""
    if raw is None:
        return None, "/"
    if not isinstance(raw, dict):
        problems.append(f"{where} (YAML only): must be a mapping of host and/or path")
        return None, "/"
    _unknown(raw, MATCH_FIELDS, where, problems)
    host = raw.get("host")
    path = raw.get("path", "/")
    if host is not None:
        host = _host(host, f"{where}.host", problems)
    if not isinstance(path, str) or not path.startswith("/") or _NOT_NORMAL.search(path):
        problems.append(
            f"{where}.path (YAML only): must be a normalized path prefix such as /v1 (no"
            " %-escapes, '.', '..', '//', '\\', ';', query or spaces)"
        )
        return host, "/"
    if path != "/" and path.endswith("/"):
        problems.append(f"{where}.path (YAML only): write the prefix without a trailing /")
    return host, path


def _host(raw: object, where: str, problems: list[str]) -> str | None:
    """`api.example.com` or `*.example.com`, compared case-insensitively, without a port."""
    text = raw.strip().lower().rstrip(".") if isinstance(raw, str) else ""
    name = text.removeprefix("*.")
    if not _HOST.fullmatch(name):
        problems.append(
            f"{where} (YAML only): must be a host name (api.example.com) or a wildcard"
            " (*.example.com), without scheme or port"
        )
        return None
    return text


def _assertion(raw: object, where: str, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where} (YAML only): must be a mapping of audience and/or claims")
        return {}
    _unknown(raw, ASSERTION_FIELDS, where, problems)
    out: dict[str, Any] = {}
    audience = raw.get("audience")
    if audience is not None:
        if not isinstance(audience, str) or not audience.strip():
            problems.append(f"{where}.audience (YAML only): must be a non-empty string")
        else:
            out["audience"] = audience.strip()
    claims = raw.get("claims")
    if claims is not None:
        names = claims if isinstance(claims, list) else [None]
        wrong = [n for n in names if n not in ASSERTION_CLAIMS and n not in _ALWAYS]
        if wrong:
            problems.append(
                f"{where}.claims (YAML only): a list of {', '.join(ASSERTION_CLAIMS)}"
                " (iss, aud, iat, exp are always there)"
            )
        else:
            out["claims"] = tuple(n for n in ASSERTION_CLAIMS if n in names)
    return out


def _under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it, on a segment boundary, compared case-folded."""
    path, prefix = path.casefold(), prefix.casefold().rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or not prefix
