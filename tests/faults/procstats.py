"""What a sidecar process holds: resident memory, file descriptors, TCP connections."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessStats:
    rss_mib: float
    fds: int
    tcp_by_state: dict[str, int]

    @property
    def tcp(self) -> int:
        return sum(self.tcp_by_state.values())

    @classmethod
    def of(cls, pid: int) -> ProcessStats:
        process = psutil.Process(pid)
        connections = process.net_connections(kind="tcp")
        return cls(
            rss_mib=round(process.memory_info().rss / 2**20, 1),
            fds=process.num_fds(),
            tcp_by_state=dict(Counter(c.status for c in connections)),
        )
