"""The TOML configuration file, validated into one pydantic model per section."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.client_address import Network, parse_networks

CHANNEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SLUGS = (
    "message_sent_to_business",
    "message_sent_to_participant",
    "button_interacted",
    "conversations_merged",
    "message_delivery_updated",
)


#: config.example.toml's sample credentials (the password is "agent"): fine on loopback only
EXAMPLE_PASSWORD_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$oslORcGkytks1gyZH7xORA$"
    "GZDVWY590zr5fxqQiOr3YmNp635XxHO4goqlH/n4EXQ"
)
EXAMPLE_PASSWORD = "agent"
EXAMPLE_API_TOKEN = "example-token-change-me-0123456789"


class ConfigError(Exception):
    """The configuration is wrong; `problems` holds one line per problem, naming the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Section(BaseModel):
    # strict: "2" for a number or "no" for a boolean is a mistake to name, not to guess at
    model_config = ConfigDict(extra="forbid", strict=True)


def web_url(value: str) -> str:
    """`value` when it is an http(s) URL with a host (and a port in range, if any)."""
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port past 65535 or not a number
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(c.isspace() for c in value)
    ):
        raise ValueError("expected an http:// or https:// URL with a host")
    return value


class GatewaySection(Section):
    listen: str = "127.0.0.1:8080"
    public_url: str = "http://127.0.0.1:8080"
    business_name: str = "Inbox"
    business_image_url: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=100 * 1_048_576)
    #: seconds to finish requests and sends in flight at shutdown
    shutdown_grace: float = Field(default=5.0, ge=0, le=60)
    #: proxies (addresses or networks) whose `X-Forwarded-For` entry names the client
    trusted_proxies: list[str] = []
    #: when set, `/metrics` answers only requests with `Authorization: Bearer <this>`
    metrics_token: Annotated[str, Field(min_length=16)] | None = None
    #: seconds a client has to send a request's headers before the connection is closed
    header_timeout: float = Field(default=30.0, gt=0, le=3600)
    #: seconds a request body may go without a byte before the connection is closed
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    #: worker processes serving `listen` together (more than 1 needs PostgreSQL)
    processes: int = Field(default=1, ge=1, le=64)
    #: where provider webhooks wait while the database is away (relative to the config file)
    spool_dir: Annotated[str, Field(min_length=1)] = "spool"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected host:port")
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return web_url(value).rstrip("/")

    @field_validator("business_image_url")
    @classmethod
    def _image_url(cls, value: str) -> str:
        return web_url(value) if value else value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    # Every request reads it: a cached property is a plain attribute after the first read,
    # where a private attribute costs a trip through the model's __getattr__ (about 1 µs).
    @cached_property
    def trusted_networks(self) -> list[Network]:
        """`trusted_proxies`, parsed."""
        return parse_networks(self.trusted_proxies)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class DatabaseSection(Section):
    url: str = "sqlite:///inbox.db"
    #: PostgreSQL: how often a node reads the outbox when no other node's NOTIFY woke it
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://", "postgresql+")):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return value


class ApiToken(Section):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    token: Annotated[str, Field(min_length=16)]


class ApiSection(Section):
    tokens: list[ApiToken] = []


class Agent(Section):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password_hash: Annotated[str, Field(pattern=r"^\$argon2(id|i|d)\$")]

    @field_validator("password_hash")
    @classmethod
    def _readable(cls, value: str) -> str:
        # a hash argon2 cannot read is an agent who can never log in
        from argon2 import extract_parameters
        from argon2.exceptions import InvalidHashError

        try:
            extract_parameters(value)
        except InvalidHashError:
            raise ValueError(
                "not an argon2 hash; make one with `inbox-gateway hash-password`"
            ) from None
        return value

    display_name: str | None = None


class LimitsSection(Section):
    """How often and how much clients may ask; every limit counts per client address."""

    #: password checks a minute for one username from one client address
    logins_per_username: int = Field(default=5, ge=1, le=1000)
    #: password checks a minute from one client address, whatever the username
    logins_per_address: int = Field(default=30, ge=1, le=10_000)
    #: password checks (argon2) running at once; 0 means one per CPU core
    password_checks: int = Field(default=0, ge=0, le=256)
    #: seconds a login waits for a free password check before it is answered 503
    password_check_wait: float = Field(default=2.0, ge=0, le=30)

    @property
    def password_check_slots(self) -> int:
        """`password_checks`, with 0 resolved to the number of cores."""
        return self.password_checks or os.cpu_count() or 1


class DeliverySection(Section):
    retry_delays: list[Annotated[float, Field(ge=0)]] = [1, 5, 30, 120, 300, 600, 1200, 1800]
    workers: int = Field(default=32, ge=1, le=64)


class EventsSection(Section):
    #: the age in days at which an event every subscriber is done with leaves the outbox;
    #: 0 keeps every event
    keep_days: int = Field(default=30, ge=0, le=36_500)


class WebhookSection(Section):
    url: str
    secret: Annotated[str, Field(min_length=1)]
    events: list[str] = list(SLUGS)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return web_url(value)

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in SLUGS]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; known: {', '.join(SLUGS)}")
        return value


class Config(Section):
    gateway: GatewaySection = GatewaySection()
    database: DatabaseSection = DatabaseSection()
    api: ApiSection = ApiSection()
    agents: list[Agent] = []
    limits: LimitsSection = LimitsSection()
    channels: dict[str, dict[str, Any]] = {}
    delivery: DeliverySection = DeliverySection()
    events: EventsSection = EventsSection()
    webhooks: list[WebhookSection] = []
    #: where the config file was read from, for relative paths such as SQLite files
    source: str | None = None


def resolve_env(table: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """Replace every `X_env = "VAR"` with `X` = the variable's value, recursively."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out[key] = resolve_env(value, f"{where}{key}.", problems)
        elif isinstance(value, list):
            out[key] = [
                resolve_env(v, f"{where}{key}[{i}].", problems) if isinstance(v, Mapping) else v
                for i, v in enumerate(value)
            ]
        elif key.endswith("_env") and isinstance(value, str):
            name = key[: -len("_env")]
            if name in table:
                problems.append(
                    f"config error: {where}{key}: give either {name} or {key}, not both"
                )
            elif value not in os.environ:
                problems.append(
                    f"config error: {where}{key}: environment variable {value} is not set"
                )
            else:
                out[name] = os.environ[value]
        else:
            out[key] = value
    return out


def describe(error: ValidationError, prefix: str = "") -> list[str]:
    """One `config error: key: problem` line per pydantic error."""
    lines = []
    for item in error.errors():
        # a model-level error (one key or another) has no place of its own: its table's
        key = (prefix + ".".join(str(p) for p in item["loc"])).rstrip(".")
        message = item["msg"]
        if item["type"] == "missing":
            message = "required"
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "value_error":
            message = message.removeprefix("Value error, ")  # pydantic's wording, not ours
        lines.append(
            f"config error: {key}: {message.rstrip('.')}" if key else f"config error: {message}"
        )
    return lines


def parse_config(text: str, source: str | None = None) -> Config:
    """Validate a configuration's text; raises ConfigError listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config error: not valid TOML: {exc}"]) from None
    problems: list[str] = []
    if "source" in raw:  # the key the gateway fills in itself
        problems.append("config error: source: unknown key")
    resolved = resolve_env(raw, "", problems)
    try:
        config = Config.model_validate({**resolved, "source": source})
    except ValidationError as exc:
        problems.extend(describe(exc))
        raise ConfigError(problems) from None
    for channel_id, table in config.channels.items():
        if not CHANNEL_ID.fullmatch(channel_id):
            problems.append(
                f"config error: channels.{channel_id}: channel ids are lower-case letters, "
                "digits, '_' and '-', starting with a letter or digit"
            )
        if not isinstance(table.get("type"), str):
            problems.append(f"config error: channels.{channel_id}.type: required")
    if config.gateway.processes > 1 and config.database.url.startswith("sqlite:"):
        problems.append(
            "config error: gateway.processes: several processes need PostgreSQL "
            "(a SQLite file serves one process)"
        )
    names = [t.name for t in config.api.tokens]
    if len(set(names)) != len(names):
        problems.append("config error: api.tokens: token names must be unique")
    usernames = [agent.username for agent in config.agents]
    for n, username in enumerate(usernames):
        if username in usernames[:n]:
            # a login finds the first: an appended new hash would leave the old password working
            problems.append(
                f"config error: agents[{n}].username: {config.agents[n].username!r} is "
                "configured twice; usernames must be unique"
            )
    if problems:
        raise ConfigError(problems)
    return config


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 in brackets or not) is this machine only."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reachable_from_outside(config: Config) -> bool:
    """Whether `listen` or `public_url` is an address other machines can reach."""
    public_host = urlsplit(config.gateway.public_url).hostname or ""
    return not (is_loopback(config.gateway.host) and is_loopback(public_host))


def example_credentials(config: Config) -> list[str]:
    """The example's agent password and API token, named by key, when the gateway is
    reachable from outside this machine (on loopback, `make run` keeps working with them)."""
    if not reachable_from_outside(config):
        return []
    why = "refused because gateway.listen or gateway.public_url is not a loopback address"
    problems = []
    for n, agent in enumerate(config.agents):
        if _is_example_password(agent):
            problems.append(
                f"config error: agents[{n}].password_hash: this is the example's password "
                f"({EXAMPLE_PASSWORD!r}); make a new hash with `inbox-gateway hash-password` "
                f"({why})"
            )
    for n, token in enumerate(config.api.tokens):
        if token.token == EXAMPLE_API_TOKEN:
            problems.append(
                f"config error: api.tokens[{n}].token: this is the example's sample token; "
                f"choose a long random one ({why})"
            )
    return problems


def _is_example_password(agent: Agent) -> bool:
    if agent.password_hash == EXAMPLE_PASSWORD_HASH:
        return True
    if agent.username != EXAMPLE_PASSWORD:
        return False
    # the same password under another salt (as the sandbox makes it): one check, at start-up
    from argon2 import PasswordHasher
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        return bool(PasswordHasher().verify(agent.password_hash, EXAMPLE_PASSWORD))
    except (Argon2Error, InvalidHashError):
        return False


def load_config(path: str | Path) -> Config:
    try:
        # utf-8-sig: a byte-order mark (Windows Notepad writes one) is not TOML, nor an error
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError([f"config error: cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"config error: {path} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8"]
        ) from None
    return parse_config(text, source=str(path))


def database_url(config: Config) -> str:
    """The database URL, with a relative SQLite path taken from the config file's folder."""
    url = config.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and config.source:
        relative = url[len(prefix) :]
        if relative and relative != ":memory:":
            return prefix + str(Path(config.source).resolve().parent / relative)
    return url


def spool_folder(config: Config) -> Path:
    """`spool_dir`, with a relative path taken from the config file's folder."""
    folder = Path(config.gateway.spool_dir)
    if not folder.is_absolute() and config.source:
        folder = Path(config.source).resolve().parent / folder
    return folder
