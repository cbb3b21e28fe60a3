"""Prometheus metrics: requests, messages in and out by channel, queue depths, latencies."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        )
        self.deliveries_pending = Gauge(
            "inbox_deliveries_pending", "Deliveries waiting to be sent", registry=self.registry
        )
        self.webhooks_pending = Gauge(
            "inbox_webhook_events_pending",
            "Outgoing webhook events not yet delivered",
            ["url"],
            registry=self.registry,
        )

        #: the labelled series of answered requests, found once per label set
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}

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
