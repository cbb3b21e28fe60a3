"""The running gateway's shared state, reachable from every handler through one AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from channels import Adapter
from gateway.config import Config
from gateway.domain.directory import ChannelInfo
from gateway.domain.records import Business
from gateway.events.feed import EventFeed
from gateway.limits import InMemoryLimits, Limits
from gateway.metrics import Metrics
from gateway.store.database import Database


@dataclass
class Gateway:
    config: Config
    db: Database
    feed: EventFeed
    business: Business
    #: each channel's pace (None: unpaced), from its settings or its adapter's default
    rates: dict[str, float | None]
    directory: dict[str, ChannelInfo] = field(default_factory=dict)
    adapters: dict[str, Adapter] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    #: how often clients may ask, counted per key before the work (`gateway.limits`)
    limits: Limits = field(default_factory=InMemoryLimits)
    #: a random key kept in the database, from which per-purpose secrets are derived
    master_secret: bytes = b""


GATEWAY = web.AppKey("gateway", Gateway)
