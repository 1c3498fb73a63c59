"""What a sidecar process holds: resident memory, file descriptors, TCP connections; and the
check that memory stops growing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

# Allocator and interpreter noise on RSS over a run; a leak shows as steady growth well above.
RSS_SLACK_MIB = 4.0


@dataclass(frozen=True)
class ProcessStats:
    rss_mib: float
    fds: int
    tcp_by_state: dict[str, int]
    tcp_by_remote_port: dict[int, int]

    @property
    def tcp(self) -> int:
        return sum(self.tcp_by_state.values())

    def tcp_to(self, port: int) -> int:
        return self.tcp_by_remote_port.get(port, 0)

    @classmethod
    def of(cls, pid: int) -> ProcessStats:
        process = psutil.Process(pid)
        connections = process.net_connections(kind="tcp")
        return cls(
            rss_mib=round(process.memory_info().rss / 2**20, 1),
            fds=process.num_fds(),
            tcp_by_state=dict(Counter(c.status for c in connections)),
            tcp_by_remote_port=dict(Counter(c.raddr.port for c in connections if c.raddr)),
        )


def rss_halves(samples: Sequence[ProcessStats]) -> tuple[float, float]:
    """RSS growth (MiB) over the first and the second half of `samples`."""
    first, middle, last = samples[0], samples[len(samples) // 2], samples[-1]
    return round(middle.rss_mib - first.rss_mib, 1), round(last.rss_mib - middle.rss_mib, 1)


def assert_rss_levels_off(samples: Sequence[ProcessStats]) -> None:
    """Growth over the second half is small next to the first half (warm-up, caches filling):
    at most half of it plus a little allocator noise. A steady leak grows both halves alike."""
    first_half, second_half = rss_halves(samples)
    bound = max(first_half, 0.0) / 2 + RSS_SLACK_MIB
    assert second_half <= bound, (
        f"RSS still growing: +{first_half} MiB then +{second_half} MiB "
        f"({[s.rss_mib for s in samples]})"
    )
