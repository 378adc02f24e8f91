"""Differential test of the Bronze parse: today's ``to_bronze`` against the parse as it was frozen.

Below is a copy, kept only here, of ``ingestion/bronze.py``'s parse as it stood before the
throughput work (``REFERENCE_*``, ``reference_to_bronze``). Over a corpus of good and bad messages
(``tests/ingestion/parse_corpus.py``: every kind the producer makes, wrong types, numbers as
strings, out-of-range numbers, missing and extra fields, nested objects, non-UTF-8, empty,
huge), every record must give the same row both ways: the same parsed values, the same
``parse_status`` and ``parse_error``, the same bytes, text, key and Kafka coordinates.

The reference's own results are pinned too (``REFERENCE_DIGEST``, with the count per status), so
that neither the copy nor a Spark upgrade can move them unnoticed. If a change of the parse is
meant to change results, say so here: update the digest and explain why in the commit.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    DataType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ingestion.bronze import BRONZE_SCHEMA, to_bronze
from tests.ingestion.parse_corpus import corpus
from tests.ingestion.test_bronze_transform import KAFKA_SCHEMA

pytestmark = pytest.mark.stack

KAFKA_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INGESTED = datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)

# ---------------------------------------------------------------- the frozen reference parse

REFERENCE_MONTANT_TYPE = DecimalType(12, 2)
_REASON_VALUE_CHARS = 80

REFERENCE_SCHEMA = StructType(
    [
        StructField("value_bytes", BinaryType()),
        StructField("value", StringType()),
        StructField("key", StringType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("kafka_timestamp", TimestampType()),
        StructField("ingestion_time", TimestampType()),
        StructField("date", DateType()),
        StructField("parse_status", StringType()),
        StructField("parse_error", StringType()),
        StructField("vente_id", LongType()),
        StructField("client_id", LongType()),
        StructField("produit_id", LongType()),
        StructField("event_timestamp", TimestampType()),
        StructField("quantite", IntegerType()),
        StructField("montant", REFERENCE_MONTANT_TYPE),
        StructField("client_nom", StringType()),
        StructField("produit_nom", StringType()),
        StructField("categorie", StringType()),
        StructField("pays", StringType()),
        StructField("segment", StringType()),
    ]
)
REFERENCE_PARTITION_COLUMN = "date"
REFERENCE_PARSE_STATUSES = ("ok", "empty", "invalid_utf8", "malformed_json", "not_an_object", "wrong_type")


@dataclass(frozen=True)
class ReferenceField:
    """A field of the event contract: its JSON name, its Bronze column and how it is checked."""

    json_name: str
    column: str
    kind: str  # "integer", "number", "timestamp" or "string"
    data_type: DataType

    @property
    def expected(self) -> str:
        return {
            "integer": "an integer",
            "number": "a number with at most 2 decimal places",
            "timestamp": "an ISO-8601 timestamp",
            "string": "a string",
        }[self.kind]

    @property
    def in_range(self) -> str:
        """What a value of the right JSON type that does not fit its Bronze type should be."""
        if self.kind == "number":
            return "a number between -9999999999.99 and 9999999999.99"
        bits = 64 if isinstance(self.data_type, LongType) else 32
        return f"an integer between {-(2 ** (bits - 1))} and {2 ** (bits - 1) - 1}"


REFERENCE_FIELDS = (
    ReferenceField("vente_id", "vente_id", "integer", LongType()),
    ReferenceField("client_id", "client_id", "integer", LongType()),
    ReferenceField("produit_id", "produit_id", "integer", LongType()),
    ReferenceField("timestamp", "event_timestamp", "timestamp", TimestampType()),
    ReferenceField("quantite", "quantite", "integer", IntegerType()),
    ReferenceField("montant", "montant", "number", REFERENCE_MONTANT_TYPE),
    ReferenceField("client_nom", "client_nom", "string", StringType()),
    ReferenceField("produit_nom", "produit_nom", "string", StringType()),
    ReferenceField("categorie", "categorie", "string", StringType()),
    ReferenceField("pays", "pays", "string", StringType()),
    ReferenceField("segment", "segment", "string", StringType()),
)


def _path(field: ReferenceField) -> str:
    return f"$.{field.json_name}"


def _sub_variant(variant: Column, field: ReferenceField) -> Column:
    return F.variant_get(variant, _path(field), "variant")


def _parsed(field_json: Column, json_type: Column, field: ReferenceField) -> Column:
    """The field (its own sub-variant) as its Bronze type when its JSON type is right, else null.

    ``json_type`` is ``schema_of_variant`` of the field: BIGINT for JSON integers, DECIMAL(p,s)
    for decimal literals, DOUBLE for exponent notation, STRING, BOOLEAN, VOID (null), OBJECT/ARRAY.
    """
    if field.kind == "string":
        return F.when(json_type == "STRING", F.try_variant_get(field_json, "$", "string"))
    if field.kind == "integer":
        integer = F.try_variant_get(field_json, "$", field.data_type.simpleString())
        return F.when(json_type == "BIGINT", integer)
    if field.kind == "number":
        amount = F.try_variant_get(field_json, "$", REFERENCE_MONTANT_TYPE.simpleString())
        # Exponent notation (1.5e2) is a DOUBLE: fine when it has no more than 2 decimal places.
        double_exact = (json_type == "DOUBLE") & (
            F.try_variant_get(field_json, "$", "double") == amount.cast("double")
        )
        exact = (json_type == "BIGINT") | json_type.rlike(r"^DECIMAL\(\d+,[0-2]\)$") | double_exact
        return F.when(exact, amount)
    text = F.try_variant_get(field_json, "$", "string")
    return F.when(json_type == "STRING", text.try_cast(TimestampType()))


def _out_of_range(field_json: Column, json_type: Column, field: ReferenceField) -> Column | None:
    """True when a field of the right JSON kind is too large for its Bronze type.

    Only meaningful where the field did not parse: an integer literal beyond the column's bits
    (BIGINT beyond an int, DECIMAL(p,0) beyond a long), or a number with at most 2 decimal places
    beyond decimal(12,2) (exponent notation is a DOUBLE: 1e300, or 1e400 which reads as Infinity).
    """
    if field.kind == "integer":
        # Beyond 38 digits an integer literal is a DOUBLE, as is exponent notation.
        limit = float(2**63 if isinstance(field.data_type, LongType) else 2**31)
        huge = (json_type == "DOUBLE") & (F.abs(F.try_variant_get(field_json, "$", "double")) >= limit)
        return (json_type == "BIGINT") | json_type.rlike(r"^DECIMAL\(\d+,0\)$") | huge
    if field.kind == "number":
        number = F.try_variant_get(field_json, "$", "double")
        whole_cents = (json_type == "DOUBLE") & (F.round(number, 2) == number)
        return (json_type == "BIGINT") | json_type.rlike(r"^DECIMAL\(\d+,[0-2]\)$") | whole_cents
    return None


def _not_an_object_reason(variant: Column) -> Column:
    kind = F.schema_of_variant(variant)
    article = (
        F.when(kind.startswith("ARRAY"), "an array")
        .when(kind == "STRING", "a string")
        .when(kind == "BOOLEAN", "a boolean")
        .when(kind == "VOID", "null")
        .otherwise("a number")
    )
    return F.concat(F.lit("expected a JSON object, got "), article)


def reference_parse_value(df: DataFrame, value_bytes: str = "value") -> DataFrame:
    """``df`` plus ``parse_status``, ``parse_error`` and the contract's fields, from its Kafka value.

    Built in layers, so the JSON is parsed once per record and each field looked up once: Spark
    does not merge a projection into the next when that would repeat a costly expression.
    """
    raw = F.col(value_bytes)
    layered = df.withColumns({"_text": raw.cast("string")}).withColumns({"_utf8": F.is_valid_utf8("_text")})
    layered = layered.withColumns({"_variant": F.when(F.col("_utf8"), F.try_parse_json("_text"))})
    variant = F.col("_variant")
    # Each field's sub-variant once; then its JSON type and its typed value from that.
    layered = layered.withColumns({f"_json_{f.column}": _sub_variant(variant, f) for f in REFERENCE_FIELDS})
    layered = layered.withColumns(
        {f"_type_{f.column}": F.schema_of_variant(F.col(f"_json_{f.column}")) for f in REFERENCE_FIELDS}
    )
    layered = layered.withColumns(
        {
            f"_value_{f.column}": _parsed(F.col(f"_json_{f.column}"), F.col(f"_type_{f.column}"), f)
            for f in REFERENCE_FIELDS
        }
    )

    def wrong(f: ReferenceField) -> Column:
        json_type, value = F.col(f"_type_{f.column}"), F.col(f"_value_{f.column}")
        got = F.substring(F.to_json(F.col(f"_json_{f.column}")), 1, _REASON_VALUE_CHARS)
        too_large = _out_of_range(F.col(f"_json_{f.column}"), json_type, f)
        expected = F.lit(f.expected)
        if too_large is not None:
            expected = F.when(too_large, f.in_range).otherwise(expected)
        return F.when(
            json_type.isNotNull() & (json_type != "VOID") & value.isNull(),
            F.concat(F.lit(f"{f.json_name}: expected "), expected, F.lit(", got "), got),
        )

    layered = layered.withColumns({"_wrong": F.concat_ws("; ", *(wrong(f) for f in REFERENCE_FIELDS))})
    empty = raw.isNull() | F.regexp_like(F.col("_text"), F.lit(r"^\s*$"))
    utf8, wrong_types = F.col("_utf8"), F.col("_wrong")
    is_object = F.regexp_like(F.col("_text"), F.lit(r"^\s*\{"))
    status = (
        F.when(empty, "empty")
        .when(~utf8, "invalid_utf8")
        .when(variant.isNull(), "malformed_json")
        .when(~is_object, "not_an_object")
        .when(wrong_types != "", "wrong_type")
        .otherwise("ok")
    )
    error = (
        F.when(raw.isNull(), "null Kafka value")
        .when(empty, "empty message")
        .when(~utf8, "value is not valid UTF-8")
        .when(variant.isNull(), "not valid JSON")
        .when(~is_object, _not_an_object_reason(variant))
        .when(wrong_types != "", wrong_types)
    )
    layered = layered.withColumns({"parse_status": status, "parse_error": error})
    parsed = F.col("parse_status").isin("ok", "wrong_type")
    helpers = [
        "_text",
        "_utf8",
        "_variant",
        "_wrong",
        *(f"_{p}_{f.column}" for p in ("type", "value") for f in REFERENCE_FIELDS),
    ]
    return layered.withColumns(
        {f.column: F.when(parsed, F.col(f"_value_{f.column}")).cast(f.data_type) for f in REFERENCE_FIELDS}
    ).drop(*helpers)


def reference_to_bronze(kafka: DataFrame, ingestion_time: Column | None = None) -> DataFrame:
    """Bronze rows (``REFERENCE_SCHEMA``) from a Kafka source DataFrame.

    ``ingestion_time`` defaults to ``current_timestamp()``, which a streaming query fixes per
    micro-batch; ``date`` is its UTC date (the session time zone is UTC).
    """
    ingested = F.current_timestamp() if ingestion_time is None else ingestion_time
    rows = kafka.select(
        F.col("value").alias("value_bytes"),
        F.make_valid_utf8(F.col("value").cast("string")).alias("value"),
        F.make_valid_utf8(F.col("key").cast("string")).alias("key"),
        F.col("topic").cast("string").alias("topic"),
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("bigint").alias("offset"),
        F.col("timestamp").cast("timestamp").alias("kafka_timestamp"),
        ingested.cast("timestamp").alias("ingestion_time"),
    )
    rows = reference_parse_value(rows, "value_bytes").withColumn(
        REFERENCE_PARTITION_COLUMN, F.to_date("ingestion_time")
    )
    return rows.select(*(F.col(f.name) for f in REFERENCE_SCHEMA.fields))


# ---------------------------------------------------------------- the test

# sha256 over the reference's rows of the corpus (``_digest``), and its count per status.
REFERENCE_DIGEST = "330072df5873177bbae0ac6522feb324f93309a0813f961efd55d2a923bbffe4"
REFERENCE_STATUSES = {
    "ok": 2508,
    "wrong_type": 934,
    "not_an_object": 281,
    "malformed_json": 316,
    "empty": 10,
    "invalid_utf8": 11,
}


def _kafka(spark, values: list[bytes | None]) -> DataFrame:
    keys = [b"12", None, b"\xff1", b""]
    rows = [(keys[i % 4], v, "ventes_stream", i % 3, i, KAFKA_TIME) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def _rows(frame: DataFrame) -> list[tuple]:
    return [tuple(r) for r in frame.orderBy("offset").collect()]


def _digest(rows: list[tuple]) -> str:
    """The rows' digest, whatever the machine's time zone (timestamps as epoch seconds)."""
    sha = hashlib.sha256()
    for row in rows:
        sha.update(repr([v.timestamp() if isinstance(v, datetime) else v for v in row]).encode())
    return sha.hexdigest()


def test_schema_is_unchanged() -> None:
    assert BRONZE_SCHEMA == REFERENCE_SCHEMA


def test_every_record_parses_as_before(spark) -> None:
    values = corpus()
    kafka = _kafka(spark, values)
    ingested = F.lit(INGESTED)
    # Both in one Spark job, side by side by offset: the frozen parse and today's.
    expected, actual = _rows(reference_to_bronze(kafka, ingested)), _rows(to_bronze(kafka, ingested))
    assert len(expected) == len(actual) == len(values)
    names = REFERENCE_SCHEMA.fieldNames()
    for value, before, now in zip(values, expected, actual, strict=True):
        if before != now:
            changed = {n: (b, a) for n, b, a in zip(names, before, now, strict=True) if b != a}
            shown = None if value is None else value[:160]
            pytest.fail(f"{shown!r} parses differently now (before, now): {str(changed)[:2000]}")
    statuses = Counter(row[names.index("parse_status")] for row in expected)
    assert (_digest(expected), dict(statuses)) == (REFERENCE_DIGEST, REFERENCE_STATUSES)
