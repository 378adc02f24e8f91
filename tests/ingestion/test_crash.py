"""SIGKILL the Bronze job again and again while it drains a backlog: no sale lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from ingestion.producer import produce
from ventes.settings import Settings
from ventes.spark import child_env

BACKLOG = 200_000
BATCH = 20_000
KILLS = 5
STARTED = "ingesting "  # printed once the Spark session is up and the query about to start


def _start_job(settings: Settings, log: Path, *args: str) -> subprocess.Popen:
    env = child_env(settings)
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ingestion.job", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=settings.project_root,
            start_new_session=True,  # its own process group: the JVM dies with it
        )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _started(job: subprocess.Popen, log: Path) -> bool:
    return job.poll() is not None or STARTED in log.read_text(errors="replace")


def _bronze(spark, settings: Settings):
    return spark.read.format("delta").load(str(settings.bronze_path))


def _bronze_rows(spark, settings: Settings) -> int:
    try:
        return _bronze(spark, settings).count()
    except AnalysisException:  # no table before the first run has created it
        return 0


@pytest.mark.slow
def test_sigkill_at_random_points_then_every_offset_exactly_once(make_lake, spark, tmp_path: Path) -> None:
    settings = make_lake(MAX_OFFSETS_PER_TRIGGER=str(BATCH))
    produced = produce(settings, BACKLOG, seed=13, bad_ratio=0.02, progress=False)
    assert produced.acknowledged == BACKLOG
    rng = random.Random(20240101)

    kills, progress = 0, []
    for run in range(3 * KILLS):
        if kills == KILLS:
            break
        log = tmp_path / f"run{run}.log"
        job = _start_job(settings, log)
        try:
            _wait_for(partial(_started, job, log), 240, f"the job to start ({log})")
            time.sleep(rng.uniform(0.5, 6.0))  # somewhere in a micro-batch, its write or its commit
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                kills += 1
        finally:
            job.wait(timeout=60)
        progress.append(_bronze_rows(spark, settings))
    assert kills == KILLS, f"the job finished before it could be killed {KILLS} times: {progress}"

    # The last run follows the topic and is stopped the polite way, as a service manager would.
    log = tmp_path / "follow.log"
    job = _start_job(settings, log, "--follow")
    try:
        _wait_for(lambda: _bronze_rows(spark, settings) >= BACKLOG, 240, "Bronze to catch up")
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=120) == 0, log.read_text()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    output = log.read_text()
    assert "ingested " in output and "Traceback" not in output and "\tat " not in output

    rows = _bronze(spark, settings)
    assert rows.count() == BACKLOG
    assert rows.select("partition", "offset").distinct().count() == BACKLOG
    spans = rows.groupBy("partition").agg(F.min("offset"), F.max("offset"), F.count("*")).collect()
    for _, first, last, count in spans:
        assert (first, last - first + 1) == (0, count)  # every offset of the partition, once
    assert sum(count for *_, count in spans) == BACKLOG
