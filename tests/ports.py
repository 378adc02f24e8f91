"""Loopback ports for the services that tests and benchmarks start, handed out without races.

Binding port 0 and closing the socket gives a port from the kernel's ephemeral range, which every
outgoing connection (Spark's, Kafka clients') also draws from, and which another process may be
handed too before the service binds it, minutes later. Here instead:

- ports come from a block below the ephemeral range (``BLOCK``, minus that range if it overlaps),
  starting at a random place so that sessions rarely even contend for the same one;
- each port handed out is reserved by an exclusive ``flock`` on ``<tmp>/ventes-ports/<port>``,
  held by the process that got it until it exits (or :func:`release`): no other process using
  this module (a pytest-xdist worker, a concurrent pytest session, a benchmark) gets it; the
  kernel drops the lock when the process dies, so nothing is ever left reserved;
- a port is handed out only if it binds right then (nothing listens on it, nothing lingers).

A program that does not use this module may still take a port in between; the harness then
starts the service again on other ports (:func:`start_service`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import secrets
import shutil
import socket
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ventes.settings import Settings

BLOCK = range(20000, 32000)
LOCK_DIR = Path(tempfile.gettempdir()) / "ventes-ports"
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")

_held: dict[int, int] = {}  # port -> descriptor of its locked reservation file
_mutex = threading.Lock()


def ephemeral_range() -> range:
    """The kernel's ephemeral port range (Linux's default when it cannot be read)."""
    try:
        low, high = (int(n) for n in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def _candidates() -> list[int]:
    ephemeral = ephemeral_range()
    ports = [p for p in BLOCK if p not in ephemeral]
    if not ports:
        raise RuntimeError(
            f"no port of {BLOCK.start}-{BLOCK.stop - 1} is outside the ephemeral range "
            f"{ephemeral.start}-{ephemeral.stop - 1} ({EPHEMERAL_RANGE_FILE})"
        )
    first = secrets.randbelow(len(ports))
    return ports[first:] + ports[:first]


def _lock_dir() -> Path:
    """The shared reservation folder (every user may create files in it)."""
    try:
        LOCK_DIR.mkdir(exist_ok=True)
        if LOCK_DIR.stat().st_uid == os.geteuid():
            LOCK_DIR.chmod(0o1777)
    except OSError:
        pass
    if os.access(LOCK_DIR, os.W_OK | os.X_OK):
        return LOCK_DIR
    # Someone made it private: a folder of our own still keeps this user's processes apart.
    own = LOCK_DIR.with_name(f"{LOCK_DIR.name}-{os.geteuid()}")
    own.mkdir(mode=0o700, exist_ok=True)
    return own


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return os.open(path, os.O_RDONLY)


def _binds(port: int) -> bool:
    """Whether a listening socket could take ``127.0.0.1:port`` now (no SO_REUSEADDR: strict)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _try_reserve(folder: Path, port: int) -> bool:
    if port in _held:
        return False
    fd = _open_lock_file(folder / str(port))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    if not _binds(port):
        os.close(fd)  # closing drops the lock
        return False
    _held[port] = fd
    return True


def reserve_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, reserved for this process until it exits."""
    folder = _lock_dir()
    got: list[int] = []
    with _mutex:
        for port in _candidates():
            if _try_reserve(folder, port):
                got.append(port)
                if len(got) == count:
                    return got
        for port in got:
            os.close(_held.pop(port))
    raise RuntimeError(f"only {len(got)} of {count} ports free in {BLOCK.start}-{BLOCK.stop - 1}")


def reserve_port() -> int:
    """One free loopback port, reserved for this process until it exits."""
    return reserve_ports(1)[0]


def release(port: int) -> None:
    """Give a reserved port back (processes rarely need to: exiting releases everything)."""
    with _mutex:
        fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)


def held() -> set[int]:
    """The ports this process holds."""
    with _mutex:
        return set(_held)


# --- starting a service of the stack on reserved ports --------------------------------------


def stack_env(home: Path) -> dict[str, str]:
    """The environment of a private local stack: ``home`` as VENTES_HOME and a reserved loopback
    port for each service (Kafka's broker and controller, Thrift, dashboard, Airflow)."""
    kafka, controller, thrift, dashboard, airflow = reserve_ports(5)
    return {
        "VENTES_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "KAFKA_CONTROLLER_PORT": str(controller),
        "THRIFT_PORT": str(thrift),
        "DASHBOARD_PORT": str(dashboard),
        "AIRFLOW_PORT": str(airflow),
    }


def with_fresh_ports(settings: Settings, name: str) -> tuple[Settings, dict[str, str]]:
    """``settings`` with newly reserved ports for service ``name``, and their environment variables."""
    if name == "kafka":
        broker, controller = reserve_ports(2)
        servers = f"{settings.kafka_host_port[0]}:{broker}"
        env = {"KAFKA_BOOTSTRAP_SERVERS": servers, "KAFKA_CONTROLLER_PORT": str(controller)}
        changes = {"kafka_bootstrap_servers": servers, "kafka_controller_port": controller}
        return dataclasses.replace(settings, **changes), env
    fields = {"thrift": "thrift_port", "dashboard": "dashboard_port", "airflow": "airflow_port"}
    if name not in fields:
        raise ValueError(f"no port settings known for service {name!r}")
    port = reserve_port()
    env_name = {"thrift": "THRIFT_PORT", "dashboard": "DASHBOARD_PORT", "airflow": "AIRFLOW_PORT"}[name]
    return dataclasses.replace(settings, **{fields[name]: port}), {env_name: str(port)}


def start_service(settings: Settings, name: str, attempts: int = 3, export: bool = False) -> Settings:
    """Start a service of ``stack.processes`` and wait until it answers, on other ports while its
    port turns out to be taken (:class:`stack.processes.PortTaken`).

    Returns the settings the service runs with. With ``export``, the new ports of a retry are also
    set in ``os.environ``, so that settings loaded later agree (for the session's own services;
    the session's overrides restore the variables at its end).
    """
    from stack import processes

    # A broker formatted on this attempt recorded its controller port; a retry formats anew.
    kafka_formatted = (settings.kafka_data_dir / "logs" / "meta.properties").exists()
    for attempt in range(1, attempts + 1):
        try:
            processes.start(settings, processes.service(name))
            return settings
        except processes.PortTaken as exc:
            if attempt == attempts:
                raise
            warnings.warn(f"{exc} (attempt {attempt} of {attempts}: retrying on another port)", stacklevel=2)
            if name == "kafka" and not kafka_formatted:
                shutil.rmtree(settings.kafka_data_dir / "logs", ignore_errors=True)
            settings, env = with_fresh_ports(settings, name)
            if export:
                os.environ.update(env)
    raise AssertionError("unreachable")
