"""The demo's provider: the real Dex when Go can build it, else the stand-in (npm oidc-provider).

Dex runs as `deploy/values/dex.yaml.gotmpl` configures it: Postgres storage (a private cluster
made with `initdb`, removed on exit; sqlite3 when PostgreSQL is not installed), the static
password users with random passwords hashed now, the sidecars as one confidential client whose
secret holds `: + / % =` and a space, id tokens of 10 minutes, no approval screen. The first run
builds Dex (`scripts/dex_build.py`, a few minutes); later runs reuse the binary.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.dex_build import BUILDS, GoMissing, dex_binary, find_go
from tests.fixtures.dex import ADMIN_EMAIL, ADMIN_USER_ID, DexOptions, DexServer, DexUser
from tests.fixtures.postgres import PostgresCluster, postgres_bindir
from tests.fixtures.provider import USERS, OidcProvider

DEX_VERSION = BUILDS["release"].version


@dataclass
class DemoProvider:
    """What the demo needs of either provider, and what the banner says about it."""

    issuer: str
    client_id: str
    client_secret: str
    description: str
    logins: list[tuple[str, str, tuple[str, ...]]]  # email, password, groups


def dex_users() -> tuple[DexUser, list[DexUser]]:
    """The stand-in's three users, as Dex static passwords with random passwords."""
    made = [
        DexUser(user.email, secrets.token_urlsafe(9), user.preferred_username,
                ADMIN_USER_ID if user.email == ADMIN_EMAIL else _user_id(user.email),
                name=user.name, groups=user.groups, email_verified=user.email_verified)
        for user in USERS
    ]  # fmt: skip
    return made[0], made[1:]


def _user_id(email: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email}"))


def _storage(workdir: Path, cleanup: contextlib.ExitStack) -> tuple[dict[str, Any], str]:
    bindir = postgres_bindir()
    if bindir is None:
        path = workdir / "dex.db"
        return {"type": "sqlite3", "config": {"file": str(path)}}, "sqlite3 (no PostgreSQL here)"
    cluster = PostgresCluster(bindir)
    cleanup.callback(cluster.stop)
    cluster.start()
    config = {"host": cluster.host, "port": cluster.port, "database": cluster.new_database(),
              "user": cluster.user, "password": "unused", "ssl": {"mode": "disable"}}  # fmt: skip
    return {"type": "postgres", "config": config}, f"Postgres on {cluster.host}:{cluster.port}"


def start_dex(
    workdir: Path, port: int, sidecar_ports: list[int], cleanup: contextlib.ExitStack
) -> DemoProvider:
    binary = dex_binary("release")  # prints "building Dex ..., first run only" when it builds
    storage, where = _storage(workdir, cleanup)
    admin, others = dex_users()
    options = DexOptions(storage=storage, skip_approval=True, callback_ports=sidecar_ports,
                         users=others, port=port)  # fmt: skip
    dex = DexServer(binary, workdir / "dex", options)
    dex.workdir.mkdir()
    dex.admin = admin
    cleanup.callback(dex.stop)
    dex.start()
    return DemoProvider(
        issuer=dex.issuer,
        client_id=dex.client_id,
        client_secret=dex.client_secret,
        description=f"Dex {DEX_VERSION} (the real one, built from the Go module proxy); "
        f"storage: {where}",
        logins=[(u.email, u.password, u.groups) for u in (admin, *others)],
    )


def start_standin(workdir: Path, port: int, cleanup: contextlib.ExitStack) -> DemoProvider:
    provider = OidcProvider(workdir)
    provider.port = port
    provider.start()
    cleanup.callback(provider.stop)
    return DemoProvider(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        description="the stand-in, npm oidc-provider (no Go toolchain here to build Dex)",
        logins=[(u.email, u.password, u.groups) for u in USERS],
    )


def start_provider(
    workdir: Path,
    port: int,
    sidecar_ports: list[int],
    cleanup: contextlib.ExitStack,
    choice: str = "auto",
) -> DemoProvider:
    """`auto`: Dex when Go is here, else the stand-in; `dex` or `standin` to insist."""
    if choice == "standin" or (choice == "auto" and find_go() is None):
        return start_standin(workdir, port, cleanup)
    try:
        return start_dex(workdir, port, sidecar_ports, cleanup)
    except GoMissing:
        if choice == "dex":
            raise
        return start_standin(workdir, port, cleanup)
