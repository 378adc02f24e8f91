"""The long-running Bronze job (``ventes ingest --follow``, the ``bronze`` service) as others see it.

A following job writes a heartbeat beside its checkpoint every second. While one is alive, a
one-off ingestion (``ventes ingest``, ``ventes run``, Airflow's ``run_bronze_processing``) does
not start a second Spark application on the same checkpoint: it notes the offsets Kafka holds
now and waits until the checkpoint says they are committed to Bronze. That costs the wait for
one micro-batch instead of a JVM and a Spark session per run.

Everything here reads files and asks Kafka for offsets: no Spark, so it is cheap to import.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ventes.errors import VentesError
from ventes.net import pid_alive
from ventes.settings import Settings

# A heartbeat older than this means the following job is gone (killed, or its host is down).
HEARTBEAT_STALE_AFTER = 15.0
CATCH_UP_TIMEOUT = 600.0


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    host: str
    updated_at: float

    @property
    def age(self) -> float:
        return time.time() - self.updated_at


def heartbeat_file(settings: Settings) -> Path:
    # Beside the checkpoint (on the lake, shared by a cluster's containers), not inside it.
    return settings.checkpoint_dir.with_name(settings.checkpoint_dir.name + ".heartbeat")


def beat(settings: Settings) -> None:
    """Record that this process follows the topic now (atomically: readers never see half)."""
    path = heartbeat_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time()}
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(payload))
    partial.replace(path)


def clear(settings: Settings) -> None:
    """Remove this process's heartbeat (a clean stop)."""
    found = read_heartbeat(settings)
    if found is not None and found.pid == os.getpid() and found.host == socket.gethostname():
        heartbeat_file(settings).unlink(missing_ok=True)


def read_heartbeat(settings: Settings) -> Heartbeat | None:
    try:
        payload = json.loads(heartbeat_file(settings).read_text())
        return Heartbeat(int(payload["pid"]), str(payload["host"]), float(payload["updated_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def following_job(settings: Settings) -> Heartbeat | None:
    """The following job's heartbeat if it is alive, else None."""
    found = read_heartbeat(settings)
    if found is None or found.age > HEARTBEAT_STALE_AFTER:
        return None
    if found.host == socket.gethostname() and not pid_alive(found.pid):
        return None  # killed on this host: no need to wait for the heartbeat to age
    return found


def committed_offsets(settings: Settings) -> dict[int, int]:
    """``partition -> next offset`` of the last micro-batch the checkpoint marks committed.

    Structured Streaming writes ``offsets/<n>`` (the batch's end offsets) before the batch and
    ``commits/<n>`` after the Delta sink committed it, so these offsets are all in Bronze.
    """
    commits = settings.checkpoint_dir / "commits"
    batches = [int(p.name) for p in _listdir(commits) if p.name.isdigit()]
    if not batches:
        return {}
    lines = (settings.checkpoint_dir / "offsets" / str(max(batches))).read_text().splitlines()
    for line in lines[2:]:  # version, batch metadata, then one line per source
        offsets = json.loads(line).get(settings.kafka_topic)
        if offsets is not None:
            return {int(partition): int(offset) for partition, offset in offsets.items()}
    return {}


def _listdir(path: Path) -> list[Path]:
    with contextlib.suppress(FileNotFoundError):
        return list(path.iterdir())
    return []


def missing_offsets(target: dict[int, tuple[int, int]], done: dict[int, int]) -> int:
    """Offsets of ``target`` (``partition -> (earliest, end)``) that ``done`` has not reached."""
    return sum(
        max(0, end - max(done.get(partition, earliest), earliest))
        for partition, (earliest, end) in target.items()
    )


def catch_up(
    settings: Settings,
    job: Heartbeat,
    timeout: float = CATCH_UP_TIMEOUT,
    echo: Callable[[str], None] = print,
) -> int:
    """Wait until the following job has committed everything Kafka holds now.

    Returns the number of offsets committed meanwhile. Raises VentesError when the job stops
    beating or the wait exceeds ``timeout``.
    """
    from ingestion.offsets import kafka_offsets

    target = kafka_offsets(settings)
    before = committed_offsets(settings)
    left = missing_offsets(target, before)
    echo(
        f"the Bronze streaming job (pid {job.pid} on {job.host}) is running: waiting until it has "
        f"committed the {left:,} offsets of {settings.kafka_topic} not yet in Bronze"
    )
    begin = time.monotonic()
    shown = begin
    while left:
        if following_job(settings) is None:
            raise VentesError(
                f"the Bronze streaming job stopped while {left:,} offsets were still to ingest "
                f"(its log: {settings.log_dir / 'bronze.log'}); start it again with `ventes up bronze`"
            )
        if time.monotonic() - begin > timeout:
            raise VentesError(
                f"the Bronze streaming job did not commit {left:,} offsets within {timeout:.0f}s; "
                f"see {settings.log_dir / 'bronze.log'}"
            )
        time.sleep(0.2)
        left = missing_offsets(target, committed_offsets(settings))
        if time.monotonic() - shown > 10:
            echo(f"  {left:,} offsets still to commit")
            shown = time.monotonic()
    return missing_offsets(target, before)
