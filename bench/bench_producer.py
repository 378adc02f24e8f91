"""Benchmark: producer events/s for 1,000,000 sales, beside the naive way, in the same run.

The project's way (``ingestion.producer.produce``): events built from the catalogue's
pre-rendered fragments, partition looked up once per client, batched (``linger_ms``,
``batch_size``), gzip-compressed, one flush at the end, errors collected by callbacks.
The naive way: a ``json.dumps`` value serializer and one ``send`` + ``flush`` per event, timed
on a smaller count. Both use ``acks=all`` with idempotence, on a broker of their own.

Also prints each compression codec kafka-python can use here, on a smaller count.

    .venv/bin/python bench/bench_producer.py [--count 1000000] [--naive-count 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingestion.producer import _partitioner, kafka_producer, messages, produce
from ventes import jars, stack
from ventes import settings as settings_module
from ventes.kafka_admin import ensure_topic
from ventes.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ports import reserve_port, start_service


@contextmanager
def own_broker() -> Iterator[Settings]:
    """A Kafka broker on reserved loopback ports with a private VENTES_HOME, removed at the end."""
    home = tempfile.mkdtemp(prefix="ventes-bench-")
    os.environ.update(
        VENTES_HOME=home,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{reserve_port()}",
        KAFKA_CONTROLLER_PORT=str(reserve_port()),
    )
    settings = settings_module.load()
    jars.ensure_jars(settings)
    settings = start_service(settings, "kafka", export=True)
    try:
        yield settings
    finally:
        stack.stop(settings, "kafka")
        shutil.rmtree(home, ignore_errors=True)


def on_topic(settings: Settings, topic: str) -> Settings:
    os.environ["KAFKA_TOPIC"] = topic
    settings = settings_module.load()
    ensure_topic(settings)
    return settings


def naive(settings: Settings, count: int) -> float:
    """One ``json.dumps``, one send and one flush per event: events/s."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
    )
    events = [json.loads(m.value) for m in messages(count, seed=1)]
    begin = time.perf_counter()
    for event in events:
        producer.send(settings.kafka_topic, json.dumps(event).encode(), key=str(event["client_id"]).encode())
        producer.flush()
    seconds = time.perf_counter() - begin
    producer.close()
    return count / seconds


def codec(settings: Settings, compression: str | None, count: int) -> float:
    """The project's sending loop with another codec: events/s."""
    producer = kafka_producer(settings, compression_type=compression)
    partition_of = _partitioner(producer, settings.kafka_topic)
    failures: list[BaseException] = []
    begin = time.perf_counter()
    for key, value, _ in messages(count, seed=2):
        future = producer.send(settings.kafka_topic, value, key=key, partition=partition_of(key))
        future.add_errback(failures.append)
    producer.flush()
    seconds = time.perf_counter() - begin
    producer.close()
    assert not failures, failures[0]
    return count / seconds


def available_codecs() -> list[str | None]:
    codecs: list[str | None] = ["gzip", None]
    for name, module in (("lz4", "lz4.frame"), ("zstd", "zstandard"), ("snappy", "snappy")):
        try:
            __import__(module)
        except ImportError:
            continue
        codecs.append(name)
    return codecs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--naive-count", type=int, default=5_000)
    parser.add_argument("--codec-count", type=int, default=200_000)
    args = parser.parse_args()

    with own_broker() as broker:
        report = produce(on_topic(broker, "bench_producer"), args.count, progress=False)
        slow = naive(on_topic(broker, "bench_naive"), args.naive_count)
        codecs = {
            c: codec(on_topic(broker, f"bench_codec_{c}"), c, args.codec_count) for c in available_codecs()
        }

    print()
    print(
        f"producer, {report.sent:,} events:        {report.events_per_second:>10,.0f} events/s "
        f"({report.seconds:.1f}s, {report.acknowledged:,} acknowledged)"
    )
    print(f"naive, send+flush per event, {args.naive_count:,}: {slow:>10,.0f} events/s")
    print(f"ratio:                                {report.events_per_second / slow:>10.1f}x")
    met = "met" if report.events_per_second >= 30_000 else "not met"
    print(f"aim: >= 30,000 events/s from one process: {met}")
    print(f"codecs, {args.codec_count:,} events each (same loop):")
    for name, rate in codecs.items():
        print(f"  {name or 'none':<8} {rate:>10,.0f} events/s")


if __name__ == "__main__":
    main()
