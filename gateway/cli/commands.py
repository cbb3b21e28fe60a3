"""The `inbox-gateway` command: run, check-config, hash-password, adapters, migrate, …"""

from __future__ import annotations

import argparse
import contextlib
import errno
import getpass
import logging
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from gateway import listener, supervisor
from gateway.app import build_app
from gateway.cli.events import add_events_command
from gateway.config import Config, ConfigError, database_url, load_config
from gateway.logs import own_logger, setup_logging
from gateway.plugins.detached import DetachedHost
from gateway.plugins.registry import GROUP, channel_specs, load_checked_config, scan_adapters
from gateway.sandbox import add_sandbox_command
from gateway.store import migrate
from gateway.store.database import create_db_engine

DEFAULT_CONFIG = "./inbox-gateway.toml"
log = logging.getLogger("gateway")


#: what `--log-level` may say (in any case)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: what an address that cannot be listened on fails with
LISTEN_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


@contextlib.contextmanager
def starting(config: Config) -> Iterator[None]:
    """A start-up that fails on what the machine or the database refuses: one line naming the
    key (the traceback at DEBUG), as a configuration error is; never a traceback."""
    try:
        yield
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        log.debug("opening the database failed", exc_info=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        problem = f"config error: database.url: cannot open the database: {reason}"
        raise ConfigError([problem]) from None
    except OSError as exc:
        log.debug("starting failed", exc_info=True)
        if isinstance(exc, socket.gaierror) or exc.errno in LISTEN_ERRORS:
            why = exc.strerror or str(exc)
            listen = config.gateway.listen
            problem = f"config error: gateway.listen: cannot listen on {listen}: {why}"
            raise ConfigError([problem]) from None
        raise ConfigError([f"inbox-gateway: cannot start: {exc}"]) from None


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = load_checked_config(args.config)
    log_adapters_as_own()
    with starting(config):
        if config.gateway.processes > 1:
            # migrated once here, before any worker starts
            engine = create_db_engine(database_url(config))
            migrate.upgrade(engine)
            engine.dispose()
            return supervisor.supervise(config, args.config, args.log_level)
        serve(build_app(config), config, public_url=config.gateway.public_url)
    return 0


def serve(app: web.Application, config: Config, **where: Any) -> None:
    """`listener.run` with the configured address and timeouts (`where`: a socket, a URL)."""
    listener.run(
        app,
        config.gateway.host,
        config.gateway.port,
        header_timeout=config.gateway.header_timeout,
        body_timeout=config.gateway.body_timeout,
        shutdown_timeout=config.gateway.shutdown_grace,
        **where,
    )


def log_adapters_as_own() -> None:
    """A plug-in adapter's lines are the gateway's own, unlike those of the libraries it uses."""
    for adapter in scan_adapters().adapters.values():
        own_logger(adapter.__module__.split(".")[0])


def cmd_worker(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = load_checked_config(args.config)
    log_adapters_as_own()
    app = build_app(config)
    supervisor.exit_with_supervisor(app)
    serve(app, config, sock=socket.socket(fileno=args.socket_fd))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_checked_config(args.config)
    channels = ", ".join(f"{cid} ({t.get('type')})" for cid, t in config.channels.items())
    print(f"{args.config}: ok")
    print(f"  listen {config.gateway.listen}, public URL {config.gateway.public_url}")
    print(f"  database {config.database.url.split('@')[-1]}")
    print(f"  channels: {channels or 'none'}")
    print(
        f"  API tokens: {len(config.api.tokens)}, agents: {len(config.agents)}, "
        f"webhooks: {len(config.webhooks)}"
    )
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from argon2 import PasswordHasher

    if args.password_stdin:
        # a line from Windows ends in CRLF: "\r" is no part of a password anyone types
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except EOFError:  # Ctrl-D, or no terminal and nothing to read
            print("no password given (use --password-stdin to pipe one)", file=sys.stderr)
            return 1
        if again != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("the password is empty", file=sys.stderr)
        return 1
    print(PasswordHasher().hash(password))
    return 0


def cmd_adapters(args: argparse.Namespace) -> int:
    scan = scan_adapters()
    if not scan.adapters and not scan.problems:
        print(f"no adapters installed (entry-point group {GROUP})")
        return 1
    for name in sorted({*scan.adapters, *scan.problems}):
        adapter = scan.adapters.get(name)
        if adapter is None:
            print(f"{name:12} {'-':10} cannot be used: {scan.problems[name]}")
        else:
            print(f"{name:12} {adapter.channel_type!s:10} {adapter.__module__}")
    if args.config is None:
        print("(what each channel can show depends on its settings: add --config FILE)")
    else:
        print(f"\nchannels in {args.config}:")
        for spec in channel_specs(load_config(args.config), scan.adapters):
            print(f"  {spec.channel_id} ({spec.adapter_class.type})")
            for note in spec.build(DetachedHost(spec.channel_id)).capabilities.notes:
                print(f"    {note}")
    return 1 if scan.problems else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with starting(config):
        engine = create_db_engine(database_url(config))
        migrate.upgrade(engine)
        engine.dispose()
    print("database is at the newest schema")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="inbox-gateway",
        description="One inbox for a business's SMS, Facebook Messenger and website chat.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config", "-c", default=DEFAULT_CONFIG, help=f"TOML file (default {DEFAULT_CONFIG})"
        )
        return p

    run = with_config(sub.add_parser("run", help="run the daemon"))
    run.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, type=str.upper)
    run.set_defaults(func=cmd_run)
    worker = with_config(
        sub.add_parser(
            "worker",
            help="one of the processes `run` starts when [gateway] processes is more than 1",
        )
    )
    worker.add_argument("--socket-fd", type=int, required=True, help="the inherited socket")
    worker.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, type=str.upper)
    worker.set_defaults(func=cmd_worker)
    check = with_config(
        sub.add_parser("check-config", help="validate the configuration and print a summary")
    )
    check.set_defaults(func=cmd_check_config)
    hashing = sub.add_parser("hash-password", help="print an argon2 hash for an [[agents]] entry")
    hashing.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    hashing.set_defaults(func=cmd_hash_password)
    adapters = sub.add_parser(
        "adapters",
        help="list the adapter types installed, and with --config what each channel can show",
    )
    adapters.add_argument(
        "--config", "-c", default=None, help="also describe the channels of this TOML file"
    )
    adapters.set_defaults(func=cmd_adapters)
    migrate = with_config(sub.add_parser("migrate", help="bring the database schema up to date"))
    migrate.set_defaults(func=cmd_migrate)
    add_events_command(sub)
    add_sandbox_command(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
