"""SIGKILL the Bronze job again and again while it drains a backlog: no sale lost or doubled."""

from __future__ import annotations

import dataclasses
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

# Five kills, few rows to produce and parse, and still a backlog for the last run: a run is
# killed after 0 to MOST_BATCHES committed batches, then a random delay of at most a batch or
# two, so about KILLS * (MOST_BATCHES + 2) batches of BATCH are done before the last run.
BACKLOG = 30_000
BATCH = 1_000
KILLS = 5
MOST_BATCHES = 2
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


def _past(job: subprocess.Popen, log: Path, batches: int) -> bool:
    """The job has started and reported ``batches`` committed batches ("batch N: ..."), or exited."""
    if job.poll() is not None:
        return True
    output = log.read_text(errors="replace")
    return STARTED in output and sum(line.startswith("batch ") for line in output.splitlines()) >= batches


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
            after = rng.randint(0, MOST_BATCHES)
            _wait_for(
                partial(_past, job, log, after), 240, f"the job to start and commit {after} batches ({log})"
            )
            # Then somewhere in the next micro-batch: its read, its write or its commit.
            time.sleep(rng.uniform(0.0, 2.0))
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                kills += 1
        finally:
            job.wait(timeout=60)
        progress.append(_bronze_rows(spark, settings))
    assert kills == KILLS, f"the job finished before it could be killed {KILLS} times: {progress}"

    # The last run follows the topic and is stopped the polite way, as a service manager would.
    # It first redoes the batch the last kill interrupted, with the offsets that batch logged,
    # then takes the rest in one batch.
    log = tmp_path / "follow.log"
    job = _start_job(dataclasses.replace(settings, max_offsets_per_trigger=BACKLOG), log, "--follow")
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
