"""SIGTERM stops the daemon gracefully even when it arrives while the event loop is busy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

#: a bound for a test that would otherwise hang, not a timing it asserts (generous on purpose)
BOUND = 30.0

# The daemon's listener serving an app that, once it listens, keeps its event loop busy
# while threads finish work (each finished piece writes a byte to the loop's wake-up pipe,
# as the database threads' commits and reads do), and is sent SIGTERM meanwhile.
PROGRAM = textwrap.dedent(
    """
    import asyncio, os, signal, threading, time
    from aiohttp import web
    from gateway import listener

    async def busy_when_listening(app):
        loop = asyncio.get_running_loop()

        def threads_finish_work():
            for _ in range(5000):
                loop.call_soon_threadsafe(lambda: None)

        def busy():
            worker = threading.Thread(target=threads_finish_work)
            worker.start()
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            worker.join()

        loop.call_later(0.5, busy)

    async def shutting_down(app):
        print("shutting down", flush=True)

    app = web.Application()
    app.on_startup.append(busy_when_listening)
    app.on_shutdown.append(shutting_down)
    listener.run(app, "127.0.0.1", 0, header_timeout=5, body_timeout=5, shutdown_timeout=1)
    print("stopped", flush=True)
    """
)


def test_a_sigterm_sent_while_the_loop_is_busy_still_stops_the_daemon(tmp_path: Path) -> None:
    script = tmp_path / "busy_daemon.py"
    script.write_text(PROGRAM)
    try:
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=BOUND
        )
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"the SIGTERM was lost: still running after {BOUND:g} s") from expired
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["shutting", "down", "stopped"]
    assert "Traceback" not in done.stderr
