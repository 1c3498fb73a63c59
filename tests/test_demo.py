"""`make demo` works: one command starts the stack, a login through the provider's forms lands
on the who-am-I page with a verified assertion, the first service calls the second on the
user's behalf (the second sees the user, and the first service as the actor), and Ctrl-C
leaves no process behind."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from scripts.demo import DEFAULT_PORTS as DEMO_PORTS
from tests.fixtures.oidc_flow import complete_login

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 60
URL_LINE = re.compile(r"^\s*Open:\s+(http://\S+?)/?$")


class Demo:
    """`python -m scripts.demo` on any free ports, its output read line by line."""

    def __init__(self, provider: str = "standin") -> None:
        # The stand-in here; tests/dex/test_dex_demo.py runs the demo with the real Dex.
        ports: list[str] = ["--provider", provider]
        for name in DEMO_PORTS:
            ports += [f"--{name}-port", "0"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.demo", *ports],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_url(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=STARTUP_TIMEOUT_S)
            except queue.Empty:
                pytest.fail("the demo printed no URL:\n" + "\n".join(self.output))
            self.output.append(line)
            match = URL_LINE.match(line)
            if match:
                return match.group(1)

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def kill_everything(self) -> None:
        """Last resort for a failed test: the demo and whatever it started."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in self.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def demo() -> Iterator[Demo]:
    running = Demo()
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.kill_everything()


async def log_in_and_read_page(url: str) -> str:
    html = {"Accept": "text/html"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url + "/", headers=html, allow_redirects=False) as r:
            assert r.status == 302
            login_url = r.headers["Location"]
        assert login_url.startswith(url + "/.auth/login?rd=")
        async with http.get(login_url, allow_redirects=False) as r:
            authorize_url = r.headers["Location"]
        callback_url = await complete_login(
            http, authorize_url, "admin-dex@example.com", "password"
        )
        assert callback_url.startswith(url + "/.auth/callback?")
        async with http.get(callback_url, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/"
        async with http.get(url + "/", headers=html) as r:
            assert r.status == 200
            return await r.text()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_demo_logs_in_and_stops_cleanly(demo, stop_signal):
    url = demo.wait_for_url()
    children = demo.children()
    names = " ".join(" ".join(child.cmdline()) for child in children)
    assert "provider.mjs" in names
    assert names.count("-m sidecar") == 2  # one per service
    assert len(children) >= 3

    page = await log_in_and_read_page(url)
    assert "Hello, Admin Dex" in page
    assert "admin-dex@example.com" in page
    assert '<span id="assertion">verified</span>' in page
    assert "admins,devs" in page
    # The second service, called by the first with an exchanged token: the user, and the
    # first service's sidecar as the actor.
    assert f'<span id="actor">{url}</span>' in page
    assert '<span id="second-assertion">verified</span>' in page
    assert "It sees you as <b>Admin Dex</b>" in page

    demo.process.send_signal(stop_signal)
    assert demo.process.wait(timeout=30) == 0
    left = [child for child in children if child.is_running()]
    assert not left, f"still running after {stop_signal.name}: {left}"
