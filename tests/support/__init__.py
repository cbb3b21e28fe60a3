"""What tests and benchmarks share to run the real gateway.

- `config`: `GatewayConfig`, the TOML of any gateway (every section, any channels), and the
  channel tables `twilio_channel`, `messenger_channel`, `webchat_channel`, `channel`.
- `live`: the gateway application serving on 127.0.0.1 in this process (`live_gateway`,
  `start_gateway`), or from a thread of its own (`GatewayThread`).
- `daemon`: the daemon as a real process (`Daemon`), to SIGKILL and restart.
- `databases`: empty SQLite and PostgreSQL databases.
- `polling`: `eventually`, waiting (boundedly) for background work.
- `ports`: `free_port`.
- `sockets`: `serving_process`, which process accepted a TCP connection (Linux /proc).
- `clock`: `ManualClock`, time that moves only when the test says.
- `rows`: rows a test stores directly (`business_reply`).
- `fixtures`: the pytest fixtures built on these (registered by tests/conftest.py).

Benchmarks import it too: run them from the repository's root as modules
(`python -m bench.ingest`).
"""

from tests.support.clock import ManualClock
from tests.support.config import (
    OFFLINE,
    TOKEN,
    Agent,
    Channel,
    GatewayConfig,
    Webhook,
    channel,
    messenger_channel,
    offline_channels,
    twilio_channel,
    webchat_channel,
)
from tests.support.daemon import Daemon, running_daemon
from tests.support.databases import empty_database, fresh_postgres, sqlite_url
from tests.support.live import GatewayThread, LiveGateway, live_gateway, start_gateway
from tests.support.polling import eventually
from tests.support.ports import free_port

__all__ = [
    "OFFLINE",
    "TOKEN",
    "Agent",
    "Channel",
    "Daemon",
    "GatewayConfig",
    "GatewayThread",
    "LiveGateway",
    "ManualClock",
    "Webhook",
    "channel",
    "empty_database",
    "eventually",
    "free_port",
    "fresh_postgres",
    "live_gateway",
    "messenger_channel",
    "offline_channels",
    "running_daemon",
    "sqlite_url",
    "start_gateway",
    "twilio_channel",
    "webchat_channel",
]
