"""The sales a topic holds, and what the four seed APIs should answer for them.

Tests that run the whole pipeline read back what was produced from Kafka and compare the
dashboard's answers with figures worked out from those sales (``tests/dashboard/expected.py``),
never with what the pipeline wrote into Silver.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

from kafka import KafkaConsumer, TopicPartition

from tests.dashboard import expected

SEED_APIS = ("aggregated_sales", "top_products", "hourly_sales", "product_by_segment")


def topic_sales(bootstrap_servers: str, topic: str, timeout: float = 120) -> list[dict]:
    """Every message of ``topic``, from the beginning up to the end offsets it has now (amounts
    as Decimal)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        sales: list[dict] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in parts):
            assert time.monotonic() < deadline, f"{len(sales)} of {sum(end.values())} messages in {timeout}s"
            for batch in consumer.poll(timeout_ms=1000).values():
                sales += [json.loads(message.value, parse_float=Decimal) for message in batch]
    finally:
        consumer.close()
    return sales


def expected_answers(sales: list[dict]) -> dict[str, list[dict]]:
    """The seed APIs' answers for these sales, in the order the API documents."""
    return {
        "aggregated_sales": expected.aggregated_sales(sales),
        "top_products": expected.top_products(sales),
        "hourly_sales": expected.hourly_sales(sales),
        "product_by_segment": expected.product_by_segment(sales),
    }


def comparable(answers: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Served answers with product × segment (which has no documented order) sorted as expected."""
    return {**answers, "product_by_segment": expected.by_product_and_segment(answers["product_by_segment"])}
