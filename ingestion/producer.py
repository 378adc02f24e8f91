"""Fake sales to Kafka, fast (the events themselves: ``ingestion.events``).

Sent by librdkafka (``confluent-kafka``), whose batching, compression and idempotent ``acks=all``
delivery run in C threads: the Python loop only hands it keys and values. Keys go to the
partition Kafka's Java clients pick for them (murmur2), so a client's sales stay on one
partition whichever client sent them. Delivery failures are collected by a callback instead of
blocking on each message, and one flush at the end waits for every acknowledgement.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ingestion.events import LATE, VALID, Message, messages
from ventes.errors import VentesError
from ventes.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka import Producer

# Every Kafka client reads gzip without extra libraries (kafka-python needs packages for lz4 and
# zstd). librdkafka's lz4 and zstd are faster, but gzip is already 3x the 30,000 events/s aim
# (bench/bench_producer.py --codecs).
COMPRESSION = "gzip"
# Callbacks are served, and the progress bar moved, once per this many events.
POLL_EVERY = 2048


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
    """Fail in a second when no broker listens, instead of waiting out the delivery timeout."""
    from ventes.net import port_open

    for server in settings.kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if port_open(host or "localhost", int(port or 9092), timeout=2.0):
            return
    raise unreachable(settings)


def kafka_producer(settings: Settings, overrides: Mapping[str, object] | None = None) -> Producer:
    """An idempotent, batching, compressing librdkafka producer (``overrides``: its settings)."""
    from confluent_kafka import Producer

    config = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": "ventes-producer",
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",  # the Java clients' partition for a key
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "compression.type": COMPRESSION,
        "queue.buffering.max.messages": 500_000,
        # A message not acknowledged by then fails (the default waits 5 minutes); long enough
        # for a replicated topic to elect a new leader after a broker is lost.
        "message.timeout.ms": 120_000,
        # librdkafka's errors (a broker lost) to Python logging; its warnings are retries it
        # handles itself (a new broker's coordinator still loading, say).
        "logger": logging.getLogger("ventes.producer"),
        "log_level": 3,
    }
    config.update(overrides or {})
    return Producer(config)


def send_all(
    producer: Producer,
    topic: str,
    sales: Iterable[Message],
    rate: float | None = None,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int, list]:
    """Hand every message to ``producer`` and wait for every acknowledgement.

    Returns (sent, bad, delivery errors); ``rate`` caps events per second, ``progress`` is
    called with the number of events sent since its last call.
    """
    failures: list = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(error)

    produce, poll = producer.produce, producer.poll
    sent = bad = 0
    begin = time.perf_counter()
    for key, value, kind in sales:
        if rate:
            ahead = begin + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        while True:
            try:
                produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let librdkafka drain it
                poll(0.05)
        sent += 1
        bad += kind not in (VALID, LATE)
        if sent % POLL_EVERY == 0:
            poll(0)
            if progress:
                progress(POLL_EVERY)
    producer.flush()  # bounded: each message is delivered or fails within message.timeout.ms
    if progress:
        progress(sent % POLL_EVERY)
    return sent, bad, failures


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
    from confluent_kafka import KafkaException
    from kafka.errors import KafkaError
    from tqdm import tqdm

    from ventes.kafka_admin import ensure_topic

    check_reachable(settings)
    try:
        ensure_topic(settings)
    except KafkaError as exc:
        raise unreachable(settings) from exc
    topic = settings.kafka_topic
    producer = kafka_producer(settings)
    sales = messages(count, seed=seed, bad_ratio=bad_ratio, start=start)
    with tqdm(
        total=count,
        unit="ev",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5,
        desc=f"producing to {topic}",
    ) as bar:
        begin = time.perf_counter()
        try:
            sent, bad, failures = send_all(producer, topic, sales, rate=rate, progress=bar.update)
        except KafkaException as exc:
            raise VentesError(
                f"producing to {topic} at {settings.kafka_bootstrap_servers} failed: {exc.args[0]}"
            ) from exc
        seconds = time.perf_counter() - begin
    if failures:
        raise VentesError(
            f"{len(failures)} of {sent} events were not acknowledged by Kafka "
            f"({settings.kafka_bootstrap_servers}): {failures[0]}"
        )
    report = ProduceReport(
        sent=sent,
        acknowledged=sent,
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
