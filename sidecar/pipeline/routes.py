"""Route selection (CONTRACT "Access policy", the route table).

A request picks the route with the most specific host (exact, then the longest `*.suffix`
wildcard, then a route without host), then the longest path prefix of the normalized path, on
a segment boundary (`/v1` covers `/v1` and `/v1/x`, not `/v10`). The path is the one
`normalize_path` made (decoded once, dot-segments resolved, `//` and `\\` folded), so dot
segments, `%2e` and `%2f` cannot carry a request into another route than the one its
upstream will serve.

Case and `;parameters` are the remaining readings an upstream may differ on (`/V1` is `/v1`
to Express and IIS, `/v1;x` is `/v1` to Tomcat). A path is matched both ways: literally and
case-folded without parameters. When the two readings pick two different routes the request
is refused (400) rather than guessed, so no reading can move it into a more permissive route.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.config.settings import PolicyRule, Route
from sidecar.errors import BadRequest, NotFound
from sidecar.paths import normalize_path
from sidecar.pipeline.policy import Policy, match_key, segment_prefixes

# Decisions remembered per table (see `RouteTable.decide`), and the longest input remembered:
# a bound on memory (at most ~2 MB per cache) that most request paths fall under.
DECISION_CACHE_SIZE = 4096
CACHED_INPUT_MAX = 256


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route with its policy indexed once, at start-up."""

    route: Route
    policy: Policy


class _PathIndex:
    """The routes of one host tier, by path: literally and in the lenient match form."""

    def __init__(self) -> None:
        self.by_literal: dict[str, CompiledRoute] = {}
        self.by_key: dict[str, CompiledRoute] = {}

    def add(self, compiled: CompiledRoute) -> None:
        self.by_literal[compiled.route.path] = compiled
        self.by_key[match_key(compiled.route.path)] = compiled

    @staticmethod
    def longest(index: dict[str, CompiledRoute], path: str) -> CompiledRoute | None:
        for candidate in segment_prefixes(path):
            found = index.get(candidate)
            if found is not None:
                return found
        return None


class RouteTable:
    """`Settings.routes`, indexed by host tier then path."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[str, _PathIndex] = {}
        self._wildcard: dict[str, _PathIndex] = {}  # ".example.com" for "*.example.com"
        self._any = _PathIndex()
        for route in routes:
            compiled = CompiledRoute(route, Policy(route.policy))
            self._tier(route.host).add(compiled)
        # Pure functions of their arguments and of this (immutable) table, so remembering
        # them is safe; errors are not remembered (lru_cache does not keep exceptions).
        self._normalize = functools.lru_cache(maxsize=DECISION_CACHE_SIZE)(normalize_path)
        self._decide = functools.lru_cache(maxsize=DECISION_CACHE_SIZE)(self._decide_uncached)

    def normalize(self, raw_path: str) -> str:
        """`normalize_path(raw_path)`, remembered for short inputs (a busy path costs a dict
        lookup instead of a decode and a resolution of its segments)."""
        if len(raw_path) > CACHED_INPUT_MAX:
            return normalize_path(raw_path)
        return self._normalize(raw_path)

    def decide(self, host: str | None, path: str, method: str) -> tuple[Route, PolicyRule]:
        """The route for `host` (a `Host` or `X-Forwarded-Host` value as received) and `path`
        (from `normalize`), and its policy's rule for `method`; remembered for short inputs.
        Raises as `select` does."""
        if len(path) > CACHED_INPUT_MAX or (host is not None and len(host) > CACHED_INPUT_MAX):
            return self._decide_uncached(host, path, method)
        return self._decide(host, path, method)

    def _decide_uncached(
        self, host: str | None, path: str, method: str
    ) -> tuple[Route, PolicyRule]:
        compiled = self.select(request_host(host), path)
        return compiled.route, compiled.policy.rule_for(path, method)

    def _tier(self, host: str | None) -> _PathIndex:
        if host is None:
            return self._any
        if host.startswith("*."):
            return self._wildcard.setdefault(host[1:], _PathIndex())
        return self._exact.setdefault(host, _PathIndex())

    def select(self, host: str | None, path: str) -> CompiledRoute:
        """The route for `host` (from `request_host`) and `path` (from `normalize_path`).

        Raises NotFound when no route matches, BadRequest when the literal and the lenient
        reading of the path pick different routes.
        """
        tiers = self._tiers(host)
        lenient = _first(tiers, match_key(path), literal=False)
        if lenient is None:
            raise NotFound()
        # Folding only widens a match, so a literal match is also a lenient one; a different
        # one (a longer prefix, or a more specific host) means the path reads as two routes.
        literal = _first(tiers, path, literal=True)
        if literal is not None and literal is not lenient:
            raise BadRequest("path matches two routes")
        return lenient

    def _tiers(self, host: str | None) -> list[_PathIndex]:
        tiers = []
        if host is not None:
            if host in self._exact:
                tiers.append(self._exact[host])
            # "a.b.example.com": ".b.example.com", then ".example.com", then ".com".
            dot = host.find(".")
            while dot != -1:
                tier = self._wildcard.get(host[dot:])
                if tier is not None:
                    tiers.append(tier)
                dot = host.find(".", dot + 1)
        tiers.append(self._any)
        return tiers


def _first(tiers: list[_PathIndex], path: str, *, literal: bool) -> CompiledRoute | None:
    for tier in tiers:
        found = _PathIndex.longest(tier.by_literal if literal else tier.by_key, path)
        if found is not None:
            return found
    return None


def request_host(value: str | None) -> str | None:
    """The host name of a `Host` / `X-Forwarded-Host` value, as routes compare it: the first
    of a comma-separated list, lowercased, without port or trailing dot (RFC 9110 section
    7.2; `example.com.` is `example.com`). None when empty."""
    if not value:
        return None
    host = value.split(",", 1)[0].strip().lower()
    if host.startswith("["):  # an IPv6 literal: never a route host, kept for the 404
        return host.partition("]")[0] + "]"
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name
    return host.rstrip(".") or None


def upstream_path(route: Route, path: str) -> str:
    """The path the upstream gets: `path` itself, or with `strip_prefix` the route's path
    segments removed (`/v1/x` -> `/x`, `/v1` -> `/`), counted by segment so that a case or
    `;parameter` reading of the prefix is stripped as well."""
    if not route.strip_prefix or route.path == "/":
        return path
    depth = route.path.count("/")
    return "/" + "/".join(path.split("/")[depth + 1 :])
