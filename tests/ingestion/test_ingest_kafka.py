"""The Bronze job against a real Kafka broker and a real Delta table."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.partitioner.default import murmur2
from pyspark.sql import functions as F

from ingestion.bronze import BRONZE_SCHEMA
from ingestion.job import ingest
from ingestion.offsets import kafka_offsets
from ingestion.producer import kafka_producer, produce
from ventes.errors import VentesError
from ventes.settings import Settings


def _bronze(spark, settings: Settings):
    return spark.read.format("delta").load(str(settings.bronze_path))


def assert_exactly_once(spark, settings: Settings, expected: int) -> None:
    """Every offset Kafka holds for the topic is in Bronze once, and nothing else is."""
    rows = _bronze(spark, settings).where(F.col("topic") == settings.kafka_topic)
    counts = rows.groupBy("partition", "offset").count()
    assert counts.where("count > 1").count() == 0
    held = sum(end - earliest for earliest, end in kafka_offsets(settings).values())
    assert rows.count() == counts.count() == held == expected
    for partition, (earliest, end) in kafka_offsets(settings).items():
        span = rows.where(F.col("partition") == partition).agg(F.min("offset"), F.max("offset")).first()
        if end > earliest:
            assert (span[0], span[1]) == (earliest, end - 1)


def test_produce_ingest_then_restart_adds_nothing(lake: Settings, spark) -> None:
    sent = produce(lake, 500, seed=1, progress=False)
    assert sent.acknowledged == 500

    report = ingest(lake)
    assert report.rows_added == report.bronze_rows == 500
    assert_exactly_once(spark, lake, 500)
    table = _bronze(spark, lake)
    assert [(f.name, f.dataType) for f in table.schema] == [(f.name, f.dataType) for f in BRONZE_SCHEMA]
    assert {r["parse_status"] for r in table.select("parse_status").distinct().collect()} == {"ok"}
    placed = table.select("key", "partition").distinct().collect()
    assert all(r["key"].isdigit() for r in placed)
    # Each client's sales on the partition Kafka's Java clients pick for its key (murmur2).
    partitions = lake.kafka_partitions
    assert all(r["partition"] == (murmur2(r["key"].encode()) & 0x7FFFFFFF) % partitions for r in placed)

    again = ingest(lake)  # nothing new in Kafka
    assert again.rows_added == 0 and again.bronze_rows == 500

    produce(lake, 120, seed=2, progress=False)
    assert ingest(lake).rows_added == 120
    assert_exactly_once(spark, lake, 620)


def test_bronze_table_exists_before_any_data(lake: Settings, spark) -> None:
    report = ingest(lake)
    assert report.rows_added == 0
    table = _bronze(spark, lake)
    assert table.count() == 0
    assert "parse_status" in table.columns and "date" in table.columns


def test_every_bad_kind_lands_with_its_status_and_raw_bytes(lake: Settings, spark) -> None:
    huge = json.dumps({"vente_id": 1, "client_nom": "x" * 900_000}).encode()
    raw = {
        b"\xff\xfe not utf-8": "invalid_utf8",
        b"": "empty",
        huge: "ok",
        b'{"vente_id": 5, "coupon": {"code": "NOEL"}, "canal": "web"}': "ok",
        b'{"vente_id": 6, "montant": ': "malformed_json",
        b"[1, 2, 3]": "not_an_object",
        b'{"vente_id": 7, "quantite": "deux"}': "wrong_type",
        b'{"vente_id": 8, "timestamp": "2025-03-01T10:00:00+02:00"}': "ok",
    }
    producer = kafka_producer(lake, {"message.max.bytes": 2 * 1024 * 1024})
    for value in raw:
        producer.produce(lake.kafka_topic, value, b"raw")
    producer.produce(lake.kafka_topic, None, b"tombstone")  # a null Kafka value
    assert producer.flush(30) == 0
    mixed = produce(lake, 400, seed=3, bad_ratio=0.5, progress=False)

    ingest(lake)  # must not fail on any of them
    expected_rows = len(raw) + 1 + mixed.sent
    assert_exactly_once(spark, lake, expected_rows)

    landed = _bronze(spark, lake).where(F.col("key").isin("raw", "tombstone")).collect()
    by_bytes = {r["value_bytes"]: r for r in landed}
    for value, status in raw.items():
        assert by_bytes[value]["parse_status"] == status, value[:60]
    assert by_bytes[None]["parse_status"] == "empty" and by_bytes[None]["value"] is None
    assert len(by_bytes[huge]["value"]) == len(huge)
    event_time = by_bytes[raw_key(raw, b'"vente_id": 8')]["event_timestamp"]
    assert event_time.isoformat().startswith("2025-03-01T08:00:00")

    statuses = {
        r["parse_status"]: r["count"]
        for r in _bronze(spark, lake).where(F.col("key") != "raw").groupBy("parse_status").count().collect()
    }
    assert {"ok", "malformed_json", "not_an_object", "wrong_type"} <= set(statuses)


def raw_key(raw: dict[bytes, str], fragment: bytes) -> bytes:
    return next(value for value in raw if fragment in value)


def _delete_all_but(settings: Settings, keep_last: int) -> int:
    """What Kafka retention does: delete the oldest records of each partition. Returns how many are left."""
    offsets = kafka_offsets(settings)
    cut = {p: max(earliest, end - keep_last) for p, (earliest, end) in offsets.items()}
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(settings.kafka_topic, p): offset for p, offset in cut.items()})
    finally:
        admin.close()
    assert {p: earliest for p, (earliest, _) in kafka_offsets(settings).items()} == cut
    return sum(end - cut[p] for p, (_, end) in offsets.items())


def test_offsets_deleted_before_ingestion_stop_the_job_until_skipped_knowingly(lake: Settings, spark) -> None:
    produce(lake, 60, seed=4, progress=False)
    assert ingest(lake).rows_added == 60
    produce(lake, 300, seed=5, progress=False)
    left = _delete_all_but(lake, keep_last=20)  # so some of the 300 were never ingested

    with pytest.raises(VentesError, match=r"no longer holds offsets .* --skip-lost-offsets"):
        ingest(lake)
    assert _bronze(spark, lake).count() == 60  # nothing skipped silently

    report = ingest(lake, skip_lost_offsets=True)
    assert report.rows_added == left
    assert _bronze(spark, lake).groupBy("partition", "offset").count().where("count > 1").count() == 0
    assert ingest(lake).rows_added == 0  # the new checkpoint goes on from there
    aside = list(lake.checkpoint_dir.parent.glob(f"{lake.checkpoint_dir.name}.lost-offsets-*"))
    assert len(aside) == 1


def test_lost_checkpoint_resumes_after_what_bronze_holds(lake: Settings, spark) -> None:
    import shutil

    produce(lake, 90, seed=6, progress=False)
    ingest(lake)
    shutil.rmtree(lake.checkpoint_dir)
    produce(lake, 30, seed=7, progress=False)
    assert ingest(lake).rows_added == 30  # not 120: nothing is ingested twice
    assert_exactly_once(spark, lake, 120)


def test_rate_paces_the_producer(lake: Settings) -> None:
    report = produce(lake, 30, rate=60.0, progress=False)
    assert report.acknowledged == 30
    assert report.seconds >= 29 / 60.0
    assert report.events_per_second <= 66


def test_unreachable_kafka_is_one_clear_error(lake: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from ventes import settings as settings_module

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with pytest.raises(VentesError, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
        ingest(settings_module.load())
