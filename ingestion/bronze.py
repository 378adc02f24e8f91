"""Kafka records -> Bronze rows: pure DataFrame functions, built-in Spark functions only.

Every record becomes exactly one row, whatever its value holds. The value is parsed once into a
VARIANT (``try_parse_json``), which keeps the exact JSON type of each field, so ``"2"`` is not
mistaken for ``2`` the way a typed ``from_json`` or a variant cast would. Each field of the
contract is then checked against its JSON type and extracted; ``parse_status`` says whether
and ``parse_error`` why the value failed, in this order of precedence::

    empty          null Kafka value, no bytes, or only whitespace
    invalid_utf8   the bytes are not UTF-8 (``value`` keeps them with U+FFFD replacements)
    malformed_json not JSON (truncated, syntax error, duplicate key, NaN or Infinity, a number
                   of more than 1000 digits, nesting deeper than 1000 levels)
    not_an_object  JSON, but an array, a string, a number, a boolean or null
    wrong_type     an object with a field of the wrong JSON type, or too large for its column:
                   beyond a long or an int, beyond decimal(12,2) (the others are still parsed)
    ok

Absent fields and JSON nulls are not a parse failure: they are null columns, for the Silver
rules to judge. Unknown extra fields stay in ``value``.

The VARIANT parse costs tens of microseconds a record. Most records are the producer's own
compact events, so a record whose text matches ``USUAL_EVENT`` (every field once, in the
contract's order, each a literal that fits its column, no escapes) takes a quicker path: one
regular expression, then ``from_json`` with the exact types, which for such text gives the same
values. Anything else (other key orders, extra or missing fields, nulls, escapes, numbers in
exponent form) takes the VARIANT path. ``tests/ingestion/test_parse_differential.py`` holds both
paths to the same results.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

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

from ventes.contract import BRONZE_COLUMNS, BRONZE_PARTITION_COLUMN, MONTANT_SQL_TYPE, SALE_FIELDS

# The contract's SQL types as Spark types.
_SPARK_TYPES: dict[str, DataType] = {
    "binary": BinaryType(),
    "string": StringType(),
    "int": IntegerType(),
    "bigint": LongType(),
    "timestamp": TimestampType(),
    "date": DateType(),
    MONTANT_SQL_TYPE: DecimalType(12, 2),
}
MONTANT_TYPE = _SPARK_TYPES[MONTANT_SQL_TYPE]
_REASON_VALUE_CHARS = 80

BRONZE_SCHEMA = StructType([StructField(name, _SPARK_TYPES[sql]) for name, sql in BRONZE_COLUMNS])
# The columns Delta keeps min/max statistics on, for the reads that filter on them (dbt's
# incremental models on ingestion_time, lookups by Kafka coordinates, status or sale). Not the
# raw message and the names: computing their statistics cost a quarter of the write.
BRONZE_STATS_COLUMNS = (
    "partition",
    "offset",
    "kafka_timestamp",
    "ingestion_time",
    "parse_status",
    "vente_id",
    "event_timestamp",
)
BRONZE_PROPERTIES = {"delta.dataSkippingStatsColumns": ",".join(BRONZE_STATS_COLUMNS)}


@dataclass(frozen=True)
class Field:
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


FIELDS = tuple(Field(f.name, f.column, f.kind, _SPARK_TYPES[f.sql_type]) for f in SALE_FIELDS)


# JSON whitespace only: Java's \s also takes \x0B and \x0C, which JSON does not.
_WS = r"[ \t\n\r]*"
# Integer literals of as many digits as their column's largest value, numbers with at most 10
# digits before the point and 2 after (decimal(12,2)), strings without escapes or control
# characters (their text is their value). A literal beyond its column makes from_json give a
# null, and the record takes the VARIANT path.
_USUAL_LITERALS = {
    "bigint": r"-?(?:0|[1-9][0-9]{0,18})",
    "int": r"-?(?:0|[1-9][0-9]{0,9})",
    MONTANT_SQL_TYPE: r"-?(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?",
    "string": r'"[^"\\\x00-\x1f]*"',
    "timestamp": r'"[^"\\\x00-\x1f]*"',
}
USUAL_EVENT = (
    rf"^{_WS}\{{{_WS}"
    + rf"{_WS},{_WS}".join(rf'"{f.name}"{_WS}:{_WS}{_USUAL_LITERALS[f.sql_type]}' for f in SALE_FIELDS)
    + rf"{_WS}\}}{_WS}\z"
)
# What from_json reads a usual event as: the timestamp as its text, cast as the VARIANT path does.
_USUAL_SCHEMA = StructType(
    [StructField(f.json_name, StringType() if f.kind == "timestamp" else f.data_type) for f in FIELDS]
)


# Spark casts a time without a date ("10:30:00", "T10:30") to that time on the day the cast runs:
# such a sale would land on the day it was ingested, and on another day when Bronze is rebuilt.
# Spark trims the characters up to the space before it casts.
_TIME_ONLY = r"^[\x00-\x20]*T?[0-9]{1,2}:"


def _typed(text: Column, field: Field) -> Column:
    """A field's text as its Bronze type, the way both paths read a timestamp (a date required)."""
    if field.kind != "timestamp":
        return text
    return F.when(~text.rlike(_TIME_ONLY), text.try_cast(TimestampType()))


def _path(field: Field) -> str:
    return f"$.{field.json_name}"


def _sub_variant(variant: Column, field: Field) -> Column:
    return F.variant_get(variant, _path(field), "variant")


def _parsed(field_json: Column, json_type: Column, field: Field) -> Column:
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
        amount = F.try_variant_get(field_json, "$", MONTANT_TYPE.simpleString())
        # Exponent notation (1.5e2) is a DOUBLE: fine when it has no more than 2 decimal places.
        double_exact = (json_type == "DOUBLE") & (
            F.try_variant_get(field_json, "$", "double") == amount.cast("double")
        )
        exact = (json_type == "BIGINT") | json_type.rlike(r"^DECIMAL\(\d+,[0-2]\)$") | double_exact
        return F.when(exact, amount)
    text = F.try_variant_get(field_json, "$", "string")
    return F.when(json_type == "STRING", _typed(text, field))


def _out_of_range(field_json: Column, json_type: Column, field: Field) -> Column | None:
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


def _read_usual_events(layered: DataFrame) -> DataFrame:
    """``layered`` plus ``_usual_<column>`` per field, read by ``from_json`` where ``_text`` is a
    usual event, and ``_fast``: true where every field was read that way."""
    usual_text = F.coalesce(F.col("_utf8") & F.regexp_like("_text", F.lit(USUAL_EVENT)), F.lit(False))
    layered = layered.withColumns({"_usual": F.when(usual_text, F.from_json("_text", _USUAL_SCHEMA))})
    layered = layered.withColumns(
        {f"_usual_{f.column}": _typed(F.col("_usual")[f.json_name], f) for f in FIELDS}
    )
    # Every field of a usual event is a literal: a null means it did not fit its column, or its
    # timestamp did not read as one, and the VARIANT path gives the error.
    all_read = [F.col(f"_usual_{f.column}").isNotNull() for f in FIELDS]
    return layered.withColumns({"_fast": F.col("_usual").isNotNull() & reduce(operator.and_, all_read)})


def parse_value(df: DataFrame, value_bytes: str = "value") -> DataFrame:
    """``df`` plus ``parse_status``, ``parse_error`` and the contract's fields, from its Kafka value.

    Built in layers, so the JSON is parsed once per record and each field looked up once: Spark
    does not merge a projection into the next when that would repeat a costly expression. A
    usual event (``USUAL_EVENT``) is read by ``from_json`` and never parsed into a VARIANT.
    """
    raw = F.col(value_bytes)
    layered = df.withColumns({"_text": raw.cast("string")}).withColumns({"_utf8": F.is_valid_utf8("_text")})
    layered = _read_usual_events(layered)
    fast = F.col("_fast")
    layered = layered.withColumns({"_variant": F.when(F.col("_utf8") & ~fast, F.try_parse_json("_text"))})
    variant = F.col("_variant")
    # Each field's sub-variant once; then its JSON type and its typed value from that.
    layered = layered.withColumns({f"_json_{f.column}": _sub_variant(variant, f) for f in FIELDS})
    layered = layered.withColumns(
        {f"_type_{f.column}": F.schema_of_variant(F.col(f"_json_{f.column}")) for f in FIELDS}
    )
    layered = layered.withColumns(
        {
            f"_value_{f.column}": F.when(fast, F.col(f"_usual_{f.column}")).otherwise(
                _parsed(F.col(f"_json_{f.column}"), F.col(f"_type_{f.column}"), f)
            )
            for f in FIELDS
        }
    )

    def wrong(f: Field) -> Column:
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

    layered = layered.withColumns({"_wrong": F.concat_ws("; ", *(wrong(f) for f in FIELDS))})
    empty = raw.isNull() | F.regexp_like(F.col("_text"), F.lit(r"^\s*$"))
    utf8, wrong_types = F.col("_utf8"), F.col("_wrong")
    is_object = F.regexp_like(F.col("_text"), F.lit(r"^\s*\{"))
    status = (
        F.when(fast, "ok")
        .when(empty, "empty")
        .when(~utf8, "invalid_utf8")
        .when(variant.isNull(), "malformed_json")
        .when(~is_object, "not_an_object")
        .when(wrong_types != "", "wrong_type")
        .otherwise("ok")
    )
    error = (
        F.when(fast, F.lit(None).cast("string"))
        .when(raw.isNull(), "null Kafka value")
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
        "_usual",
        "_fast",
        "_variant",
        "_wrong",
        *(f"_{p}_{f.column}" for p in ("usual", "json", "type", "value") for f in FIELDS),
    ]
    return layered.withColumns(
        {f.column: F.when(parsed, F.col(f"_value_{f.column}")).cast(f.data_type) for f in FIELDS}
    ).drop(*helpers)


def to_bronze(kafka: DataFrame, ingestion_time: Column | None = None) -> DataFrame:
    """Bronze rows (``BRONZE_SCHEMA``) from a Kafka source DataFrame.

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
    rows = parse_value(rows, "value_bytes").withColumn(BRONZE_PARTITION_COLUMN, F.to_date("ingestion_time"))
    return rows.select(*(F.col(f.name) for f in BRONZE_SCHEMA.fields))
