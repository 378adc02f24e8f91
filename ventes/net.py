"""Network and process checks shared by every layer (no Spark, no service machinery)."""

from __future__ import annotations

import os
import socket


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """A process with this pid runs (an exited child not yet reaped still answers kill(0): it is
    gone for our purposes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
