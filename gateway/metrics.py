"""Prometheus metrics: requests, messages in and out by channel, queue depths, latencies.

When the gateway runs as several processes (`[gateway] processes`), the supervisor gives each
worker the same PROMETHEUS_MULTIPROC_DIR: every worker writes its values to files there and
`/metrics`, whichever worker answers it, adds up all of them (prometheus_client's
multiprocess mode), so the gateway is reported as a whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

#: the environment variable naming the folder the processes of one gateway share
SHARED_FOLDER_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """One registry per application, so several gateways in one process stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "inbox_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "inbox_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
        )
        self.messages_in = Counter(
            "inbox_messages_in", "Inbound messages stored", ["channel"], registry=self.registry
        )
        self.messages_out = Counter(
            "inbox_messages_out",
            "Outbound message parts accepted by a provider",
            ["channel"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "inbox_send_failures",
            "Failed send attempts",
            ["channel", "retryable"],
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "inbox_send_seconds",
            "Time a provider took to accept a part",
            ["channel"],
            registry=self.registry,
        )
        self.writer_queue = Gauge(
            "inbox_writer_queue_depth",
            "Writes waiting for the next group commit",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.writer_transactions = Counter(
            "inbox_writer_transactions",
            "Group-commit transactions, by whose writes they hold: requests' or the background's",
            ["part"],
            registry=self.registry,
        )
        self.writer_writes = Counter(
            "inbox_writer_writes",
            "Writes that group-commit transactions held",
            ["part"],
            registry=self.registry,
        )
        self.writer_busy = Counter(
            "inbox_writer_busy_seconds",
            "Time the group-commit writer spent running and committing transactions; a rate "
            "near 1 for each process means every write waits for a writer",
            ["part"],
            registry=self.registry,
        )
        self.deliveries_pending = Gauge(
            "inbox_deliveries_pending",
            "Deliveries waiting to be sent",
            registry=self.registry,
            # a count of the database's rows: the latest process to count it is right
            multiprocess_mode="mostrecent",
        )
        self.webhooks_pending = Gauge(
            "inbox_webhook_events_pending",
            "Outgoing webhook events not yet delivered",
            ["url"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

        #: the labelled series of answered requests, found once per label set
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        #: the writer's series of each part (background or not), found once
        self._settled: dict[bool, tuple[Any, Any, Any]] = {}

    def writer_settled(self, background: bool, writes: int, seconds: float) -> None:
        """Count one group-commit transaction: whose writes, how many, how long it took."""
        series = self._settled.get(background)
        if series is None:
            part = "background" if background else "requests"
            series = (
                self.writer_transactions.labels(part),
                self.writer_writes.labels(part),
                self.writer_busy.labels(part),
            )
            self._settled[background] = series
        series[0].inc()
        series[1].inc(writes)
        series[2].inc(seconds)

    def answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count an answered request and its latency."""
        series = self._answered.get((method, route, status))
        if series is None:
            series = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._answered[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)


def shared_folder() -> Path | None:
    """The folder the gateway's processes share their metrics in (None: one process)."""
    folder = os.environ.get(SHARED_FOLDER_ENV)
    return Path(folder) if folder else None


def exposition(metrics: Metrics) -> bytes:
    """The Prometheus text of the gateway: this process's, or every process's added up."""
    folder = shared_folder()
    if folder is None:
        return generate_latest(metrics.registry)
    whole = CollectorRegistry()
    MultiProcessCollector(whole, str(folder))  # type: ignore[no-untyped-call]
    return generate_latest(whole)


def forget_process(folder: Path, pid: int) -> None:
    """Drop an ended process's live gauges (its counters stay in the sums)."""
    mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
