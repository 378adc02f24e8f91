"""The following Bronze job as others see it: its heartbeat, the checkpoint's committed offsets,
and a one-off ingestion waiting for it (no Spark, no broker: Kafka's offsets are given)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from ingestion import offsets, streaming
from ventes.errors import VentesError
from ventes.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    from ventes import settings as settings_module

    monkeypatch.setenv("VENTES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DELTA_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("KAFKA_TOPIC", "ventes_stream")
    return settings_module.load()


def write_batch(settings: Settings, batch: int, offsets: dict[str, int], committed: bool = True) -> None:
    """A micro-batch as Structured Streaming records it in the checkpoint."""
    for folder in ("offsets", "commits"):
        (settings.checkpoint_dir / folder).mkdir(parents=True, exist_ok=True)
    metadata = {"batchWatermarkMs": 0, "batchTimestampMs": 0, "conf": {}}
    lines = ["v1", json.dumps(metadata), json.dumps({settings.kafka_topic: offsets})]
    (settings.checkpoint_dir / "offsets" / str(batch)).write_text("\n".join(lines))
    if committed:
        (settings.checkpoint_dir / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_committed_offsets_are_those_of_the_last_committed_batch(settings: Settings) -> None:
    assert streaming.committed_offsets(settings) == {}
    write_batch(settings, 0, {"0": 10, "1": 4})
    write_batch(settings, 1, {"0": 12, "1": 9})
    write_batch(settings, 2, {"0": 30, "1": 30}, committed=False)  # planned, not yet in Bronze
    (settings.checkpoint_dir / "commits" / ".1.crc").write_text("")
    assert streaming.committed_offsets(settings) == {0: 12, 1: 9}


@pytest.mark.parametrize(
    ("target", "done", "missing"),
    [
        ({0: (0, 10), 1: (0, 5)}, {0: 10, 1: 5}, 0),
        ({0: (0, 10), 1: (0, 5)}, {0: 7}, 3 + 5),
        ({0: (8, 10)}, {}, 2),  # retention deleted offsets 0..7: only what Kafka holds counts
        ({0: (0, 0)}, {}, 0),  # an empty partition
        ({0: (0, 10)}, {0: 12}, 0),  # the job is ahead of the snapshot
    ],
)
def test_missing_offsets(target: dict, done: dict, missing: int) -> None:
    assert streaming.missing_offsets(target, done) == missing


def test_heartbeat_tells_a_live_job_from_a_gone_one(settings: Settings) -> None:
    assert streaming.following_job(settings) is None
    streaming.beat(settings)
    job = streaming.following_job(settings)
    assert job is not None and job.pid == os.getpid()

    stale = {"pid": os.getpid(), "host": job.host, "updated_at": time.time() - 60}
    streaming.heartbeat_file(settings).write_text(json.dumps(stale))
    assert streaming.following_job(settings) is None

    # Killed on this host: gone at once, without waiting for the heartbeat to age.
    dead = {"pid": 2**22 + 12345, "host": job.host, "updated_at": time.time()}
    streaming.heartbeat_file(settings).write_text(json.dumps(dead))
    assert streaming.following_job(settings) is None

    streaming.heartbeat_file(settings).write_text("{not json")
    assert streaming.following_job(settings) is None


def test_clear_removes_only_this_process_heartbeat(settings: Settings) -> None:
    streaming.beat(settings)
    streaming.clear(settings)
    assert not streaming.heartbeat_file(settings).exists()
    other = {"pid": 1, "host": "elsewhere", "updated_at": time.time()}
    streaming.heartbeat_file(settings).write_text(json.dumps(other))
    streaming.clear(settings)
    assert streaming.heartbeat_file(settings).exists()


def test_catch_up_waits_for_the_job_to_commit_what_kafka_holds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offsets, "kafka_offsets", lambda s: {0: (0, 20), 1: (0, 10)})
    write_batch(settings, 0, {"0": 5, "1": 10})
    streaming.beat(settings)

    def commit_later() -> None:
        time.sleep(0.5)
        write_batch(settings, 1, {"0": 20, "1": 10})

    worker = threading.Thread(target=commit_later)
    worker.start()
    lines: list[str] = []
    added = streaming.catch_up(settings, streaming.following_job(settings), timeout=30, echo=lines.append)
    worker.join()
    assert added == 15
    assert "15 offsets" in lines[0]


def test_catch_up_says_so_when_the_job_stops(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offsets, "kafka_offsets", lambda s: {0: (0, 20)})
    streaming.beat(settings)
    job = streaming.following_job(settings)
    streaming.clear(settings)
    with pytest.raises(VentesError, match="streaming job stopped while 20 offsets"):
        streaming.catch_up(settings, job, timeout=30, echo=lambda line: None)


def test_catch_up_gives_up_after_its_timeout(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offsets, "kafka_offsets", lambda s: {0: (0, 20)})
    streaming.beat(settings)
    with pytest.raises(VentesError, match="did not commit 20 offsets within 0s"):
        streaming.catch_up(settings, streaming.following_job(settings), timeout=0.3, echo=lambda line: None)
