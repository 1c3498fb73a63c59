"""The `policy` rules (YAML only): `{path, allow: public|authenticated}` or a restricted rule.

Each rule is checked field by field; every problem is collected into the loader's list, named
by its place in the YAML (`policy[2].groups`, `routes[1].policy[0].claims`), since these keys
have no env var.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from sidecar.config import parse
from sidecar.config.model import Access, PolicyRule
from sidecar.errors import BadRequest
from sidecar.paths import normalize_path

POLICY_FIELDS = (
    "path",
    "allow",
    "methods",
    "groups",
    "emails",
    "email_domains",
    "claims",
    "actors",
)
_POLICY_LISTS = ("groups", "emails", "email_domains")
# Any of these makes a rule restricted; `allow` excludes them all.
_CONDITIONS = (*_POLICY_LISTS, "claims", "actors")
# RFC 9110 section 9.1: a method is a token; by convention (and here, by rule) uppercase.
_METHOD = re.compile(r"[A-Z]+")


def parse_policy(raw: object, problems: list[str], where: str = "policy") -> tuple[PolicyRule, ...]:
    """`policy` (YAML only): `{path, allow: public|authenticated}` or `{path, groups, emails,
    email_domains, claims, actors}` (restricted), each optionally limited to `methods`.
    Without a `/` rule nothing is added: the policy module's default is `authenticated`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where} (YAML only): must be a list of {{path, ...}} entries")
        return ()
    rules: list[PolicyRule] = []
    seen: list[tuple[PolicyRule, int]] = []
    for index, entry in enumerate(raw):
        problems_before = len(problems)
        rule = _policy_rule(entry, f"{where}[{index}]", problems)
        if rule is None or len(problems) > problems_before:
            continue
        for other, other_index in seen:
            if _overlaps(rule, other):
                problems.append(
                    f"{where}[{index}].path (YAML only): duplicate of {where}[{other_index}]"
                    " (same path and methods; a rule listing GET covers HEAD)"
                )
                break
        seen.append((rule, index))
        rules.append(rule)
    return tuple(rules)


def _overlaps(rule: PolicyRule, other: PolicyRule) -> bool:
    """Two rules on one path can both apply to a request unless their methods are disjoint
    (a rule without methods and one with them do not clash: the one naming the method wins)."""
    if rule.path != other.path or bool(rule.methods) != bool(other.methods):
        return False
    return not rule.methods or not rule.methods.isdisjoint(other.methods)


def _policy_rule(entry: object, where: str, problems: list[str]) -> PolicyRule | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} (YAML only): must be a mapping with a path")
        return None
    for name in entry:
        if name not in POLICY_FIELDS:
            problems.append(
                f"{where}.{name} (YAML only): unknown field; use {', '.join(POLICY_FIELDS)}"
            )
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/") or not path.isprintable():
        problems.append(f"{where}.path (YAML only): must be a path starting with /")
    elif "?" in path or "#" in path or " " in path:
        problems.append(f"{where}.path (YAML only): a path only, no query, fragment or space")
    elif not _normalizable(path):
        problems.append(
            f"{where}.path (YAML only): no request can match it: a control character or a"
            " double encoding (%25, %252e, ...) that request paths are refused for"
        )
    lists = {name: _policy_list(entry, name, where, problems) for name in _POLICY_LISTS}
    allow = entry.get("allow")
    restricted = any(entry.get(name) is not None for name in _CONDITIONS)
    if allow is not None and restricted:
        problems.append(f"{where} (YAML only): allow excludes {', '.join(_CONDITIONS)}")
    elif allow is None and not restricted:
        problems.append(
            f"{where} (YAML only): needs allow: public|authenticated, or one of"
            f" {', '.join(_CONDITIONS)}"
        )
    elif allow not in (None, "public", "authenticated"):
        problems.append(f"{where}.allow (YAML only): must be public or authenticated")
    access: Access = (
        "restricted" if allow is None else "public" if allow == "public" else "authenticated"
    )
    return PolicyRule(
        str(path),
        access,
        lists["groups"],
        lists["emails"],
        lists["email_domains"],
        methods=_methods(entry.get("methods"), where, problems),
        claims=_claims(entry.get("claims"), where, problems),
        actors=_actors(entry.get("actors"), where, problems),
    )


def _normalizable(path: str) -> bool:
    """Rule paths are compared in the requests' normalized form (`sidecar.paths`)."""
    try:
        normalize_path(path)
    except BadRequest:
        return False
    return True


def _policy_list(
    entry: dict[Any, Any], name: str, where: str, problems: list[str]
) -> frozenset[str]:
    value = entry.get(name)
    if value is None:
        return frozenset()
    if not _is_string_list(value):
        problems.append(f"{where}.{name} (YAML only): must be a list of non-empty strings")
        return frozenset()
    items = [v.strip() for v in value]
    if name == "emails" and not all("@" in v for v in items):
        problems.append(f"{where}.emails (YAML only): each must be an email address")
    if name == "email_domains" and any("@" in v for v in items):
        problems.append(f"{where}.email_domains (YAML only): domains only, without @")
    # Groups are case-sensitive names; email addresses and domains are compared lowercased.
    return frozenset(items if name == "groups" else (v.lower() for v in items))


def _is_string_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _methods(value: object, where: str, problems: list[str]) -> frozenset[str]:
    """The rule's methods; one that lists GET also covers HEAD (RFC 9110 section 9.3.2: HEAD
    is GET without the content, the same headers and lengths), so a restricted GET is never
    readable by HEAD through the next rule. Done here, once, so the effective settings show
    it and a separate HEAD rule on the same path is named as a duplicate."""
    if value is None:
        return frozenset()
    methods = frozenset(v.strip().upper() for v in value) if _is_string_list(value) else None
    if not methods or not all(_METHOD.fullmatch(method) for method in methods):
        problems.append(f"{where}.methods (YAML only): must be a list of HTTP methods (GET, ...)")
        return frozenset()
    return methods | {"HEAD"} if "GET" in methods else methods


def claim_text(value: object) -> str | None:
    """A claim value in the one form rules compare: strings as they are, booleans as JSON
    writes them (`true`), integers in decimal; anything else (objects, floats, null) never
    matches."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _claims(
    value: object, where: str, problems: list[str]
) -> tuple[tuple[str, frozenset[str]], ...]:
    """`claims: {claim: [values]}`: every claim must hold one of its values."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        problems.append(f"{where}.claims (YAML only): must be a mapping of claim: [values]")
        return ()
    checked: list[tuple[str, frozenset[str]]] = []
    for claim, values in value.items():
        texts = [claim_text(v) for v in values] if isinstance(values, list) else []
        if not isinstance(claim, str) or not claim.strip():
            problems.append(f"{where}.claims (YAML only): claim names must be non-empty strings")
        elif not texts or any(text is None for text in texts):
            problems.append(
                f"{where}.claims.{claim} (YAML only): must be a non-empty list of strings,"
                " whole numbers or booleans"
            )
        else:
            checked.append((claim, frozenset(t for t in texts if t is not None)))
    return tuple(sorted(checked, key=lambda item: item[0]))


def _actors(value: object, where: str, problems: list[str]) -> frozenset[str]:
    """`actors: [URL]`: the `public_url`s of the services a request may come through."""
    if value is None:
        return frozenset()
    if not _is_string_list(value) or not value:
        problems.append(f"{where}.actors (YAML only): must be a list of service URLs")
        return frozenset()
    actors = set()
    for item in value:
        try:
            actors.add(parse.to_http_url(item).rstrip("/"))
        except ValueError as exc:
            problems.append(f"{where}.actors (YAML only): {exc}")
    return frozenset(actors)
