"""`docs/dashboard.png`: the Grafana dashboard's panels drawn from a real sidecar under load.

Grafana and Prometheus do not install here, so this is a stand-in, and the picture says so: it
starts the real stack (the test OpenID provider, Redis, the benchmark upstream, the sidecar as
`python -m sidecar`), drives a mix of traffic (bearer, sessions that refresh, anonymous API and
browser calls, forbidden paths, forged tokens, a key rotation, a Redis outage), scrapes the
sidecar's `/metrics` every few seconds, evaluates each panel's own PromQL from
`charts/auth-sidecar/dashboards/auth-sidecar.json` (`scripts/dashboard_promql.py`), lays the
panels out on Grafana's 24-column grid as SVG, and screenshots the page with Debian's chromium.

    .venv/bin/python -m scripts.dashboard_screenshot [--seconds 120] [--out docs/dashboard.png]
    .venv/bin/python -m scripts.dashboard_screenshot --from docs/dashboard.scrapes.json

The scrapes are kept beside the picture (`docs/dashboard.scrapes.json`) to redraw it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench import credentials, stack
from scripts.dashboard_page import page
from scripts.dashboard_promql import Evaluator, Scrape
from tests.fixtures.procs import stop_process
from tests.fixtures.provider import OidcProvider

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "charts" / "auth-sidecar" / "dashboards" / "auth-sidecar.json"
SCRAPE_EVERY_S = 3.0
RATE_INTERVAL_S = 15.0
USER, ADMIN = "user@example.com", credentials.USER


async def scrape(http: aiohttp.ClientSession, admin_url: str, t: float) -> Scrape:
    async with http.get(admin_url + "/metrics") as response:
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(t, samples)


async def traffic(sidecar_url: str, kinds: list[tuple[str, dict[str, str]]], stop: float) -> None:
    """One client: requests of the given kinds, picked at random, until `stop`."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        while time.monotonic() < stop:
            path, headers = random.choice(kinds)  # noqa: S311 (a traffic mix, not a secret)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(
                    sidecar_url + path, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
            await asyncio.sleep(random.uniform(0, 0.01))  # noqa: S311


async def run(workdir: Path, seconds: float, out: Path) -> None:
    provider = OidcProvider(workdir, id_token_ttl_s=3600)
    provider.start()
    procs = []
    try:
        redis, redis_url = stack.start_redis(workdir)
        procs.append(redis)
        upstream, upstream_url = stack.start_upstream(workdir)
        procs.append(upstream)
        variant = stack.Variant("dashboard")
        config = stack.sidecar_config(
            provider, upstream_url, redis_url, variant, stack.signing_key_pem()
        )
        config["session"]["refresh_margin_s"] = 3590  # sessions refresh every few seconds
        provider.set_jwks_max_age(60)
        sidecar = stack.start_sidecar(workdir, config, variant)
        try:
            scrapes = await drive(provider, sidecar.url, sidecar.admin_url, redis, seconds)
        finally:
            stack.stop_sidecar(sidecar)
    finally:
        for proc in procs:
            stop_process(proc)
        provider.stop()
    save_scrapes(scrapes, out.with_suffix(".scrapes.json"))
    await render(workdir, scrapes, out)


async def render(workdir: Path, scrapes: list[Scrape], out: Path) -> None:
    board = json.loads(DASHBOARD.read_text())
    html = page(board, Evaluator(scrapes, RATE_INTERVAL_S), scrapes, RATE_INTERVAL_S)
    (workdir / "dashboard.html").write_text(html)
    await screenshot(workdir / "dashboard.html", out)
    print(f"wrote {out} from {len(scrapes)} scrapes over {scrapes[-1].t - scrapes[0].t:.0f} s")


def save_scrapes(scrapes: list[Scrape], path: Path) -> None:
    """The raw scrapes next to the picture, so that it can be redrawn (`--from`) and checked."""
    rows = [
        {"t": s.t, "samples": [[n, dict(labels), v] for (n, labels), v in s.samples.items()]}
        for s in scrapes
    ]
    path.write_text(json.dumps(rows, separators=(",", ":")) + "\n")


def load_scrapes(path: Path) -> list[Scrape]:
    rows = json.loads(path.read_text())
    return [
        Scrape(r["t"], {(n, frozenset(labels.items())): v for n, labels, v in r["samples"]})
        for r in rows
    ]


async def drive(
    provider: OidcProvider, url: str, admin_url: str, redis: Any, seconds: float
) -> list[Scrape]:
    bearer = (await credentials.bearer(provider)).token
    user_bearer = (await provider.login(USER, "password")).id_token
    provider.set_id_token_ttl(3600 + 5)  # inside the refresh margin within seconds
    cookies = [await credentials.session_cookie(provider, url) for _ in range(4)]
    forged = bearer[:-8] + ("A" * 8 if not bearer.endswith("A" * 8) else "B" * 8)
    kinds = [
        ("/api/items", {"Authorization": f"Bearer {bearer}"}),
        ("/api/items", {"Authorization": f"Bearer {bearer}"}),
        ("/admin/report", {"Authorization": f"Bearer {user_bearer}"}),  # 403
        ("/api/items", {}),  # 401
        ("/app/page", {"Accept": "text/html"}),  # 302 to the login
        ("/public/logo.png", {}),
        ("/api/items", {"Authorization": f"Bearer {forged}"}),  # invalid_token
        *[("/api/items", {"Cookie": cookie}) for cookie in cookies],
    ]
    started = time.monotonic()
    stop = started + seconds
    clients = [asyncio.create_task(traffic(url, kinds, stop)) for _ in range(4)]
    scrapes: list[Scrape] = []
    events = iter([(0.35, "rotate"), (0.55, "redis_down"), (0.65, "redis_up")])
    event = next(events)
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < stop:
            elapsed = time.monotonic() - started
            if event and elapsed >= event[0] * seconds:
                await asyncio.to_thread(happen, event[1], provider, redis)
                event = next(events, None)
            scrapes.append(await scrape(http, admin_url, elapsed))
            await asyncio.sleep(SCRAPE_EVERY_S)
    await asyncio.gather(*clients)
    return scrapes


def happen(what: str, provider: OidcProvider, redis: Any) -> None:
    """Mid-run events whose traces the panels should show."""
    if what == "rotate":  # a new signing key: the next new token's kid is unknown -> refetch
        provider.rotate_keys()
    elif what == "redis_down":  # store errors and 503s until it is back
        redis.send_signal(19)  # SIGSTOP: Redis hangs, calls time out
    elif what == "redis_up":
        redis.send_signal(18)  # SIGCONT


async def screenshot(html: Path, out: Path) -> None:
    from playwright.async_api import async_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        view = await browser.new_page(viewport={"width": 1600, "height": 900})
        await view.goto(html.as_uri())
        await view.screenshot(path=str(out), full_page=True)
        await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dashboard_screenshot")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    parser.add_argument("--from", dest="source", type=Path, help="redraw from saved scrapes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dashboard-") as tmp:
        if args.source is not None:
            asyncio.run(render(Path(tmp), load_scrapes(args.source), args.out))
        else:
            asyncio.run(run(Path(tmp), args.seconds, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
