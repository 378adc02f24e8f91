"""Offsets: what Kafka holds, what Bronze holds, and where a new checkpoint starts.

When the checkpoint is missing but Bronze already holds rows of the topic (a checkpoint deleted
by hand), the stream starts right after the last offset Bronze has, so nothing is ingested
twice. When Kafka deleted offsets not yet ingested, only ``--skip-lost-offsets`` goes on, from
the oldest offsets Kafka still holds, with each skipped range said.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ventes.errors import VentesError
from ventes.settings import Settings


def bronze_offsets(settings: Settings) -> dict[int, int]:
    """The last offset Bronze holds for each partition of the topic.

    Read with ``deltalake``, not Spark: in the job's new JVM, a Spark read of Bronze cost 8 s
    before the first batch (3 columns of the table are read either way).
    """
    from ventes.delta import query

    topic = settings.kafka_topic.replace("'", "''")
    rows = query(
        settings.bronze_path,
        f'select "partition", max("offset") as last from t where topic = \'{topic}\' group by "partition"',
    )
    return {row["partition"]: row["last"] for row in rows}


def kafka_offsets(settings: Settings) -> dict[int, tuple[int, int]]:
    """``partition -> (earliest, end)`` of the topic, as Kafka holds it now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="ventes-ingest-offsets",
        enable_auto_commit=False,
    )
    try:
        parts = [
            TopicPartition(settings.kafka_topic, p)
            for p in sorted(consumer.partitions_for_topic(settings.kafka_topic) or ())
        ]
        earliest = consumer.beginning_offsets(parts)
        end = consumer.end_offsets(parts)
    finally:
        consumer.close()
    return {tp.partition: (earliest[tp], end[tp]) for tp in parts}


def starting_offsets(settings: Settings, done: dict[int, int], skip_lost: bool) -> tuple[str, list[str]]:
    """``startingOffsets`` for a new checkpoint, and the ranges skipped knowingly."""
    if not done:
        return "earliest", []
    start: dict[str, int] = {}
    skipped = []
    for partition, (earliest, end) in kafka_offsets(settings).items():
        following = done.get(partition, -1) + 1
        if skip_lost and following > end:
            # The topic was recreated: its offsets began again below what Bronze holds.
            skipped.append(
                f"partition {partition}: Kafka ends at {end}, before Bronze's offset "
                f"{following - 1} (topic recreated?); starting at its earliest, {earliest}"
            )
            following = earliest
        elif skip_lost and following < earliest:
            skipped.append(
                f"partition {partition}: offsets {following}..{earliest - 1} "
                f"({earliest - following} records) deleted by Kafka before ingestion"
            )
            following = earliest
        start[str(partition)] = following
    return json.dumps({settings.kafka_topic: start}), skipped


def checkpoint_started(settings: Settings) -> bool:
    return (settings.checkpoint_dir / "offsets").is_dir()


def set_checkpoint_aside(settings: Settings) -> Path | None:
    if not settings.checkpoint_dir.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = settings.checkpoint_dir.with_name(f"{settings.checkpoint_dir.name}.lost-offsets-{stamp}")
    settings.checkpoint_dir.rename(target)
    return target


def data_loss_error(settings: Settings) -> VentesError:
    return VentesError(
        f"Kafka no longer holds offsets of {settings.kafka_topic} that the Bronze checkpoint still "
        f"needs (retention deleted them, or the topic was recreated); nothing was skipped. To accept "
        f"the gap and go on from the oldest offsets Kafka still holds, run "
        f"`ventes ingest --skip-lost-offsets` (the old checkpoint is kept aside); to avoid it, ingest "
        f"more often than the topic's retention.ms"
    )
