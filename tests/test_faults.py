"""Faults on the real services: what a failure says, what it leaves behind, and the recovery.

- The Spark Thrift Server killed (SIGKILL of its process group) while `ventes transform` runs
  `dbt build`: one line on stderr and a non-zero exit, every Silver table still at its previous
  Delta version; once the server is back, the next build completes and counts are conserved.
- The Kafka broker stopped under `python -m ingestion.job --follow`: the job says Kafka is
  unreachable, keeps running, says when it is back, and ingests what was produced after; Bronze
  holds every sale exactly once.

Each test starts private services (own VENTES_HOME, lake and reserved ports): the session's
shared broker and Thrift server are never stopped.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestration.tasks import silver_versions
from stack import processes
from tests.dbt.bronze import Topic, first_batch, second_batch, write_batch
from tests.ports import reserve_port, reserve_ports, start_service
from transformation import dbt
from ventes import delta
from ventes.settings import Settings
from ventes.spark import child_env

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


class Lines:
    """A child's merged output, read line by line in a thread, so a test can wait for a line."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def since(self, start: int) -> list[str]:
        with self._lock:
            return self.lines[start:]

    def __len__(self) -> int:
        with self._lock:
            return len(self.lines)

    def text(self) -> str:
        return "\n".join(self.since(0))

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)


# --- the Thrift server killed during dbt build -----------------------------------------------


@pytest.fixture
def private_thrift(test_env: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Spark Thrift Server of this test's own: home, metastore, lake and port."""
    settings = dataclasses.replace(
        test_env, home=tmp_path / "home", delta_root=tmp_path / "delta", thrift_port=reserve_port()
    )
    settings = start_service(settings, "thrift")
    try:
        yield settings
    finally:
        processes.stop(settings, "thrift")


def ventes_transform(settings: Settings) -> None:
    """`ventes transform` as a user runs it, to success."""
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "transform"],
        env=settings.env_for_children(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_thrift_killed_during_dbt_build(private_thrift: Settings, spark) -> None:
    settings = private_thrift
    topic = Topic()
    write_batch(spark, str(settings.bronze_path), first_batch(topic))
    # The tables' last good version: the models alone (`dbt run`), their data tests being what
    # the builds below run.
    dbt.check(dbt.run(settings, "run", echo=lambda line: None))
    before = silver_versions(settings)
    assert None not in before.values(), before

    # New Bronze rows: a build that completed would commit a new version of every table.
    write_batch(spark, str(settings.bronze_path), second_batch(topic))
    transform = subprocess.Popen(
        [sys.executable, "-m", "stack.cli", "transform"],
        env=settings.env_for_children(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    out, err = Lines(transform.stdout), Lines(transform.stderr)
    try:
        # Killed as soon as dbt starts the first Silver model: the server is writing Delta files.
        wait_for(
            lambda: (
                transform.poll() is not None
                or any("START" in line and "silver.ventes_clean" in line for line in out.since(0))
            ),
            600,
            "dbt to start building silver.ventes_clean",
        )
        assert transform.poll() is None, out.text() + err.text()
        thrift_pid = processes.read_pid(settings, "thrift")
        assert thrift_pid is not None
        os.killpg(thrift_pid, signal.SIGKILL)
        returncode = transform.wait(timeout=600)
    finally:
        if transform.poll() is None:
            os.killpg(transform.pid, signal.SIGKILL)
            transform.wait()
    out.join()
    err.join()

    errors = [line for line in err.since(0) if line.strip()]
    assert returncode == 1, out.text() + err.text()
    assert len(errors) == 1, errors
    assert errors[0].startswith("ventes transform: error: "), errors
    assert "Thrift" in errors[0] and f"{settings.thrift_host}:{settings.thrift_port}" in errors[0], errors
    assert "Traceback" not in out.text() + err.text()
    assert silver_versions(settings) == before

    # `ventes up` (here: the service alone) brings the server back; the next run completes.
    processes.stop(settings, "thrift")  # removes the pid file of the killed server
    start_service(settings, "thrift")
    ventes_transform(settings)
    after = silver_versions(settings)
    assert all(after[name] > before[name] for name in before), (before, after)
    [quality] = delta.query(settings.silver_path("pipeline_quality"), "select * from t")
    bronze_rows = delta.query(settings.bronze_path, "select count(*) as n from t")[0]["n"]
    assert quality["bronze_rows"] == bronze_rows == len(topic.records)
    assert quality["bronze_rows"] == (
        quality["valid_sales"] + quality["rejected_rows"] + quality["duplicates_dropped"]
    )


# --- the Kafka broker stopped under the following Bronze job ---------------------------------

FIRST_SALES = 300
LATER_SALES = 200


def bronze_count(settings: Settings) -> int:
    table = delta.open_table(settings.bronze_path)
    return 0 if table is None else delta.rows(table, "select count(*) as n from t")[0]["n"]


@pytest.fixture
def private_kafka(test_env: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A broker of this test's own (home, data dir, ports), and a lake of its own."""
    broker, controller = reserve_ports(2)
    settings = dataclasses.replace(
        test_env,
        home=tmp_path / "home",
        delta_root=tmp_path / "delta",
        kafka_bootstrap_servers=f"127.0.0.1:{broker}",
        kafka_controller_port=controller,
    )
    settings = start_service(settings, "kafka")
    try:
        yield settings
    finally:
        processes.stop(settings, "kafka")


def test_broker_stopped_under_the_following_job(private_kafka: Settings, tmp_path: Path) -> None:
    from ingestion.producer import produce

    settings = private_kafka
    env = child_env(settings)
    env["PYTHONUNBUFFERED"] = "1"
    job = subprocess.Popen(
        [sys.executable, "-m", "ingestion.job", "--follow"],
        env=env,
        cwd=settings.project_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: the JVM goes with it
    )
    out = Lines(job.stdout)
    try:
        assert produce(settings, FIRST_SALES, seed=7, progress=False).acknowledged == FIRST_SALES
        wait_for(
            lambda: job.poll() is not None or bronze_count(settings) >= FIRST_SALES,
            600,
            "Bronze to hold the first sales",
        )
        assert job.poll() is None, out.text()

        # Marked before the stop: the job may say so while the broker is still stopping.
        mark = len(out)
        assert processes.stop(settings, "kafka") == "stopped"
        wait_for(
            lambda: job.poll() is not None or any("unreachable" in line for line in out.since(mark)),
            180,
            "the job to say that Kafka is unreachable",
        )
        assert job.poll() is None, out.text()
        [gone] = [line for line in out.since(mark) if "unreachable" in line]
        assert "Kafka" in gone and settings.kafka_bootstrap_servers in gone

        # The same broker again: same port, same data directory.
        mark = len(out)
        processes.start(settings, processes.service("kafka"))
        wait_for(
            lambda: job.poll() is not None or any("answers again" in line for line in out.since(mark)),
            180,
            "the job to say that Kafka is back",
        )
        assert job.poll() is None, out.text()
        assert produce(settings, LATER_SALES, seed=8, progress=False).acknowledged == LATER_SALES
        total = FIRST_SALES + LATER_SALES
        wait_for(
            lambda: job.poll() is not None or bronze_count(settings) >= total,
            600,
            "Bronze to hold the sales produced after the broker came back",
        )
        assert job.poll() is None, out.text()
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=180) == 0, out.text()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    out.join()
    assert "Traceback" not in out.text(), out.text()

    table = delta.open_table(settings.bronze_path)
    [counts] = delta.rows(
        table,
        'select count(*) as n, count(distinct concat("partition", \':\', "offset")) as distinct_offsets, '
        "sum(case when parse_status = 'ok' then 1 else 0 end) as ok from t",
    )
    assert counts == {"n": total, "distinct_offsets": total, "ok": total}
