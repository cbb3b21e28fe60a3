"""Which process holds the server end of a TCP connection on this machine (Linux /proc)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _inodes(local_port: int, remote_port: int) -> set[str]:
    """The socket inodes of the connections from `remote_port` to `local_port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and (
                int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                found.add(inode)
    return found


def serving_process(pids: Iterable[int], server_port: int, client_port: int) -> int | None:
    """The one of `pids` that accepted the connection from `client_port` (None: none of them)."""
    wanted = {f"socket:[{inode}]" for inode in _inodes(server_port, client_port)}
    for pid in pids:
        folder = Path(f"/proc/{pid}/fd")
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(folder / name) in wanted:
                    return pid
            except OSError:
                continue
    return None
