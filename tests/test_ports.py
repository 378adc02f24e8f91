"""The port allocator of the test harness (tests/ports.py), and its retry of a service whose port
another program took (the dashboard under gunicorn: no JVM)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stack import processes
from tests import ports
from tests.environment import env_overrides
from ventes import settings as settings_module
from ventes.net import port_open
from ventes.settings import PROJECT_ROOT


def run_python(code: str) -> subprocess.Popen[str]:
    """Another process using the allocator (as an xdist worker or another session would)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def test_ports_are_distinct_free_and_outside_the_ephemeral_range() -> None:
    got = ports.reserve_ports(5)
    try:
        assert len(set(got)) == 5
        ephemeral = ports.ephemeral_range()
        for port in got:
            assert port in ports.BLOCK and port not in ephemeral
            assert ports._binds(port)
    finally:
        for port in got:
            ports.release(port)


def test_block_avoids_an_overlapping_ephemeral_range(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "ip_local_port_range"
    fake.write_text(f"{ports.BLOCK.start}\t{ports.BLOCK.stop - 101}\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", fake)
    assert sorted(ports._candidates()) == list(range(ports.BLOCK.stop - 100, ports.BLOCK.stop))
    fake.write_text(f"1024 {ports.BLOCK.stop}\n")
    with pytest.raises(RuntimeError, match="outside the ephemeral range"):
        ports._candidates()


def test_a_listening_port_is_never_handed_out(monkeypatch) -> None:
    port = ports.reserve_port()
    ports.release(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        monkeypatch.setattr(ports, "BLOCK", range(port, port + 1))
        with pytest.raises(RuntimeError, match="only 0 of 1 ports free"):
            ports.reserve_port()


def test_a_reserved_port_is_not_handed_to_another_process_until_released(monkeypatch) -> None:
    port = ports.reserve_port()
    probe = f"""
        from tests import ports
        ports.BLOCK = range({port}, {port} + 1)
        try:
            print(ports.reserve_port())
        except RuntimeError:
            print("refused")
    """
    assert output(run_python(probe)).strip() == "refused"
    ports.release(port)
    assert output(run_python(probe)).strip() == str(port)
    # The other process has exited: its reservation ended with it.
    monkeypatch.setattr(ports, "BLOCK", range(port, port + 1))
    assert ports.reserve_port() == port
    ports.release(port)


def test_concurrent_processes_never_share_a_port() -> None:
    """Four processes take 15 ports each from the same 80: no port twice (without the locks,
    each would start at its own random place and collide)."""
    base = ports.reserve_port()
    ports.release(base)
    base = min(base, ports.BLOCK.stop - 80)
    code = f"""
        import json, sys
        from tests import ports
        ports.BLOCK = range({base}, {base} + 80)
        print(json.dumps(ports.reserve_ports(15)), flush=True)
        sys.stdin.read()  # hold them until every process has picked
    """
    procs = [run_python(code) for _ in range(4)]
    taken = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        output(p)  # closes its stdin: it exits and releases its ports
    every = [port for got in taken for port in got]
    assert len(every) == 60 and len(set(every)) == 60


def test_a_service_whose_port_is_taken_restarts_on_another(tmp_path: Path) -> None:
    """Another program took the port between the reservation and the start (bound, not yet
    listening, so the check before the start misses it): the dashboard's gunicorn exits on it,
    which is said in one line naming the port, and the harness starts it on a fresh port."""
    port = ports.reserve_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        with env_overrides(VENTES_HOME=str(tmp_path / "home"), DELTA_ROOT=str(tmp_path / "delta"),
                           DASHBOARD_HOST="127.0.0.1", DASHBOARD_PORT=str(port)):  # fmt: skip
            settings = settings_module.load()
            with pytest.warns(UserWarning) as warned:
                running = ports.start_service(settings, "dashboard")
            [message] = [str(w.message) for w in warned if w.category is UserWarning]
            assert re.match(
                rf"dashboard: port 127\.0\.0\.1:{port} is taken by another program \(it exited during "
                rf"start-up\); see .*dashboard\.log: .*Connection in use.*retrying on another port",
                message,
            ), message
            assert "\n" not in message
            try:
                assert running.dashboard_port != port
                assert running.dashboard_port in ports.held()
                assert port_open("127.0.0.1", running.dashboard_port)
            finally:
                processes.stop(running, "dashboard")
