"""Access policy: path normalization and longest-prefix rules (CONTRACT "Access policy").

The policy decides on one canonical form of the path, built by `normalize_path`
(`sidecar/paths.py`), and never on the query, the fragment or a client-supplied
`X-Forwarded-Uri`. On top of that form, matching ignores matrix parameters and case for
restrictive rules (`match_key`), and grants a public rule only on a literal match: leniency
may only restrict.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.config.rules import claim_text
from sidecar.config.settings import PolicyRule
from sidecar.paths import normalize_path
from sidecar.tokens.identity import Identity

__all__ = ["DEFAULT_RULE", "Policy", "claim_holds", "match_key", "normalize_path"]

DEFAULT_RULE = PolicyRule("/", "authenticated")


def match_key(path: str) -> str:
    """The form both rule paths and request paths are compared in.

    Matrix parameters are dropped from every segment (`/admin;x` is `/admin` to Tomcat and
    Spring) and case is folded (Express and IIS route case-insensitively). That makes a
    restricted rule catch every reading of its path; a *public* rule is only granted when the
    literal path matches it too (see `Policy.rule_for`), so that `/PUBLIC/x` or `/public;x`
    never opens what a case-sensitive, ';'-literal upstream serves outside `/public`.
    """
    return "/".join(segment.split(";", 1)[0] for segment in path.split("/")).casefold()


class Policy:
    """The configured rules, indexed for longest-prefix lookup on segment boundaries."""

    def __init__(self, rules: Sequence[PolicyRule]) -> None:
        self._by_key: dict[str, list[PolicyRule]] = {}
        self._by_literal: dict[str, list[PolicyRule]] = {}
        # Rules naming methods come first at their path, so that they win over the rule
        # without methods; otherwise config order (the first of two colliding keys wins).
        for rule in sorted(rules, key=lambda rule: not rule.methods):
            self._by_key.setdefault(match_key(normalize_path(rule.path)), []).append(rule)
            self._by_literal.setdefault(normalize_path(rule.path), []).append(rule)

    def rule_for(self, path: str, method: str) -> PolicyRule:
        """The rule with the longest path that is a prefix of `path` on a segment boundary
        and that applies to `method` (a rule with `methods` lets the others fall through to
        the next longest prefix).

        `path` must come from `normalize_path`. A rule `/admin` covers `/admin` and `/admin/x`
        but not `/administrator`; a rule `/docs/` covers its subtree but not `/docs`. Nothing
        matching gives the default: authenticated. Leniency may only restrict: a rule matched
        through case folding or dropped ';' parameters is used unless it is public, in which
        case the path must reach a public rule literally as well.
        """
        rule = _longest_prefix(self._by_key, match_key(path), method)
        if rule.access != "public":
            return rule
        return _longest_prefix(self._by_literal, path, method)

    @staticmethod
    def permits(rule: PolicyRule, identity: Identity | None) -> bool:
        """Whether `identity` (None: anonymous) may pass `rule`.

        `restricted` needs every condition the rule names: any listed group (exact), email
        (case-insensitive, RFC 5321 section 2.4 in practice) or email domain (the exact domain
        after the last '@', so `evilexample.com` is not `example.com`); every `claims` entry;
        an actor among `actors`. Email rules read only `Identity.email`, which is set only when
        `email_verified` is true: an unverified address proves nothing about its owner.
        """
        if rule.access == "public":
            return True
        if identity is None:
            return False
        if rule.access == "authenticated":
            return True
        listed = bool(rule.groups or rule.emails or rule.email_domains)
        if not (listed or rule.claims or rule.actors):
            return False  # a restricted rule naming nobody (`groups: []`) fails closed
        if listed and not _any_listed(rule, identity):
            return False
        if rule.actors and identity.actor not in rule.actors:
            return False
        return all(claim_holds(identity, name, values) for name, values in rule.claims)


def _any_listed(rule: PolicyRule, identity: Identity) -> bool:
    if not rule.groups.isdisjoint(identity.groups):
        return True
    if identity.email is None:
        return False
    email = identity.email.casefold()
    if email in {e.casefold() for e in rule.emails}:
        return True
    local, at, domain = email.rpartition("@")
    if not (local and at):
        return False
    return domain in {d.removeprefix("@").casefold() for d in rule.email_domains}


def claim_holds(identity: Identity, name: str, accepted: frozenset[str]) -> bool:
    """`claims: {name: [values]}`: the verified token's claim equals one of `accepted`, or,
    for a list claim (`groups`), contains one. `email` is read from `Identity.email` only,
    so an unverified address never satisfies a rule."""
    value = identity.email if name == "email" else identity.claims.get(name)
    items = value if isinstance(value, list | tuple) else [value]
    return any(claim_text(item) in accepted for item in items)


def _longest_prefix(index: dict[str, list[PolicyRule]], key: str, method: str) -> PolicyRule:
    for candidate in segment_prefixes(key):
        for rule in index.get(candidate, ()):
            if not rule.methods or method in rule.methods:
                return rule
    return DEFAULT_RULE


def segment_prefixes(key: str) -> list[str]:
    """`key`, then each segment-boundary prefix, longest first: with and without the '/'."""
    candidates = [key]
    for index in range(len(key) - 1, -1, -1):
        if key[index] != "/":
            continue
        with_slash, without = key[: index + 1], key[:index]
        if with_slash != candidates[-1]:
            candidates.append(with_slash)
        if without:
            candidates.append(without)
    return candidates
