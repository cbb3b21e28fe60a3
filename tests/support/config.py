"""The TOML of a test gateway, built from keyword arguments: every section, any channels.

    config = GatewayConfig(
        database_url=sqlite_url(tmp_path),
        tokens={"crm": TOKEN},
        agents=[Agent.with_password("alice", "pw")],
        channels=[twilio_channel(fake=twilio), webchat_channel(allowed_origins=[site])],
        retry_delays=[0.2, 0.4],
    )
    config.toml()     # the file's text; config.parse() validates it as the daemon does

A field left at None is left out of the file, so the daemon's own default applies.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher

from gateway.config import Config, parse_config

if TYPE_CHECKING:
    from adapters.messenger.fake import FakeGraph
    from adapters.twilio.fake import FakeTwilio

#: nothing listens on port 9 (discard) of the loopback: a send there fails at once, and is
#: retried after `retry_delays`, so a provider is never reached
OFFLINE = "http://127.0.0.1:9"
#: the API token of a test gateway unless a test names others
TOKEN = "test-token-0123456789abcdef"
BUSINESS_NUMBER = "+15550001111"
ACCOUNT_SID = "AC" + "0" * 32
#: the credentials the loopback fakes expect by default
TWILIO_AUTH_TOKEN = "fake-auth-token"
PAGE_ID = "1234567890"
PAGE_ACCESS_TOKEN = "fake-page-token"
APP_SECRET = "fake-app-secret"
VERIFY_TOKEN = "verify-me"

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """One TOML value: string, number, boolean, array or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes (\", \\, \n, \uXXXX) are TOML's too
        return json.dumps(value)
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def toml_table(header: str, values: Mapping[str, Any]) -> str:
    """`[header]` (or `[[header]]` when given so) and its keys; None values are left out."""
    lines = [header]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


# -- channels --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One `[channels.<id>]` table: the adapter type and that adapter's keys."""

    id: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def toml(self) -> str:
        return toml_table(f"[channels.{self.id}]", {"type": self.type, **self.settings})

    def with_settings(self, **settings: Any) -> Channel:
        """The same channel with some keys added or changed (None removes a key)."""
        merged = {**self.settings, **settings}
        return dataclasses.replace(
            self, settings={k: v for k, v in merged.items() if v is not None}
        )


def channel(channel_id: str, type: str, **settings: Any) -> Channel:
    """A channel of any adapter type (a plug-in's, or a test's own)."""
    return Channel(channel_id, type, {k: v for k, v in settings.items() if v is not None})


def twilio_channel(
    channel_id: str = "sms",
    *,
    fake: FakeTwilio | None = None,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = TWILIO_AUTH_TOKEN,
    from_number: str = BUSINESS_NUMBER,
    api_base_url: str = OFFLINE,
    **settings: Any,
) -> Channel:
    """An SMS channel; with `fake`, pointed at that loopback Twilio with its credentials."""
    if fake is not None:
        account_sid, auth_token, api_base_url = fake.account_sid, fake.auth_token, fake.base_url
    return channel(
        channel_id,
        "twilio",
        account_sid=account_sid,
        auth_token=auth_token,
        from_number=from_number,
        api_base_url=api_base_url,
        **settings,
    )


def messenger_channel(
    channel_id: str = "fb",
    *,
    fake: FakeGraph | None = None,
    page_id: str = PAGE_ID,
    page_access_token: str = PAGE_ACCESS_TOKEN,
    app_secret: str = APP_SECRET,
    verify_token: str = VERIFY_TOKEN,
    graph_base_url: str = OFFLINE,
    **settings: Any,
) -> Channel:
    """A Messenger channel; with `fake`, pointed at that loopback Graph API with its secrets."""
    if fake is not None:
        page_access_token, graph_base_url = fake.access_token, fake.base_url
        app_secret = fake.app_secret or app_secret
    return channel(
        channel_id,
        "messenger",
        page_id=page_id,
        page_access_token=page_access_token,
        app_secret=app_secret,
        verify_token=verify_token,
        graph_base_url=graph_base_url,
        **settings,
    )


def webchat_channel(
    channel_id: str = "chat",
    *,
    allowed_origins: Sequence[str] = ("http://127.0.0.1",),
    **settings: Any,
) -> Channel:
    """A web chat channel accepting visitors from `allowed_origins`."""
    return channel(channel_id, "webchat", allowed_origins=list(allowed_origins), **settings)


def offline_channels(*, human_agent_tag: bool = False) -> list[Channel]:
    """Web chat `chat`, SMS `sms` and Messenger `fb`, whose providers are never reached.

    With long `retry_delays`, deliveries stay PENDING while a test looks at them.
    """
    return [
        webchat_channel("chat"),
        twilio_channel("sms", auth_token="secret"),
        messenger_channel(
            "fb",
            page_id="1234",
            page_access_token="token",
            app_secret="secret",
            verify_token="verify",
            human_agent_tag=human_agent_tag,
        ),
    ]


# -- agents and webhooks ---------------------------------------------------------------------


@cache
def password_hash(password: str) -> str:
    """An argon2id hash of `password`, cheap to compute (tests log in often, attackers never)."""
    return PasswordHasher(time_cost=1, memory_cost=8192).hash(password)


@dataclass(frozen=True)
class Agent:
    """One `[[agents]]` entry."""

    username: str
    password_hash: str
    display_name: str | None = None

    @classmethod
    def with_password(cls, username: str, password: str, display_name: str | None = None) -> Agent:
        return cls(username, password_hash(password), display_name)

    def toml(self) -> str:
        return toml_table(
            "[[agents]]",
            {
                "username": self.username,
                "password_hash": self.password_hash,
                "display_name": self.display_name,
            },
        )


@dataclass(frozen=True)
class Webhook:
    """One `[[webhooks]]` subscriber; `events` None means every event."""

    url: str
    secret: str
    events: Sequence[str] | None = None

    def toml(self) -> str:
        events = None if self.events is None else list(self.events)
        return toml_table(
            "[[webhooks]]", {"url": self.url, "secret": self.secret, "events": events}
        )


# -- the whole file --------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayConfig:
    """A whole configuration file; `with_(...)` makes a changed copy."""

    database_url: str = "sqlite:///inbox.db"
    #: `[database] poll_seconds`: how often a node reads the outbox when nothing woke it
    database_poll_seconds: float | None = None
    #: `host:port`; None: the daemon's default (start_gateway fills in a free port)
    listen: str | None = None
    #: None: `http://<listen>` when `listen` is given
    public_url: str | None = None
    business_name: str | None = "Test Shop"
    business_image_url: str | None = None
    max_body_bytes: int | None = None
    shutdown_grace: float | None = None
    trusted_proxies: Sequence[str] | None = None
    header_timeout: float | None = None
    body_timeout: float | None = None
    metrics_token: str | None = None
    #: worker processes behind `listen` (more than 1 needs PostgreSQL)
    processes: int | None = None
    #: where provider webhooks wait while the database is away
    spool_dir: str | None = None
    #: API token name -> token
    tokens: Mapping[str, str] = field(default_factory=dict)
    agents: Sequence[Agent] = ()
    channels: Sequence[Channel] = ()
    retry_delays: Sequence[float] | None = None
    workers: int | None = None
    webhooks: Sequence[Webhook] = ()
    #: TOML appended as it is, for tables the fields above do not cover
    extra: str = ""

    def with_(self, **changes: Any) -> GatewayConfig:
        return dataclasses.replace(self, **changes)

    def on_port(self, port: int, host: str = "127.0.0.1") -> GatewayConfig:
        """Listening on `host:port`, with the public URL there too unless one was given."""
        return self.with_(listen=f"{host}:{port}")

    @property
    def url(self) -> str:
        """Where the gateway answers: its public URL, else its listening address."""
        if self.public_url is not None:
            return self.public_url
        if self.listen is None:
            raise ValueError("no address: give `listen` (or use start_gateway, which does)")
        return f"http://{self.listen}"

    @property
    def token(self) -> str | None:
        """The first API token, if any."""
        return next(iter(self.tokens.values()), None)

    def toml(self) -> str:
        gateway = {
            "listen": self.listen,
            "public_url": self.public_url
            or (f"http://{self.listen}" if self.listen is not None else None),
            "business_name": self.business_name,
            "business_image_url": self.business_image_url,
            "max_body_bytes": self.max_body_bytes,
            "shutdown_grace": self.shutdown_grace,
            "trusted_proxies": None if self.trusted_proxies is None else list(self.trusted_proxies),
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "metrics_token": self.metrics_token,
            "processes": self.processes,
            "spool_dir": self.spool_dir,
        }
        parts = [
            toml_table("[gateway]", gateway),
            toml_table(
                "[database]", {"url": self.database_url, "poll_seconds": self.database_poll_seconds}
            ),
        ]
        if self.tokens:
            tokens = [{"name": name, "token": token} for name, token in self.tokens.items()]
            parts.append(toml_table("[api]", {"tokens": tokens}))
        if self.retry_delays is not None or self.workers is not None:
            delays = None if self.retry_delays is None else list(self.retry_delays)
            parts.append(
                toml_table("[delivery]", {"retry_delays": delays, "workers": self.workers})
            )
        parts += [agent.toml() for agent in self.agents]
        parts += [webhook.toml() for webhook in self.webhooks]
        if self.extra:
            parts.append(self.extra.strip() + "\n")
        parts += [c.toml() for c in self.channels]
        return "\n".join(parts)

    def parse(self) -> Config:
        """The configuration as the daemon reads it (raises ConfigError as it would)."""
        return parse_config(self.toml())
