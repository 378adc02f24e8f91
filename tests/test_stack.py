"""The local stack runner's behaviour that needs no service: errors and bookkeeping."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import catalogue
from stack import local_airflow, processes
from tests.environment import env_overrides
from ventes import logfiles
from ventes import settings as settings_module
from ventes.errors import VentesError
from ventes.spark import child_env


def test_port_taken_is_one_clear_error(tmp_path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with env_overrides(VENTES_HOME=str(tmp_path), DASHBOARD_PORT=str(port)):
            s = settings_module.load()
            with pytest.raises(VentesError, match=rf"dashboard: port 127.0.0.1:{port} is taken"):
                processes.start(s, processes.service("dashboard"))


def test_service_that_dies_names_its_log(tmp_path) -> None:
    """A service exiting during start-up is reported with its port and log file."""
    failing = catalogue.Service(
        "broken",
        port=lambda s: 1,
        host=lambda s: "127.0.0.1",
        command=lambda s: [sys.executable, "-c", "import sys; print('ERROR: no luck'); sys.exit(3)"],
        healthy=lambda s: False,
        start_timeout=20,
    )
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        with pytest.raises(VentesError, match=r"broken exited during start-up.*broken\.log.*no luck"):
            processes.start(s, failing)
        assert processes.read_pid(s, "broken") is None


def test_stop_only_what_was_started(tmp_path) -> None:
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        assert processes.stop(s, "kafka") == "not running"
        sleeper = catalogue.Service(
            "sleeper",
            port=lambda s: 1,
            host=lambda s: "127.0.0.1",
            command=lambda s: [sys.executable, "-c", "import time; time.sleep(60)"],
            healthy=lambda s: True,
        )
        assert processes.start(s, sleeper) == "started"
        pid = processes.read_pid(s, "sleeper")
        assert pid is not None
        assert processes.stop(s, "sleeper") == "stopped"
        assert processes.read_pid(s, "sleeper") is None


def test_cli_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stack.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("up", "down", "status", "produce", "ingest", "transform", "run", "docs"):
        assert command in out


def test_cli_rejects_bad_count() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "produce", "--count", "-3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "must be a positive integer" in result.stderr


@pytest.mark.parametrize(
    ("line", "port", "named"),
    [
        ("org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:29093: "
         "Address already in use.", 29092, 29093),
        ("TTransportException: Could not create ServerSocket on address 127.0.0.1/127.0.0.1:21000.",
         21000, 21000),
        ("[ERROR] Connection in use: ('127.0.0.1', 25000)", 25000, 25000),
        ("ERROR: [Errno 98] error while attempting to bind on address ('127.0.0.1', 28080): address already "
         "in use", 28080, 28080),
        ("java.net.BindException: Address already in use", 21000, 21000),
    ],
)  # fmt: skip
def test_a_bind_failure_in_the_log_names_the_port(tmp_path, line: str, port: int, named: int) -> None:
    """Only what this start logged counts; the port is the one the failure names, else the service's."""
    log = tmp_path / "service.log"
    log.write_text("[earlier start] Address already in use 127.0.0.1:20001\n=== starting ===\n")
    since = log.stat().st_size
    assert processes._bind_failure(log, since, port) is None
    with log.open("a") as out:
        out.write(f"[2026-01-01 10:00:00,000] INFO starting (kafka.server.KafkaRaftServer)\n{line}\n")
    assert processes._bind_failure(log, since, port) == (named, line)


def _sleeper(name: str = "sleeper") -> catalogue.Service:
    return catalogue.Service(
        name,
        port=lambda s: None,
        host=lambda s: "-",
        command=lambda s: ["sleep", "60"],
        healthy=lambda s: True,
    )


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen]:
    """A process this test started itself, which no pid file of the stack may have claimed."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("recorded", ["{pid} 1", "{pid}", "{pid}\n"])
def test_a_stale_pid_file_never_gets_its_process_signalled(
    tmp_path: Path, stranger: subprocess.Popen, recorded: str
) -> None:
    """A pid reused by another program: another start time, or the old format (pid alone) with a
    command line that is not the service's. down stops nothing and forgets the pid file."""
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        s.run_dir.mkdir(parents=True)
        for name in ("dashboard", "bronze"):
            processes.pid_file(s, name).write_text(recorded.format(pid=stranger.pid))
        assert [r["health"] for r in processes.status(s) if r["service"] in ("dashboard", "bronze")] == [
            "stopped",
            "stopped",
        ]
        assert processes.stop(s, "dashboard") == "not running"
        processes.down(s, ["bronze"], echo=lambda line: None)
        assert stranger.poll() is None
        assert not processes.pid_file(s, "dashboard").exists()
        assert not processes.pid_file(s, "bronze").exists()


def test_the_pid_file_names_the_process_by_its_start_time(tmp_path: Path) -> None:
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        assert processes.start(s, _sleeper()) == "started"
        pid, started = processes.pid_file(s, "sleeper").read_text().split()
        assert int(pid) == processes.read_pid(s, "sleeper")
        assert started == processes._start_time(int(pid))
        assert processes.stop(s, "sleeper") == "stopped"


def test_an_old_pid_file_of_a_service_started_here_is_still_stopped(tmp_path: Path) -> None:
    """The former format (pid alone) names a service started by ``start``: a session leader
    working in VENTES_HOME."""
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        s.run_dir.mkdir(parents=True)
        proc = subprocess.Popen(["sleep", "60"], cwd=s.home, start_new_session=True)
        try:
            processes.pid_file(s, "sleeper").write_text(str(proc.pid))
            assert processes.read_pid(s, "sleeper") == proc.pid
            assert processes.stop(s, "sleeper") == "stopped"
            assert proc.wait(timeout=10) is not None
        finally:
            proc.kill()
            proc.wait()


def test_home_is_private_and_logs_rotate_on_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VENTES_HOME is made 0700; a log past MAX_BYTES becomes <name>.log.1 (.1 becomes .2, ...,
    the oldest beyond KEEP dropped) when its service starts again."""
    monkeypatch.setattr(logfiles, "MAX_BYTES", 100)
    with env_overrides(VENTES_HOME=str(tmp_path / "home")):
        s = settings_module.load()
        log = processes.log_file(s, "sleeper")
        assert processes.start(s, _sleeper()) == "started"
        assert stat.S_IMODE(s.home.stat().st_mode) == 0o700
        processes.stop(s, "sleeper")
        assert not logfiles.backup(log, 1).exists()  # small: kept, appended to
        with log.open("a") as out:
            out.write("first run\n" * 20)
        for n in range(1, logfiles.KEEP + 1):
            logfiles.backup(log, n).write_text(f"copy {n}\n")
        assert processes.start(s, _sleeper()) == "started"
        processes.stop(s, "sleeper")
        assert "first run" not in log.read_text() and "=== starting sleeper" in log.read_text()
        assert "first run" in logfiles.backup(log, 1).read_text()
        copies = [logfiles.backup(log, n).read_text() for n in range(2, logfiles.KEEP + 1)]
        assert copies == [f"copy {n}\n" for n in range(1, logfiles.KEEP)]
        assert not logfiles.backup(log, logfiles.KEEP + 1).exists()


# Writes its file at once, then stays long enough for its two siblings to write theirs before
# the first one to exit makes the supervisor stop the others.
FAKE_AIRFLOW = """#!/bin/sh
echo "$1" > "$AIRFLOW_HOME/$1.out"
exec sleep 3
"""


def test_airflow_service_writes_private_files_and_rotates_its_logs(tmp_path: Path) -> None:
    """The Airflow supervisor runs its components with umask 077 (their files: owner only) and
    rotates their logs. A stand-in ``airflow`` that writes a file and exits plays the components."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "airflow").write_text(FAKE_AIRFLOW)
    (fake / "airflow").chmod(0o755)
    with env_overrides(VENTES_HOME=str(tmp_path / "home")):
        s = settings_module.load()
        s.log_dir.mkdir(parents=True)
        s.airflow_home.mkdir()
        big = local_airflow.component_log(s, "scheduler")
        big.write_text("x" * 200)
        probe = (
            "from pathlib import Path\n"
            "from stack import local_airflow\nfrom ventes import logfiles, settings\n"
            f"local_airflow.BIN = Path({str(fake)!r})\nlogfiles.MAX_BYTES = 100\n"
            "local_airflow.serve(settings.load(), poll=0.1, grace=5)\n"
        )
        # Its own session: serve() kills what is left in its process group when it stops.
        subprocess.run(
            [sys.executable, "-c", probe],
            env=child_env(s),
            start_new_session=True,
            timeout=60,
            check=False,
        )
        outputs = sorted(s.airflow_home.glob("*.out"))
        assert [p.name for p in outputs] == [f"{c}.out" for c in sorted(local_airflow.COMPONENTS)]
        for path in [*outputs, *(local_airflow.component_log(s, c) for c in local_airflow.COMPONENTS)]:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        assert logfiles.backup(big, 1).read_text() == "x" * 200


def _waiting_service(name: str, ready, prepared: list[str], answered: set[str]) -> catalogue.Service:
    """A sleeper that answers once ``ready()``; records its name when prepared to start."""

    def healthy(settings: settings_module.Settings) -> bool:
        if ready():
            answered.add(name)
            return True
        return False

    return catalogue.Service(
        name,
        port=lambda s: None,
        host=lambda s: "-",
        command=lambda s: ["sleep", "60"],
        healthy=healthy,
        prepare=lambda s: prepared.append(f"{name} after {sorted(answered)}"),
        start_timeout=30,
    )


def test_up_starts_services_side_by_side_and_bronze_once_kafka_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[str] = []
    answered: set[str] = set()
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()

        def running(name: str):
            return lambda: processes.read_pid(s, name) is not None

        # Each of the two answers only once the other runs: started one after the other, the
        # first would wait out its start_timeout.
        services = [
            _waiting_service("kafka", running("thrift"), prepared, answered),
            _waiting_service("thrift", running("kafka"), prepared, answered),
            _waiting_service("bronze", lambda: True, prepared, answered),
        ]
        monkeypatch.setattr(processes, "SERVICES", services)
        monkeypatch.setattr(processes.jars, "ensure_jars", lambda settings: None)
        printed: list[str] = []
        stopped: list[str] = []
        try:
            processes.up(s, echo=printed.append)
            processes.down(s, echo=stopped.append)
        finally:
            for svc in services:
                processes.stop(s, svc.name)
    assert {line.split()[0] for line in printed if " started in " in line} == {"kafka", "thrift", "bronze"}
    bronze = next(p for p in prepared if p.startswith("bronze"))
    assert "kafka" in bronze, prepared  # the Bronze job starts once Kafka answers
    order = [line.split()[0] for line in stopped if line.endswith(" stopped")]
    assert sorted(order) == ["bronze", "kafka", "thrift"]
    assert order.index("bronze") < order.index("kafka")  # and stops before it


def test_up_reports_a_failed_service_and_starts_nothing_that_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[str] = []
    answered: set[str] = set()
    broken = catalogue.Service(
        "kafka",
        port=lambda s: None,
        host=lambda s: "-",
        command=lambda s: [sys.executable, "-c", "import sys; print('ERROR: no broker'); sys.exit(3)"],
        healthy=lambda s: False,
        start_timeout=30,
    )
    services = [
        broken,
        _waiting_service("dashboard", lambda: True, prepared, answered),
        _waiting_service("bronze", lambda: True, prepared, answered),
    ]
    monkeypatch.setattr(processes, "SERVICES", services)
    monkeypatch.setattr(processes.jars, "ensure_jars", lambda settings: None)
    with env_overrides(VENTES_HOME=str(tmp_path)):
        s = settings_module.load()
        try:
            with pytest.raises(VentesError, match=r"kafka exited during start-up.*no broker"):
                processes.up(s, echo=lambda line: None)
            assert processes.read_pid(s, "dashboard") is not None  # independent: started anyway
        finally:
            processes.stop(s, "dashboard")
    assert [p.split()[0] for p in prepared] == ["dashboard"]  # never the Bronze job
