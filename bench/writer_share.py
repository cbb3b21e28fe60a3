"""How busy the daemon's group-commit writer was during a load, read from its `/metrics`.

Every write waits for the writer's next transaction; when the writer is busy nearly all of a
load, the write path's speed is the writer's, whatever else has room to spare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

PARTS = ("requests", "background")
COUNTERS = ("transactions", "writes", "busy_seconds")


@dataclass(frozen=True)
class WriterCounters:
    """The writer's counters at one moment: (counter, part) → value."""

    values: dict[tuple[str, str], float]
    at: float

    def get(self, counter: str, part: str) -> float:
        return self.values.get((counter, part), 0.0)


async def read_counters(url: str) -> WriterCounters:
    """The writer's counters of the daemon at `url`."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    wanted = {f"inbox_writer_{counter}_total": counter for counter in COUNTERS}
    values = {
        (wanted[sample.name], sample.labels["part"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in wanted
    }
    return WriterCounters(values, time.monotonic())


@dataclass(frozen=True)
class WriterShare:
    """What the writer did between two readings."""

    before: WriterCounters
    after: WriterCounters

    def grew(self, counter: str, part: str) -> float:
        return self.after.get(counter, part) - self.before.get(counter, part)

    @property
    def busy(self) -> float:
        """The share of the time the writer was running or committing a transaction."""
        seconds = self.after.at - self.before.at
        spent = sum(self.grew("busy_seconds", part) for part in PARTS)
        return spent / seconds if seconds > 0 else 0.0

    def note(self) -> str:
        """`writer busy 98%: requests 32.0 writes and 10.5 ms a transaction, …`"""
        parts = []
        for part in PARTS:
            transactions = self.grew("transactions", part)
            if transactions:
                writes = self.grew("writes", part) / transactions
                ms = self.grew("busy_seconds", part) / transactions * 1000
                parts.append(f"{part} {writes:.1f} writes and {ms:.1f} ms a transaction")
        return f"writer busy {self.busy:.0%}" + (": " + ", ".join(parts) if parts else "")
