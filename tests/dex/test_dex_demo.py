"""`make demo` runs the real Dex: the banner says so, a login at Dex's own page lands on the
who-am-I page with a verified assertion and the second service's answer, and Ctrl-C leaves no
process behind (Dex and its Postgres included)."""

from __future__ import annotations

import queue
import re
import signal

import aiohttp
import pytest

from tests.fixtures.dex_pages import Credentials, browse
from tests.test_demo import STARTUP_TIMEOUT_S, Demo

pytestmark = pytest.mark.dex
LOGIN_LINE = re.compile(r"^\s*Log in as:\s+(\S+) / (\S+)\s")
ISSUER_LINE = re.compile(r"^\s+(http://\S+/dex)$")


def read_banner(demo: Demo) -> dict[str, str]:
    found: dict[str, str] = {"url": demo.wait_for_url()}
    while "issuer" not in found:
        try:
            line = demo.lines.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            pytest.fail("incomplete banner:\n" + "\n".join(demo.output))
        demo.output.append(line)
        if match := LOGIN_LINE.match(line):
            found["email"], found["password"] = match.groups()
        if "Provider:" in line:
            found["provider"] = line
        if match := ISSUER_LINE.match(line):
            found["issuer"] = match.group(1)
    return found


@pytest.fixture
def dex_demo(dex_release_binary):  # built before the demo starts: its first build is long
    running = Demo(provider="dex")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.kill_everything()


async def test_demo_runs_dex_and_logs_in_at_its_page(dex_demo):
    banner = read_banner(dex_demo)
    assert "Dex v2.45.1 (the real one" in banner["provider"]
    assert "storage: Postgres" in banner["provider"]
    children = dex_demo.children()
    names = " ".join(" ".join(child.cmdline()) for child in children)
    assert "dex serve" in names
    assert "provider.mjs" not in names

    user = Credentials(banner["email"], banner["password"])
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        visit = await browse(http, banner["url"] + "/", user, banner["issuer"])
    assert visit.status == 200
    assert visit.pages == ["login"]  # the deployment skips the approval screen
    assert "Hello, Admin Dex" in visit.text
    assert '<span id="assertion">verified</span>' in visit.text
    assert "admins,devs" in visit.text
    assert '<span id="second-assertion">verified</span>' in visit.text

    dex_demo.process.send_signal(signal.SIGINT)
    assert dex_demo.process.wait(timeout=60) == 0
    left = [child for child in children if child.is_running()]
    assert not left, f"still running after Ctrl-C: {left}"
