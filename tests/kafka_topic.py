"""Read back what a Kafka topic holds, as tests compare it with what reached Bronze or Silver."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def topic_records(bootstrap_servers: str, topic: str, timeout: float = 120) -> list[ConsumerRecord]:
    """Every record of ``topic``, from the beginning up to the end offsets it has now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in parts):
            assert time.monotonic() < deadline, f"{len(records)} of {sum(end.values())} records in {timeout}s"
            for batch in consumer.poll(timeout_ms=1000).values():
                records += batch
    finally:
        consumer.close()
    return records
