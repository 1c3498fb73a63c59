"""Run the sidecar exactly as `python -m sidecar --config FILE`, optionally without uvloop.

`sidecar.server` uses uvloop whenever it imports; `--no-uvloop` makes that import fail (a
`None` entry in `sys.modules` raises ImportError), so the comparison needs no new setting.
"""

from __future__ import annotations

import sys

from sidecar.cli import main


def run(argv: list[str]) -> int:
    if "--no-uvloop" in argv:
        argv = [arg for arg in argv if arg != "--no-uvloop"]
        sys.modules["uvloop"] = None  # type: ignore[assignment]
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
