"""The benchmark's upstream: a tiny aiohttp app in its own process (`python -m bench.upstream`).

It answers every path with a small JSON body naming the path and the `X-Auth-Subject` it
received, so the runner can check once that identity headers arrive before it measures. It
keeps nothing per request (the test suite's echo upstream records every request, which would
grow without bound under wrk). Prints `READY <port>` once listening on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import signal

from aiohttp import web


async def _echo(request: web.Request) -> web.Response:
    body = {
        "path": request.path,
        "subject": request.headers.get("X-Auth-Subject"),
        "header_count": len(request.headers),
    }
    return web.Response(text=json.dumps(body), content_type="application/json")


async def _serve() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    # The same event loop as the sidecar ships with, so that (a) is the best this stack does.
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve())
    else:
        uvloop.run(_serve())


if __name__ == "__main__":
    main()
