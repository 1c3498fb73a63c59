"""The `auth-sidecar` command line: serve (the default), `check-config`, `gen-secret`.

A bad configuration ends the process with exit code 2 before anything is bound, one line per
problem on stderr, each naming the key and its env var.
"""

from __future__ import annotations

import argparse
import importlib
import secrets
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

from sidecar.config.routes import shorthand_route
from sidecar.config.settings import ConfigError, PolicyRule, Route, Settings, load_settings
from sidecar.tracing.extra import check_installed

EXIT_CONFIG = 2
REDACTED = "<redacted>"
SECRET_BYTES = 32


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "gen-secret":
        print(secrets.token_urlsafe(SECRET_BYTES))
        return 0
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        try:
            _check_installed(settings)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return EXIT_CONFIG
        sys.stdout.write(yaml.safe_dump(effective_document(settings), sort_keys=False))
        return 0
    if args.command == "sessions":
        return _revoke_sessions(settings, args.sub)
    # Imported only now: nothing of the server is loaded, let alone bound, on a bad config.
    serve: Callable[[Settings], int] = importlib.import_module("sidecar.serve").serve
    try:
        return serve(settings)
    except ConfigError as exc:  # found while building the app, before binding (tracing extra)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG


def _check_installed(settings: Settings) -> None:
    """What serving would refuse before binding, for `check-config` to refuse too."""
    if settings.tracing.enabled:
        check_installed()


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before and after the subcommand; SUPPRESS keeps the subparser's
    # absent option from overwriting one given before it.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="YAML configuration file (default: $SIDECAR_CONFIG); SIDECAR_* env vars win",
    )
    parser = argparse.ArgumentParser(
        prog="auth-sidecar",
        parents=[config],
        description="OIDC auth sidecar for Kong and Dex. Without a command: serve.",
    )
    parser.set_defaults(command="serve")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", parents=[config], help="serve until SIGTERM/SIGINT (default)")
    commands.add_parser(
        "check-config",
        parents=[config],
        help="validate and print the effective settings, secrets redacted",
    )
    commands.add_parser("gen-secret", help="print a fresh random session secret")
    sessions = commands.add_parser("sessions", help="session administration")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    revoke = actions.add_parser(
        "revoke", parents=[config], help="end every session of one subject on every replica"
    )
    revoke.add_argument("--sub", required=True, help="the subject (`sub` claim) whose sessions end")
    return parser


def _revoke_sessions(settings: Settings, sub: str) -> int:
    """`sessions revoke --sub S`: the operator's revoke from a shell, without the HTTP call
    (the incident runbook in docs/reliability.md). Prints `{"ended": N}` (its log lines go to
    stderr); 1 when the store cannot be reached or is the memory store (inside the serving
    process, out of reach), or when the signal could not tell the running replicas."""
    import asyncio
    import json

    from sidecar.errors import StoreUnavailable
    from sidecar.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    if not settings.session.redis_url:
        print(
            "sessions revoke: session.redis_url is not set: use the admin endpoint", file=sys.stderr
        )
        return 1
    try:
        ended, signalled = asyncio.run(_revoke(settings, sub))
    except StoreUnavailable as exc:
        print(f"sessions revoke: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"ended": ended}))
    if not signalled:
        print(
            "sessions revoke: the sessions are deleted, but the signal did not reach the "
            "replicas: their memory copies last up to session.cache_s and their websockets "
            "stay open until re-checked",
            file=sys.stderr,
        )
        return 1
    return 0


async def _revoke(settings: Settings, sub: str) -> tuple[int, bool]:
    """End every session of `sub` as the admin endpoint does: the entries go, and the one
    signal tells every running replica (memory copies dropped, websockets closed)."""
    from sidecar.metrics import Metrics
    from sidecar.sessions.cache import SessionCache
    from sidecar.sessions.directory import SessionDirectory
    from sidecar.sessions.factory import build_events, build_store
    from sidecar.sessions.ticket import Sealer
    from sidecar.sessions.vault import SessionVault

    store, metrics, sealer = (
        build_store(settings.session),
        Metrics(),
        Sealer(settings.session.secrets),
    )
    try:
        timeout_s = settings.session.store_timeout_s
        events = build_events(store, timeout_s, metrics.signal_publish_failed)
        cache = SessionCache(0, events)  # nothing is served here: no memory copies
        issuer = settings.oidc.issuer
        vault = SessionVault(
            store, sealer, settings.session, metrics, issuer=issuer, events=events, cache=cache
        )
        ended = await SessionDirectory(vault, sealer, issuer).end_all(sub)
        failures = metrics.registry.get_sample_value(
            "sidecar_session_signal_publish_failures_total"
        )
        return ended, not failures
    finally:
        await store.close()


def effective_document(settings: Settings) -> dict[str, Any]:
    """The settings as a configuration document, with every secret replaced by `<redacted>`.
    Secret lists keep their length, so a rotation is visible without its keys."""
    oidc, session, assertion = settings.oidc, settings.session, settings.assertion
    document: dict[str, Any] = {
        "oidc": {
            "issuer": oidc.issuer,
            "client_id": oidc.client_id,
            "client_secret": REDACTED,
            "scopes": " ".join(oidc.scopes),
            "audiences": list(oidc.audiences),
            "algorithms": list(oidc.algorithms),
            "leeway_s": oidc.leeway_s,
            "http_timeout_s": oidc.http_timeout_s,
            "end_session": oidc.end_session,
            "userinfo": oidc.userinfo,
        },
        "public_url": settings.public_url,
        "listen": str(settings.listen),
        "admin_listen": str(settings.admin_listen),
        "upstream": settings.upstream,
        "trusted_proxies": [str(network) for network in settings.trusted_proxies],
        "session": {
            "secret": [REDACTED] * len(session.secrets),
            "redis_url": redact_url(session.redis_url) if session.redis_url else None,
            "redis_cluster": session.redis_cluster,
            "cookie_name": session.cookie_name,
            "cookie_secure": session.cookie_secure,
            "idle_ttl_s": session.idle_ttl_s,
            "absolute_ttl_s": session.absolute_ttl_s,
            "refresh_margin_s": session.refresh_margin_s,
            "store_timeout_s": session.store_timeout_s,
            "cache_s": session.cache_s,
            "min_replicas": session.min_replicas,
            "replica_wait_ms": session.replica_wait_ms,
        },
        "assertion": {
            # null: no key configured, the server makes an ephemeral one.
            "signing_key": [REDACTED] * len(assertion.signing_keys_pem) or None,
            "audience": assertion.audience,
            "ttl_s": assertion.ttl_s,
        },
        "headers": {"forward_token": settings.forward_token},
        "log": {"level": settings.log_level, "format": settings.log_format},
        "shutdown_grace_s": settings.shutdown_grace_s,
        "workers": settings.workers,
        "upstream_connect_timeout_s": settings.upstream_connect_timeout_s,
        "upstream_timeout_s": settings.upstream_timeout_s,
        "upstream_max_connections": settings.upstream_max_connections,
        "policy": [_policy_entry(rule) for rule in settings.policy],
        "token_exchange": {
            "audiences": ",".join(settings.token_exchange.audiences) or None,
            "allowed_peers": ",".join(str(n) for n in settings.token_exchange.allowed_peers),
            "ttl_s": settings.token_exchange.ttl_s,
        },
        "trusted_issuers": [
            {"issuer": trusted.issuer, "jwks_url": trusted.jwks_url}
            for trusted in settings.trusted_issuers
        ],
        "tracing": {"enabled": settings.tracing.enabled},
        "admin": {"token": REDACTED if settings.admin_token else None},
    }
    shorthand = shorthand_route(settings.upstream, settings.policy, assertion.audience)
    if settings.routes != (shorthand,):  # the route table form: never mixed with the shorthand
        del document["upstream"], document["policy"], document["assertion"]["audience"]
        document["routes"] = [_route_entry(route) for route in settings.routes]
    return document


def _route_entry(route: Route) -> dict[str, Any]:
    match = {"host": route.host, "path": route.path} if route.host else {"path": route.path}
    return {
        "match": match,
        "upstream": route.upstream,
        "strip_prefix": route.strip_prefix,
        "assertion": {"audience": route.assertion.audience, "claims": list(route.assertion.claims)},
        "policy": [_policy_entry(rule) for rule in route.policy],
    }


def _policy_entry(rule: PolicyRule) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": rule.path}
    if rule.methods:
        entry["methods"] = sorted(rule.methods)
    if rule.access != "restricted":
        return {**entry, "allow": rule.access}
    for name in ("groups", "emails", "email_domains", "actors"):
        if values := getattr(rule, name):
            entry[name] = sorted(values)
    if rule.claims:
        entry["claims"] = {name: sorted(values) for name, values in rule.claims}
    return entry


def redact_url(url: str) -> str:
    """Replace the password of `user:password@host` and any `password=` query value."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = f"{userinfo.partition(':')[0]}:{REDACTED}"
    query = urlencode(
        [
            (name, REDACTED if "password" in name.lower() else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="<>",
    )
    netloc = f"{userinfo}{at}{hosts}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
