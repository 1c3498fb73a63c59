"""Run the sidecar exactly as `python -m sidecar --config FILE`, with two benchmark switches.

- `--no-uvloop`: `sidecar.serve` uses uvloop whenever it imports; a `None` entry in
  `sys.modules` makes that import fail, so the comparison needs no new setting.
- `--source DIR`: import the `sidecar` package from DIR (an extracted older revision, for a
  before/after comparison in one run) instead of this checkout.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--source")
    switches, rest = parser.parse_known_args(argv)
    if switches.no_uvloop:
        sys.modules["uvloop"] = None  # type: ignore[assignment]
    if switches.source:
        sys.path.insert(0, switches.source)
    main = importlib.import_module("sidecar.cli").main
    return int(main(rest))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
