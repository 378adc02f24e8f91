"""Differential test of the Bronze parse: today's ``to_bronze`` against its recorded results.

Over a corpus of good and bad messages (``tests/ingestion/parse_corpus.py``: every kind the
producer makes, wrong types, numbers as strings, out-of-range numbers, missing and extra fields,
nested objects, non-UTF-8, empty, huge), every record must give the row recorded in
``parse_expected.json.gz``: the same ``parse_status`` and ``parse_error``, the same parsed values,
the same text and key. A faster or different parse is held to exactly what the parse did.

If a change of the parse is meant to change results, record them again and say why in the
commit: ``.venv/bin/python -m tests.ingestion.test_parse_differential``.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ingestion.bronze import to_bronze
from tests.ingestion.parse_corpus import corpus
from tests.ingestion.test_bronze_transform import KAFKA_SCHEMA
from ventes import settings as settings_module
from ventes.contract import PARSE_STATUSES, SALE_FIELDS
from ventes.spark import new_session

pytestmark = pytest.mark.stack

EXPECTED = Path(__file__).with_name("parse_expected.json.gz")
KAFKA_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INGESTED = datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)
# What the parse decides, per record: the rest of a Bronze row is the Kafka record copied.
COMPARED = ("value", "key", "parse_status", "parse_error", *(f.column for f in SALE_FIELDS))


def _kafka(spark, values: list[bytes | None]) -> DataFrame:
    keys = [b"12", None, b"\xff1", b""]
    rows = [(keys[i % 4], v, "ventes_stream", i % 3, i, KAFKA_TIME) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def _plain(value: Any) -> Any:
    """A JSON value that keeps what tells results apart (exact decimals, instants in UTC)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return value


def parsed(spark, values: list[bytes | None]) -> list[dict[str, Any]]:
    frame = to_bronze(_kafka(spark, values), F.lit(INGESTED)).orderBy("offset")
    return [{name: _plain(row[name]) for name in COMPARED} for row in frame.select(*COMPARED).collect()]


def test_every_record_parses_as_recorded(spark) -> None:
    values = corpus()
    expected = json.loads(gzip.decompress(EXPECTED.read_bytes()))
    actual = parsed(spark, values)
    assert len(expected) == len(actual) == len(values)
    for value, before, now in zip(values, expected, actual, strict=True):
        if before != now:
            changed = {n: (before[n], now[n]) for n in COMPARED if before[n] != now[n]}
            shown = None if value is None else value[:160]
            pytest.fail(f"{shown!r} parses differently now (recorded, now): {str(changed)[:2000]}")
    # The corpus reaches every outcome of the parse.
    assert {row["parse_status"] for row in actual} == set(PARSE_STATUSES)


def record() -> None:
    """Write ``parse_expected.json.gz`` from the parse as it is now."""
    spark = new_session(settings_module.load(), "record-parse", master="local[2]", log_level="ERROR")
    try:
        rows = parsed(spark, corpus())
    finally:
        spark.stop()
    EXPECTED.write_bytes(gzip.compress(json.dumps(rows, separators=(",", ":")).encode(), mtime=0))
    print(f"recorded {len(rows)} records in {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    record()
