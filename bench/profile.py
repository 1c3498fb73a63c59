"""Optional profiling of a measurement with py-spy (`BENCH_PROFILE=DIR`), and a summary of
its collapsed stacks: `python -m bench.profile FILE` prints the functions that hold the most
samples, inclusive and self. py-spy is not a dependency: `.venv/bin/pip install py-spy`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def py_spy(pid: int, output: Path, duration_s: float) -> Iterator[None]:
    """Sample `pid` and its worker processes for `duration_s` while the body runs."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists():
        raise SystemExit("BENCH_PROFILE needs py-spy: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    argv += ["--rate", "250", "--format", "raw", "--duration", str(round(duration_s))]
    sampler = subprocess.Popen(
        [*argv, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        try:
            sampler.wait(timeout=duration_s + 30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()


def summarize(collapsed: Path, top: int = 40) -> str:
    """Functions by share of samples: inclusive (anywhere on the stack) and self (on top)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"; the line differs per sample.
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
