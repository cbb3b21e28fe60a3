"""`inbox-gateway run` with `[gateway] processes = N`: N workers behind one listening socket.

The supervisor binds `listen` itself and hands the socket to each worker it starts
(`inbox-gateway worker --socket-fd …`), so the address is taken once, a bind error is reported
once, and a restarted worker serves the same socket without a gap: the kernel keeps
connections that arrive meanwhile in the socket's queue for the others. It restarts a worker
that exits on its own, waiting longer after each quick failure; on SIGTERM or SIGINT it passes
SIGTERM on, and each worker finishes its requests and sends within `shutdown_grace`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web

from gateway.config import Config
from gateway.metrics import SHARED_FOLDER_ENV, forget_process

log = logging.getLogger(__name__)

#: the first wait before a crashed worker is started again; doubled after each quick crash
FIRST_RESTART_DELAY = 0.5
#: the longest wait between restarts of a worker that keeps crashing
LAST_RESTART_DELAY = 30.0
#: a worker that ran this long before it exited was healthy: its next restart is prompt
HEALTHY_SECONDS = 30.0
#: seconds beyond `shutdown_grace` a stopping worker gets before it is killed
STOP_MARGIN = 10.0
#: how often a worker checks that its supervisor is still there
PARENT_CHECK_SECONDS = 1.0


class ListenError(Exception):
    """The address in `listen` cannot be bound (taken, or not this host's)."""


def bind(listen_host: str, port: int) -> socket.socket:
    """The listening socket every worker serves, bound once here."""
    family, kind, proto, _, address = socket.getaddrinfo(
        listen_host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {listen_host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Starts the workers, restarts the ones that crash, and stops them all on a signal."""

    def __init__(self, config: Config, config_path: str, log_level: str) -> None:
        self.config = config
        self.config_path = config_path
        self.log_level = log_level
        self.stopping = asyncio.Event()
        self.workers: dict[int, asyncio.subprocess.Process] = {}
        self._sock: socket.socket | None = None
        self._metrics_folder: Path | None = None

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 when every worker stopped cleanly."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        gateway = self.config.gateway
        self._sock = bind(gateway.host, gateway.port)
        log.info(
            "inbox-gateway listening on %s with %d processes (public URL %s)",
            gateway.listen,
            gateway.processes,
            gateway.public_url,
        )
        self._metrics_folder = Path(tempfile.mkdtemp(prefix="inbox-gateway-metrics-"))
        try:
            slots = [asyncio.create_task(self._keep(index)) for index in range(gateway.processes)]
            await self.stopping.wait()
            log.info("stopping %d worker processes", len(self.workers))
            codes = await asyncio.gather(*slots)
        finally:
            self._sock.close()
            shutil.rmtree(self._metrics_folder, ignore_errors=True)
        return 0 if all(code == 0 for code in codes) else 1

    async def _start(self, index: int) -> asyncio.subprocess.Process:
        assert self._sock is not None and self._metrics_folder is not None
        fd = self._sock.fileno()
        process = await asyncio.create_subprocess_exec(
            *worker_command(self.config_path, fd, self.log_level),
            stdin=asyncio.subprocess.DEVNULL,
            pass_fds=(fd,),
            # its own process group: a terminal's Ctrl-C reaches the supervisor only, which
            # passes one SIGTERM on
            start_new_session=True,
            env={**os.environ, SHARED_FOLDER_ENV: str(self._metrics_folder)},
        )
        log.info("worker %d started (pid %d)", index, process.pid)
        self.workers[index] = process
        return process

    async def _keep(self, index: int) -> int:
        """Keep worker `index` running until the stop; answers its last exit code."""
        loop = asyncio.get_running_loop()
        delay = FIRST_RESTART_DELAY
        while True:
            process = await self._start(index)
            started = loop.time()
            code = await self._wait(process)
            assert self._metrics_folder is not None
            forget_process(self._metrics_folder, process.pid)
            if self.stopping.is_set():
                return code
            log.warning("worker %d (pid %d) exited with %d", index, process.pid, code)
            if loop.time() - started >= HEALTHY_SECONDS:
                delay = FIRST_RESTART_DELAY
            log.info("restarting worker %d in %.1f s", index, delay)
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
                return code
            except TimeoutError:
                pass
            delay = min(delay * 2, LAST_RESTART_DELAY)

    async def _wait(self, process: asyncio.subprocess.Process) -> int:
        """Its exit code; after a stop, it is killed when it outlives the grace."""
        exited = asyncio.ensure_future(process.wait())
        stopped = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if exited.done():
            return exited.result()
        # Stopping: the worker finishes what it has in flight.
        process.send_signal(signal.SIGTERM)
        patience = self.config.gateway.shutdown_grace + STOP_MARGIN
        try:
            return await asyncio.wait_for(exited, patience)
        except TimeoutError:
            log.error("worker pid %d did not stop within %.0f s: killed", process.pid, patience)
            process.kill()
            await process.wait()
            return -signal.SIGKILL


def worker_command(config_path: str, fd: int, log_level: str) -> Sequence[str]:
    """The command line of one worker serving the inherited socket `fd`."""
    return [
        sys.executable,
        "-m",
        "gateway",
        "worker",
        "--config",
        config_path,
        "--socket-fd",
        str(fd),
        "--log-level",
        log_level,
    ]


def supervise(config: Config, config_path: str, log_level: str) -> int:
    """Run the supervisor until it is stopped; answers the exit status."""
    try:
        return asyncio.run(Supervisor(config, config_path, log_level).run())
    except ListenError as exc:
        log.error("%s", exc)
        print(exc, file=sys.stderr)
        return 1


def exit_with_supervisor(app: web.Application) -> None:
    """Stop this worker gracefully if its supervisor goes away (killed, say), so no orphan
    keeps the address."""
    supervisor = os.getppid()

    async def watch(_: web.Application) -> AsyncIterator[None]:
        async def check() -> None:
            while os.getppid() == supervisor:
                await asyncio.sleep(PARENT_CHECK_SECONDS)
            log.warning("the supervisor (pid %d) is gone: stopping", supervisor)
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(check())
        yield
        task.cancel()

    app.cleanup_ctx.append(watch)
