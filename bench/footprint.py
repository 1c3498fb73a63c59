"""Footprint of every server: RSS idle, RSS after 10,000 distinct credentials, time to ready.

- RSS is the sum over the server's process tree (the sidecar and its workers; nginx master
  and worker; Apache parent and child), read with psutil. Pages shared between a parent and
  its children are counted in each, as `ps` would.
- Distinct credentials: 10,000 id tokens with the claims of the run's real token (same
  issuer, audience, subject and lifetime), each with its own `nonce`, signed with the
  provider's own signing key (read from its state directory): what 10,000 users' tokens
  would be to a verifier, without 10,000 logins. Each is sent once to the target's bearer
  path (or, for a server that checks no token, to its passthrough path), so whatever a
  server keeps per token (a verified-token cache, Envoy's `jwt_cache_config`) is full.
- Ready: from the spawn to the first answer (the sidecar's `/readyz`, oauth2-proxy's `/ping`,
  Envoy's admin `/ready`, a TCP accept for nginx and Apache).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DISTINCT = int(os.environ.get("BENCH_DISTINCT", "10000"))  # a smaller figure for a trial


@dataclass
class Footprint:
    ready_s: float
    ready_cpu_s: float
    idle_mb: float
    after_mb: float = 0.0
    credential: str = ""  # what the 10,000 were: "tokens" or "requests" (unauthenticated)


def rss_mb(pid: int) -> float:
    parent = psutil.Process(pid)
    total = 0
    for process in (parent, *parent.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / 2**20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _private_key(jwk: dict[str, str]) -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
    p, q, d, dmp1, dmq1, iqmp = (_int(jwk[k]) for k in ("p", "q", "d", "dp", "dq", "qi"))
    numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public)
    return numbers.private_key()


def mint_tokens(state_dir: Path, template: str, count: int = DISTINCT) -> list[str]:
    """`count` tokens with `template`'s header and claims, each with its own nonce."""
    jwk = json.loads((state_dir / "keys.json").read_text())["signing"][0]
    key = _private_key(jwk)
    head_b64, claims_b64, _ = template.split(".")
    header = json.loads(base64.urlsafe_b64decode(head_b64 + "=" * (-len(head_b64) % 4)))
    if header.get("kid") != jwk["kid"]:
        raise RuntimeError("the provider signs with another key than keys.json's first")
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    tokens = []
    for _ in range(count):
        body = _b64(json.dumps({**claims, "nonce": secrets.token_urlsafe(16)}).encode())
        signing_input = f"{head_b64}.{body}".encode()
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        tokens.append(f"{signing_input.decode()}.{_b64(signature)}")
    return tokens


async def _send(url: str, tokens: Iterable[str], concurrency: int = 16) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue = list(tokens)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def worker() -> None:
            while queue:
                headers = {"Authorization": f"Bearer {queue.pop()}"}
                async with http.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def fill(url: str, tokens: list[str]) -> None:
    """Each token once to `url`; every answer must be a 200 (a refusal fills nothing)."""
    statuses = asyncio.run(_send(url, tokens))
    if set(statuses) != {200}:
        raise RuntimeError(f"{url}: distinct tokens answered {dict(statuses)}")


def table(rows: dict[str, Footprint]) -> str:
    lines = [
        f"Footprint: RSS of the process tree (MB) idle and after {DISTINCT:,} distinct "
        "tokens (or requests), time from spawn to ready and the CPU spent by then:",
        f"  {'server':<34}{'ready s':>9}{'CPU s':>7}{'RSS idle':>10}{'RSS after':>11}  after",
    ]
    for name, f in rows.items():
        lines.append(
            f"  {name:<34}{f.ready_s:9.2f}{f.ready_cpu_s:7.2f}{f.idle_mb:10.1f}"
            f"{f.after_mb:11.1f}  {f.credential}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Server:
    name: str
    pid: int
    ready_s: float
    ready_cpu_s: float
    fill_url: str  # where the distinct tokens go
    credential: str  # what they are to this server


def idle(servers: list[Server]) -> dict[str, Footprint]:
    """Taken after the start and the one checked request per target, before any load."""
    return {
        s.name: Footprint(s.ready_s, s.ready_cpu_s, rss_mb(s.pid), credential=s.credential)
        for s in servers
    }


def after_distinct(servers: list[Server], rows: dict[str, Footprint], tokens: list[str]) -> None:
    for server in servers:
        fill(server.fill_url, tokens)
        rows[server.name].after_mb = rss_mb(server.pid)
