"""The `policy` rules (YAML only): `{path, allow: public|authenticated}` or a restricted rule.

Each rule is checked field by field; every problem is collected into the loader's list, named
by its place in the YAML (`policy[2].groups`), since these keys have no env var.
"""

from __future__ import annotations

from typing import Any

from sidecar.config.model import Access, PolicyRule


def parse_policy(raw: object, problems: list[str]) -> tuple[PolicyRule, ...]:
    """`policy` (YAML only): `{path, allow: public|authenticated}` or `{path, groups, emails,
    email_domains}` (restricted: any one match suffices). Without a `/` rule nothing is added:
    the policy module's default is `authenticated`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("policy (YAML only): must be a list of {path, ...} entries")
        return ()
    rules: list[PolicyRule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        problems_before = len(problems)
        rule = _policy_rule(entry, f"policy[{index}]", problems)
        if rule is None or len(problems) > problems_before:
            continue
        if rule.path in seen:
            problems.append(
                f"policy[{index}].path (YAML only): duplicate of policy[{seen[rule.path]}]"
            )
        seen.setdefault(rule.path, index)
        rules.append(rule)
    return tuple(rules)


POLICY_FIELDS = ("path", "allow", "groups", "emails", "email_domains")
_POLICY_LISTS = ("groups", "emails", "email_domains")


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
    lists = {name: _policy_list(entry, name, where, problems) for name in _POLICY_LISTS}
    allow = entry.get("allow")
    restricted = any(entry.get(name) is not None for name in _POLICY_LISTS)
    if allow is not None and restricted:
        problems.append(f"{where} (YAML only): allow excludes {', '.join(_POLICY_LISTS)}")
    elif allow is None and not restricted:
        problems.append(
            f"{where} (YAML only): needs allow: public|authenticated, or groups, emails or"
            " email_domains"
        )
    elif allow not in (None, "public", "authenticated"):
        problems.append(f"{where}.allow (YAML only): must be public or authenticated")
    access: Access = (
        "restricted" if allow is None else "public" if allow == "public" else "authenticated"
    )
    return PolicyRule(str(path), access, lists["groups"], lists["emails"], lists["email_domains"])


def _policy_list(
    entry: dict[Any, Any], name: str, where: str, problems: list[str]
) -> frozenset[str]:
    value = entry.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}.{name} (YAML only): must be a list of non-empty strings")
        return frozenset()
    items = [v.strip() for v in value]
    if name == "emails" and not all("@" in v for v in items):
        problems.append(f"{where}.emails (YAML only): each must be an email address")
    if name == "email_domains" and any("@" in v for v in items):
        problems.append(f"{where}.email_domains (YAML only): domains only, without @")
    # Groups are case-sensitive names; email addresses and domains are compared lowercased.
    return frozenset(items if name == "groups" else (v.lower() for v in items))
