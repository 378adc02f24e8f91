"""The sales a topic holds, and what the four seed APIs should answer for them.

Tests that run the whole pipeline read back what was produced from Kafka and compare the
dashboard's answers with figures worked out from those sales (``tests/dashboard/expected.py``),
never with what the pipeline wrote into Silver.
"""

from __future__ import annotations

import json
from decimal import Decimal

from tests.dashboard import expected
from tests.kafka_topic import topic_records

SEED_APIS = ("aggregated_sales", "top_products", "hourly_sales", "product_by_segment")


def topic_sales(bootstrap_servers: str, topic: str) -> list[dict]:
    """Every sale ``topic`` holds now (amounts as Decimal)."""
    return [json.loads(r.value, parse_float=Decimal) for r in topic_records(bootstrap_servers, topic)]


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
