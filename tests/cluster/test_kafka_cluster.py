"""Three Kafka brokers, one killed while the producer writes: every acknowledged sale reaches
Bronze exactly once.

The topic has replication factor 3 and min.insync.replicas 2, the producer uses acks=all with
idempotence. The broker leading partition 0 is SIGKILLed mid-run (no clean shutdown) and
restarted later; the Bronze job then runs against the cluster's three bootstrap servers.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from cluster_harness import TOPIC_MIN_INSYNC_REPLICAS, TOPIC_REPLICATION_FACTOR, KafkaCluster, wait_for

from ingestion.job import ingest
from ingestion.offsets import kafka_offsets
from ingestion.producer import produce
from tests.kafka_topic import topic_records
from ventes import delta

pytestmark = [pytest.mark.stack, pytest.mark.slow]

EVENTS = 3000
RATE = 150.0  # events/s: production lasts about 20 s
KILL_AFTER = 600  # the broker dies once this many sales are in Kafka (a fifth of them)


def _topic_records(cluster: KafkaCluster) -> list[tuple[int, int, int]]:
    """(partition, offset, vente_id) of every record the topic holds, read straight from Kafka."""
    settings = cluster.settings
    records = topic_records(settings.kafka_bootstrap_servers, settings.kafka_topic, timeout=60)
    return [(r.partition, r.offset, json.loads(r.value)["vente_id"]) for r in records]


def _bronze_records(cluster: KafkaCluster) -> list[tuple[int, int, int]]:
    sql = 'select "partition", "offset", vente_id, parse_status from t'
    rows = delta.query(cluster.settings.bronze_path, sql)
    assert {row["parse_status"] for row in rows} == {"ok"}
    return [(row["partition"], row["offset"], row["vente_id"]) for row in rows]


def test_acknowledged_sales_survive_a_broker_kill(kafka_cluster: KafkaCluster, record_property) -> None:
    cluster = kafka_cluster
    assert all(len(p["replicas"]) == TOPIC_REPLICATION_FACTOR for p in cluster.partitions())
    assert cluster.topic_config()["min.insync.replicas"] == str(TOPIC_MIN_INSYNC_REPLICAS)

    outcome: dict = {}

    def producer() -> None:
        try:
            outcome["report"] = produce(cluster.settings, EVENTS, seed=7, rate=RATE, progress=False)
        except BaseException as exc:
            outcome["error"] = exc

    def under_way() -> bool:
        if "error" in outcome:
            pytest.fail(f"the producer failed before the kill: {outcome['error']}")
        return sum(end for _, end in kafka_offsets(cluster.settings).values()) >= KILL_AFTER

    thread = threading.Thread(target=producer, name="producer")
    thread.start()
    wait_for(f"{KILL_AFTER} sales in Kafka", under_way, 120)
    victim = cluster.partitions()[0]["leader"]
    killed_at = time.monotonic()
    cluster.kill(victim)

    new_leaders_after = wait_for(
        "new leaders for the dead broker's partitions",
        lambda: all(p["leader"] not in (victim, -1) for p in cluster.partitions()),
        90,
    )
    cluster.start(victim)
    restarted_at = time.monotonic()
    in_sync_after = wait_for(
        "the restarted broker back in every ISR",
        lambda: all(len(p["isr"]) == TOPIC_REPLICATION_FACTOR for p in cluster.partitions()),
        120,
    )
    thread.join(timeout=180)
    assert not thread.is_alive(), "the producer did not finish"
    assert "error" not in outcome, f"the producer failed: {outcome.get('error')}"
    report = outcome["report"]

    # Kafka holds each acknowledged sale once (idempotent producer: no duplicate from retries).
    in_kafka = _topic_records(cluster)
    assert report.acknowledged == report.sent == EVENTS
    assert len(in_kafka) == EVENTS
    assert len({vente_id for _, _, vente_id in in_kafka}) == EVENTS

    ingest_report = ingest(cluster.settings)
    in_bronze = _bronze_records(cluster)
    assert len(in_bronze) == EVENTS, "Bronze must hold each record once"
    assert len({(p, o) for p, o, _ in in_bronze}) == EVENTS
    assert len({v for _, _, v in in_bronze}) == EVENTS
    assert sorted(in_bronze) == sorted(in_kafka)

    figures = {
        "events_produced": report.sent,
        "events_acknowledged": report.acknowledged,
        "events_in_kafka": len(in_kafka),
        "events_in_bronze": len(in_bronze),
        "killed_broker": victim,
        "new_leaders_after_kill_s": round(new_leaders_after, 1),
        "back_in_all_isr_after_restart_s": round(in_sync_after, 1),
        "restart_after_kill_s": round(restarted_at - killed_at, 1),
        "production_s": round(report.seconds, 1),
        "production_at_steady_rate_s": round(EVENTS / RATE, 1),
        "ingest_s": round(ingest_report.seconds, 1),
    }
    for key, value in figures.items():
        record_property(key, value)
    print(f"\nkafka cluster figures: {json.dumps(figures)}")
