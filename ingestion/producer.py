"""Fake sales to Kafka, fast (the events themselves: ``ingestion.events``).

Keyed by ``client_id`` with the partition looked up once per client, batched and gzip-compressed
by an idempotent ``acks=all`` producer, flushed once at the end. Delivery failures are collected
by callbacks instead of blocking on each message.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime

from ingestion.events import LATE, VALID, messages
from ventes.errors import VentesError
from ventes.settings import Settings

COMPRESSION = "gzip"  # in the standard library; lz4 and zstd need extra packages (see bench/)


@dataclass(frozen=True)
class ProduceReport:
    sent: int
    acknowledged: int
    seconds: float
    events_per_second: float
    topic: str = ""
    bad: int = 0


def unreachable(settings: Settings) -> VentesError:
    return VentesError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} (is `ventes up` running?)")


def check_reachable(settings: Settings) -> None:
    """Fail in a second, not after the client's 30 s bootstrap timeout, when no broker listens."""
    from ventes.net import port_open

    for server in settings.kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if port_open(host or "localhost", int(port or 9092), timeout=2.0):
            return
    raise unreachable(settings)


def kafka_producer(settings: Settings, **overrides: object):
    """An idempotent, batching, compressing producer; one clear error when Kafka is down."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    config = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="ventes-producer",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=COMPRESSION,
        bootstrap_timeout_ms=10_000,
    )
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise unreachable(settings) from exc


def _partitioner(producer, topic: str):
    """Partition of a key as Kafka's default partitioner computes it, memoised per client."""
    from kafka.partitioner.default import murmur2

    partitions = sorted(producer.partitions_for(topic))
    cache: dict[bytes, int] = {}

    def partition(key: bytes) -> int:
        found = cache.get(key)
        if found is None:
            found = cache[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        return found

    return partition


def produce(
    settings: Settings,
    count: int,
    seed: int | None = None,
    rate: float | None = None,
    bad_ratio: float = 0.0,
    progress: bool = True,
    start: datetime | None = None,
) -> ProduceReport:
    """Send ``count`` sales to ``settings.kafka_topic``; print and return the throughput."""
    from kafka.errors import KafkaError
    from tqdm import tqdm

    from ventes.kafka_admin import ensure_topic

    check_reachable(settings)
    try:
        ensure_topic(settings)
    except KafkaError as exc:
        raise unreachable(settings) from exc
    producer = kafka_producer(settings)
    failures: list[BaseException] = []
    sent = bad = 0
    topic = settings.kafka_topic
    bar = tqdm(
        total=count,
        unit="ev",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5,
        desc=f"producing to {topic}",
    )
    try:
        partition_of = _partitioner(producer, topic)
        send = producer.send
        on_error = failures.append
        begin = time.perf_counter()
        for key, value, kind in messages(count, seed=seed, bad_ratio=bad_ratio, start=start):
            if rate:
                ahead = begin + sent / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            partition = None if key is None else partition_of(key)
            send(topic, value, key=key, partition=partition).add_errback(on_error)
            sent += 1
            bad += kind not in (VALID, LATE)
            if sent % 2048 == 0:
                bar.update(2048)
        producer.flush()
        seconds = time.perf_counter() - begin
        bar.update(sent - bar.n)
    except KafkaError as exc:
        raise VentesError(
            f"producing to {topic} at {settings.kafka_bootstrap_servers} failed: {exc}"
        ) from exc
    finally:
        bar.close()
        producer.close(timeout=10)
    if failures:
        raise VentesError(
            f"{len(failures)} of {sent} events were not acknowledged by Kafka "
            f"({settings.kafka_bootstrap_servers}): {failures[0]}"
        )
    report = ProduceReport(
        sent=sent,
        acknowledged=sent - len(failures),
        seconds=seconds,
        events_per_second=sent / seconds if seconds else float("inf"),
        topic=topic,
        bad=bad,
    )
    print(
        f"produced {report.sent} events to {topic} ({report.bad} bad) in {report.seconds:.2f}s: "
        f"{report.events_per_second:,.0f} events/s, {report.acknowledged} acknowledged"
    )
    return report
