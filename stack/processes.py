"""The local stack as plain processes: Kafka (KRaft), the Spark Thrift Server, the Bronze
streaming job, the dashboard and Airflow.

Each service is started detached, with its pid in ``VENTES_HOME/run/<name>.pid`` and its
output in ``VENTES_HOME/logs/<name>.log``; ``up`` waits until each one really answers.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from services.catalogue import BRONZE, DASHBOARD, THRIFT, Service
from stack.kafka import KAFKA
from stack.local_airflow import AIRFLOW
from ventes import jars, logfiles
from ventes.errors import VentesError
from ventes.net import pid_alive, port_open
from ventes.settings import Settings
from ventes.spark import child_env

# --- process bookkeeping ---------------------------------------------------------------


def pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def read_pid(settings: Settings, name: str) -> int | None:
    """The pid of the service this project started, or None when it no longer runs.

    The pid file holds the pid and the process's start time: a pid the kernel gave to another
    program since is stale, so ``down`` never signals a process it did not start.
    """
    try:
        fields = pid_file(settings, name).read_text().split()
        pid = int(fields[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    if len(fields) > 1:
        return pid if fields[1] == _start_time(pid) else None
    # The former format, the pid alone: only a process that looks like the one started here.
    return pid if _started_here(settings, name, pid) else None


def write_pid(settings: Settings, name: str, pid: int) -> None:
    pid_file(settings, name).write_text(f"{pid} {_start_time(pid) or ''}".strip())


def _start_time(pid: int) -> str | None:
    """When the process started, in clock ticks after boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        pass
    import psutil

    try:
        return repr(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _started_here(settings: Settings, name: str, pid: int) -> bool:
    """Whether ``pid`` runs the service's command, or is a session leader working in
    VENTES_HOME, as ``start`` leaves every service (spark-submit rewrites its command line)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        cmdline, leader = proc.cmdline(), os.getsid(pid) == pid
        if leader and Path(proc.cwd()) == settings.home:
            return True
    except (psutil.Error, OSError):
        return False
    try:
        command = service(name).command(settings)
    except (VentesError, OSError):
        return False
    return len(cmdline) >= len(command) and cmdline[len(cmdline) - len(command) :] == command


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


SERVICES: list[Service] = [KAFKA, THRIFT, BRONZE, DASHBOARD, AIRFLOW]


def service(name: str) -> Service:
    for svc in SERVICES:
        if svc.name == name:
            return svc
    raise VentesError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")


# --- lifecycle -------------------------------------------------------------------------


class PortTaken(VentesError):
    """Another program holds the port a service needs (found before or during its start)."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


# What a server that could not listen on its port logs: Java and Kafka, Hive's Thrift server,
# gunicorn, Python and uvicorn servers, PostgreSQL.
_BIND_FAILURE = re.compile(r"address already in use|could not create serversocket|connection in use", re.I)
_ADDRESS_PORT = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}'?(?::|, )(\d{1,5})\b")


def _bind_failure(log: Path, since: int, port: int) -> tuple[int, str] | None:
    """The port a service could not bind, and the log line saying so, from log offset ``since``."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    failures = [ln.strip() for ln in lines if _BIND_FAILURE.search(ln)]
    if not failures:
        return None
    named = [int(p) for ln in failures for p in _ADDRESS_PORT.findall(ln)]
    return (port if port in named or not named else named[0]), failures[0][:300]


def start(settings: Settings, svc: Service) -> str:
    """Start one service unless it already runs; wait until it answers. Returns a status word."""
    host, port = svc.host(settings), svc.port(settings)
    log = log_file(settings, svc.name)
    pid = read_pid(settings, svc.name)
    if pid is not None and svc.healthy(settings):
        svc.on_ready(settings)
        return "already running"
    if pid is None and port is not None and port_open(host, port):
        raise PortTaken(
            f"{svc.name}: port {host}:{port} is taken by another program; "
            f"stop it or set another port (see README, Configuration)",
            port,
        )
    if pid is None:
        settings.make_home()
        logfiles.rotate(log)
    since = log.stat().st_size if log.exists() else 0
    if pid is None:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        svc.prepare(settings)
        with open(log, "ab") as out:
            out.write(f"\n=== starting {svc.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            out.flush()
            proc = subprocess.Popen(
                svc.command(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(settings),
                cwd=settings.home,
                start_new_session=True,
            )
        pid = proc.pid
        write_pid(settings, svc.name, pid)
    deadline = time.monotonic() + svc.start_timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            pid_file(settings, svc.name).unlink(missing_ok=True)
            failure = None if port is None else _bind_failure(log, since, port)
            if failure is not None:
                taken, line = failure
                raise PortTaken(
                    f"{svc.name}: port {host}:{taken} is taken by another program "
                    f"(it exited during start-up); see {log}: {line}",
                    taken,
                )
            raise VentesError(
                f"{svc.name} exited during start-up ({_address(settings, svc)}); see {log}: {_last_line(log)}"
            )
        if svc.healthy(settings):
            svc.on_ready(settings)
            return "started"
        time.sleep(0.5)
    raise VentesError(
        f"{svc.name} did not answer ({_address(settings, svc)}) within {svc.start_timeout:.0f}s; see {log}"
    )


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if "ERROR" in ln or "Exception" in ln or "Error" in ln]
    return (errors or lines or [""])[-1].strip()[:300]


def stop(settings: Settings, name: str, timeout: float = 30.0) -> str:
    """Stop a service this project started (by its recorded pid and process group)."""
    pid = read_pid(settings, name)
    path = pid_file(settings, name)
    if pid is None:
        path.unlink(missing_ok=True)
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    _kill_stragglers(pid)
    path.unlink(missing_ok=True)
    return "stopped"


def _kill_stragglers(group: int, timeout: float = 10.0) -> None:
    """SIGKILL what is left of a service's own process group: the service itself if it did not
    stop in time, and any child forked while it was stopping (a LocalExecutor task starting,
    say), which would otherwise outlive it. Bounded: exited members may await their reaper."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            return
        _reap(group)
        time.sleep(0.2)


def _reap(group: int) -> None:
    """Collect exited members of ``group`` that are this process's children (a process that
    started the service itself, such as a test, is their parent until it waits for them)."""
    while True:
        try:
            reaped, _ = os.waitpid(-group, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            return


# A service starts once those it reads from answer, and stops before them; the others start
# and stop side by side.
NEEDS: dict[str, tuple[str, ...]] = {"bronze": ("kafka",)}


def _side_by_side(
    services: list[Service], action: Callable[[Service], None], waits_for: Callable[[str], tuple[str, ...]]
) -> None:
    """``action`` on each service in a thread of its own, once those it ``waits_for`` are done
    (their failure is its failure); every one is waited for, the first failure raised.

    Daemon threads: Ctrl-C leaves at once, as it did when services started one by one.
    """
    threads: dict[str, threading.Thread] = {}
    failures: dict[str, BaseException] = {}

    def run(svc: Service, needed: list[str]) -> None:
        try:
            for name in needed:
                threads[name].join()
                if name in failures:
                    raise failures[name]
            action(svc)
        except BaseException as exc:
            failures[svc.name] = exc

    for svc in services:
        needed = [name for name in waits_for(svc.name) if name in threads]
        threads[svc.name] = threading.Thread(
            target=run, args=(svc, needed), name=f"stack-{svc.name}", daemon=True
        )
        threads[svc.name].start()
    for thread in threads.values():
        thread.join()
    for svc in services:
        if svc.name in failures:
            raise failures[svc.name]


def up(settings: Settings, names: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    """Start the services (all, or ``names``) and wait until each answers.

    Independent services start together (Kafka, the Thrift server, the dashboard and Airflow
    each spend most of their start-up in one thread), a service that needs another once that one
    answers. Every service is waited for; the first failure, in the stack's order, is raised.
    """
    jars.ensure_jars(settings)

    def start_one(svc: Service) -> None:
        begin = time.monotonic()
        echo(f"{svc.name:<10} starting...")
        word = start(settings, svc)
        echo(
            f"{svc.name:<10} {word} in {time.monotonic() - begin:.1f}s  "
            f"{svc.url(settings) if svc.url else ''}  (log: {log_file(settings, svc.name)})"
        )

    chosen = [svc for svc in SERVICES if not names or svc.name in names]
    _side_by_side(chosen, start_one, lambda name: NEEDS.get(name, ()))


def down(settings: Settings, names: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    """Stop the services (all, or ``names``) side by side, each before those it needs."""

    def needed_by(name: str) -> tuple[str, ...]:
        return tuple(user for user, needs in NEEDS.items() if name in needs)

    chosen = [svc for svc in reversed(SERVICES) if not names or svc.name in names]
    _side_by_side(chosen, lambda svc: echo(f"{svc.name:<10} {stop(settings, svc.name)}"), needed_by)


def _address(settings: Settings, svc: Service) -> str:
    port = svc.port(settings)
    return "-" if port is None else f"{svc.host(settings)}:{port}"


def status(settings: Settings) -> list[dict[str, object]]:
    rows = []
    for svc in SERVICES:
        pid = read_pid(settings, svc.name)
        rows.append(
            {
                "service": svc.name,
                "pid": pid,
                "address": _address(settings, svc),
                "health": ("up" if svc.healthy(settings) else "not answering") if pid else "stopped",
                "rss_mb": round(rss_bytes(pid) / 2**20) if pid else 0,
                "log": str(log_file(settings, svc.name)),
            }
        )
    return rows
