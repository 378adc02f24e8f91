"""The Bronze job: Kafka -> ``DELTA_ROOT/bronze/ventes_raw`` with Spark Structured Streaming.

One code path, two triggers: ``availableNow`` drains what Kafka holds and stops (Airflow,
``ventes ingest``); ``processingTime`` keeps streaming until SIGINT/SIGTERM (``--follow``).
Exactly once into Delta: the same checkpoint every run, ``failOnDataLoss`` on, and the Delta
sink's idempotent commit per micro-batch. ``maxOffsetsPerTrigger`` bounds every batch.

When the checkpoint is missing but Bronze already holds rows of the topic (a checkpoint
deleted by hand), the stream starts right after the last offset Bronze has, not at the
earliest one, so nothing is ingested twice.

When Kafka's retention has deleted offsets the checkpoint still needs, the job stops with one
message. ``--skip-lost-offsets`` then accepts the gap knowingly: the old checkpoint is moved
aside (kept), and a new one starts at the oldest offsets Kafka still holds, after the ones
Bronze has; each skipped range is printed.

Run as ``python -m ingestion.job [--follow] [--skip-lost-offsets]`` (Airflow, crash tests) or
through ``ventes ingest``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from ingestion import offsets, session, streaming
from ingestion.bronze import BRONZE_PROPERTIES, BRONZE_SCHEMA, to_bronze
from ingestion.producer import check_reachable, unreachable
from ventes.contract import BRONZE_PARTITION_COLUMN
from ventes.delta import open_table, query
from ventes.errors import VentesError
from ventes.settings import Settings

# Short: a one-off ingestion waiting on the following job waits about this long for a batch.
FOLLOW_INTERVAL = "1 second"
# How often a following job checks that a Kafka broker still answers.
KAFKA_CHECK_SECONDS = 5.0
DATA_LOSS_MARKERS = (
    "KAFKA_DATA_LOSS",
    "Some data may have been lost",
    "some data may have been missed",
    "data was aged out",
)


@dataclass(frozen=True)
class IngestReport:
    rows_added: int
    seconds: float
    batches: int
    rows_per_second: float
    bronze_rows: int | None  # None when the following job ingested (nothing counted Bronze)


def ensure_bronze_table(settings: Settings) -> None:
    """Create the empty Bronze table by path with its explicit schema and properties, unless it
    exists; give a table made before them the properties it lacks (one commit, once).

    Done on the Delta log with ``deltalake``, without Spark: a table's first Delta command in a
    new JVM costs seconds, which the job would pay before its first batch.
    """
    from deltalake import DeltaTable, Schema
    from deltalake.exceptions import DeltaError

    existing = open_table(settings.bronze_path)
    if existing is None:
        try:
            DeltaTable.create(
                str(settings.bronze_path),
                # Spark's JSON of a schema is the Delta log's schema string: the same columns.
                Schema.from_json(BRONZE_SCHEMA.json()),
                partition_by=[BRONZE_PARTITION_COLUMN],
                description="Every Kafka record of the sales topic, exactly once, with its raw bytes",
                configuration=BRONZE_PROPERTIES,
            )
            return
        except DeltaError:
            existing = open_table(settings.bronze_path)  # another job created it just now
            if existing is None:
                raise
    properties = existing.metadata().configuration
    # A value set on the table by its owner stays: only an absent property is added.
    missing = {k: v for k, v in BRONZE_PROPERTIES.items() if k not in properties}
    if missing:
        existing.alter.set_table_properties(missing)


def _user_error(settings: Settings, exc: BaseException) -> VentesError:
    """One line for a Spark/Kafka failure; the stack trace goes to the log file."""
    text = str(exc)
    if any(marker in text for marker in DATA_LOSS_MARKERS):
        return offsets.data_loss_error(settings)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return VentesError(
        f"ingestion into {settings.bronze_path} failed: {first[:300]} "
        f"(details in {session.log_file(settings)})"
    )


def _log_exception(settings: Settings, exc: BaseException) -> None:
    import traceback

    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with open(session.log_file(settings), "a") as out:
        out.write(f"{datetime.now(UTC).isoformat()} ERROR ingestion.job: {exc!r}\n")
        traceback.print_exception(exc, file=out)


@contextmanager
def _stop_on_signals(follow: bool) -> Iterator[threading.Event]:
    """In follow mode, SIGINT and SIGTERM ask the loop to stop the query cleanly."""
    stop = threading.Event()
    if not follow or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_query(spark, settings: Settings, follow: bool, starting_offsets: str):
    kafka = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", starting_offsets)
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .load()
    )
    writer = (
        to_bronze(kafka)
        .writeStream.format("delta")
        .outputMode("append")
        .partitionBy(BRONZE_PARTITION_COLUMN)
        .option("checkpointLocation", str(settings.checkpoint_dir))
        .queryName(session.APP_NAME)
    )
    writer = writer.trigger(processingTime=FOLLOW_INTERVAL) if follow else writer.trigger(availableNow=True)
    return writer.start(str(settings.bronze_path))


class _Progress:
    """Prints each micro-batch that brought rows, from the query's own record of its progress.

    Polled (one JSON a poll) rather than heard through a Python ``StreamingQueryListener``:
    PySpark hands a listener each event converted field by field over Py4J, whose name lookups
    search every jar of the classpath (a tenth of the job JVM's samples in a profile).
    """

    def __init__(self) -> None:
        self.batches = 0
        self._printed = -1  # the last batch printed
        self._seen: str | None = None  # the start time of the last progress seen

    def poll(self, query) -> None:
        last = query.lastProgress
        if last is None or last.timestamp == self._seen:
            return
        self._seen = last.timestamp
        if last.batchId <= self._printed:  # an idle trigger's update
            return
        # Several batches since the last poll: the query keeps its recent updates.
        for progress in [last] if last.batchId == self._printed + 1 else query.recentProgress:
            if progress.numInputRows and progress.batchId > self._printed:
                self._printed = progress.batchId
                self.batches += 1
                print(
                    f"batch {progress.batchId}: {progress.numInputRows:,} rows "
                    f"({progress.processedRowsPerSecond:,.0f} rows/s)",
                    flush=True,
                )


class _KafkaWatch:
    """In follow mode, one line when no Kafka broker answers any more and one when one is back:
    Spark's consumer retries quietly meanwhile, so without it the job would just go silent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reachable = True
        self.next_check = 0.0

    def check(self) -> None:
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + KAFKA_CHECK_SECONDS
        try:
            check_reachable(self.settings)
            reachable = True
        except VentesError:
            reachable = False
        if reachable == self.reachable:
            return
        self.reachable = reachable
        servers = self.settings.kafka_bootstrap_servers
        if reachable:
            print(f"Kafka at {servers} answers again: the stream goes on from its checkpoint", flush=True)
        else:
            print(
                f"Kafka at {servers} is unreachable: waiting for a broker to come back "
                "(nothing is lost, the stream resumes from its checkpoint)",
                flush=True,
            )


def _stop_between_batches(query, timeout: float = 120.0) -> None:
    """Stop once the running micro-batch (if any) has committed, so its work is not redone."""
    print("stopping after the current micro-batch...", flush=True)
    deadline = time.monotonic() + timeout
    while query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def _run(
    spark, settings: Settings, follow: bool, skip_lost: bool, stop: threading.Event
) -> tuple[int, float]:
    """Run the query until drained (or stopped); returns (batches with rows, seconds)."""
    if skip_lost:
        aside = offsets.set_checkpoint_aside(settings)
        if aside is not None:
            print(f"previous checkpoint kept at {aside}")
    starting, skipped = ("earliest", [])
    if not offsets.checkpoint_started(settings):
        starting, skipped = offsets.starting_offsets(settings, offsets.bronze_offsets(settings), skip_lost)
    for line in skipped:
        print(f"skipping knowingly: {line}")

    progress = _Progress()
    begin = time.monotonic()
    try:
        query = _start_query(spark, settings, follow, starting)
        kafka = _KafkaWatch(settings)
        while not query.awaitTermination(0.5):
            progress.poll(query)
            if follow:
                streaming.beat(settings)
                kafka.check()
            if stop.is_set():
                _stop_between_batches(query)
                break
        if query.exception() is not None:
            raise query.exception()
        progress.poll(query)  # the batches that ended after the last poll
    finally:
        if follow:
            streaming.clear(settings)
    return progress.batches, time.monotonic() - begin


def _count(settings: Settings) -> int:
    """Bronze's rows, from its Delta log without Spark (a count in Spark is the JVM's first
    Delta command, seconds in a new JVM)."""
    (row,) = query(settings.bronze_path, "select count(*) as n from t")
    return int(row["n"])


def ingest(settings: Settings, follow: bool = False, skip_lost_offsets: bool = False) -> IngestReport:
    """Kafka -> Bronze; availableNow by default, micro-batches until stopped with ``follow``."""
    from kafka.errors import KafkaError

    from ventes.kafka_admin import ensure_topic

    check_reachable(settings)
    try:
        ensure_topic(settings)
    except KafkaError as exc:
        raise unreachable(settings) from exc
    job = streaming.following_job(settings)
    if job is not None and (follow or skip_lost_offsets):
        raise VentesError(
            f"the Bronze streaming job already follows {settings.kafka_topic} (pid {job.pid} on "
            f"{job.host}); stop it first (`ventes down bronze`)"
        )
    if job is not None:
        return _catch_up(settings, job)

    spark, owned = session.spark_session(settings)
    try:
        ensure_bronze_table(settings)
        before = _count(settings)
        mode = f"following every {FOLLOW_INTERVAL}" if follow else "draining the backlog"
        print(
            f"ingesting {settings.kafka_topic} from {settings.kafka_bootstrap_servers} into "
            f"{settings.bronze_path} ({mode}, at most {settings.max_offsets_per_trigger:,} "
            f"offsets per batch)",
            flush=True,
        )
        with _stop_on_signals(follow) as stop:
            batches, seconds = _run(spark, settings, follow, skip_lost_offsets, stop)
        after = _count(settings)
    except VentesError:
        raise
    except Exception as exc:  # Py4J/streaming errors carry Java stack traces: log them, show one line
        _log_exception(settings, exc)
        raise _user_error(settings, exc) from None
    finally:
        if owned:
            spark.stop()
    added = after - before
    report = IngestReport(
        rows_added=added,
        seconds=seconds,
        batches=batches,
        rows_per_second=added / seconds if seconds > 0 else 0.0,
        bronze_rows=after,
    )
    print(
        f"ingested {added:,} rows in {batches} batches in {seconds:.1f}s "
        f"({report.rows_per_second:,.0f} rows/s); Bronze now holds {after:,} rows",
        flush=True,
    )
    return report


def _catch_up(settings: Settings, job: streaming.Heartbeat) -> IngestReport:
    """The following job ingests: wait for it instead of starting a second Spark application."""
    begin = time.monotonic()
    added = streaming.catch_up(settings, job)
    seconds = time.monotonic() - begin
    print(
        f"Bronze holds every offset Kafka had: {added:,} new offsets committed in {seconds:.1f}s", flush=True
    )
    return IngestReport(
        rows_added=added,
        seconds=seconds,
        batches=0,
        rows_per_second=added / seconds if seconds > 0 else 0.0,
        bronze_rows=None,
    )


def main(argv: list[str] | None = None) -> int:
    from ventes import settings as settings_module

    parser = argparse.ArgumentParser(prog="python -m ingestion.job", description=__doc__.splitlines()[0])
    parser.add_argument("--follow", action="store_true", help="keep streaming until SIGINT/SIGTERM")
    parser.add_argument(
        "--skip-lost-offsets",
        action="store_true",
        help="after Kafka deleted offsets not yet ingested: accept the gap and go on",
    )
    args = parser.parse_args(argv)
    try:
        ingest(settings_module.load(), follow=args.follow, skip_lost_offsets=args.skip_lost_offsets)
    except VentesError as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
