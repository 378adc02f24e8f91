"""Odd messages through the Bronze parse: each one is kept, rejected, and says why.

A value near Kafka's 1 MiB limit, amounts beyond decimal(12,2), ids beyond a long, NaN and
Infinity, duplicate keys. Anything not ``ok`` is a reject in Silver (``int_ventes__validated``
turns ``parse_status`` and ``parse_error`` into its reason).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import functions as F

from ingestion.bronze import FIELDS, to_bronze
from tests.ingestion.test_bronze_transform import INT, KAFKA_SCHEMA, NUMBER, SALE, _sale
from ventes.contract import PARSE_STATUSES

MIB = 1024 * 1024
LONG = "an integer between -9223372036854775808 and 9223372036854775807"
AMOUNT = "a number between -9999999999.99 and 9999999999.99"
NOT_JSON = ("malformed_json", "not valid JSON")


def _literal(field: str, literal: bytes) -> bytes:
    """A sale whose ``field`` is the raw JSON ``literal`` (what json.dumps cannot write)."""
    return _sale(**{field: "@"}).replace(b'"@"', literal)


def _duplicate(field: str, literal: bytes) -> bytes:
    """A sale holding ``field`` twice, the second time as ``literal``."""
    return _sale()[:-1] + b", " + f'"{field}": '.encode() + literal + b"}"


def _near_limit(**changes: object) -> bytes:
    """A sale padded by ``client_nom`` to just under 1 MiB."""
    size = len(_sale(**changes, client_nom=""))
    return _sale(**changes, client_nom="x" * (MIB - 64 - size))


# (message, parse_status, parse_error); wrong_type rows keep their other fields.
ODD = [
    # NaN and Infinity are not JSON, bare or as an amount; as strings they are not numbers.
    (_literal("montant", b"NaN"), *NOT_JSON),
    (_literal("montant", b"Infinity"), *NOT_JSON),
    (_literal("montant", b"-Infinity"), *NOT_JSON),
    (_literal("vente_id", b"NaN"), *NOT_JSON),
    (b"NaN", *NOT_JSON),
    (_sale(montant="NaN"), "wrong_type", f'montant: expected {NUMBER}, got "NaN"'),
    (_sale(montant="Infinity"), "wrong_type", f'montant: expected {NUMBER}, got "Infinity"'),
    # Duplicate keys: which one would win is nobody's guess, so the record is refused.
    (_duplicate("vente_id", b"8"), *NOT_JSON),
    (_duplicate("montant", b"1799.98"), *NOT_JSON),
    (_duplicate("coupon", b'{"code": "A", "code": "B"}'), *NOT_JSON),
    # Ids beyond a long, quantities beyond an int.
    (_sale(vente_id=2**63), "wrong_type", f"vente_id: expected {LONG}, got {2**63}"),
    (_sale(vente_id=-(2**63) - 1), "wrong_type", f"vente_id: expected {LONG}, got {-(2**63) - 1}"),
    (_sale(vente_id=2**64), "wrong_type", f"vente_id: expected {LONG}, got {2**64}"),
    (_sale(vente_id=10**40), "wrong_type", f"vente_id: expected {LONG}, got 1.0E40"),
    (_literal("vente_id", b"1e19"), "wrong_type", f"vente_id: expected {LONG}, got 1.0E19"),
    (_sale(client_id=2**70), "wrong_type", f"client_id: expected {LONG}, got {2**70}"),
    (_sale(produit_id=2**63), "wrong_type", f"produit_id: expected {LONG}, got {2**63}"),
    (_sale(quantite=2**31), "wrong_type", f"quantite: expected {INT}, got {2**31}"),
    (_sale(quantite=-(2**31) - 1), "wrong_type", f"quantite: expected {INT}, got {-(2**31) - 1}"),
    (_sale(vente_id=2.5), "wrong_type", "vente_id: expected an integer, got 2.5"),
    # Amounts beyond decimal(12,2); too many decimals is said first.
    (_sale(montant=10**10), "wrong_type", f"montant: expected {AMOUNT}, got 10000000000"),
    (_literal("montant", b"12345678901.5"), "wrong_type", f"montant: expected {AMOUNT}, got 12345678901.5"),
    (_literal("montant", b"1e300"), "wrong_type", f"montant: expected {AMOUNT}, got 1.0E300"),
    (_literal("montant", b"1e400"), "wrong_type", f'montant: expected {AMOUNT}, got "Infinity"'),
    (_sale(montant=10**40), "wrong_type", f"montant: expected {AMOUNT}, got 1.0E40"),
    (_literal("montant", b"-1e10"), "wrong_type", f"montant: expected {AMOUNT}, got -1.0E10"),
    (_literal("montant", b"-10000000000.00"), "wrong_type", f"montant: expected {AMOUNT}, got -10000000000"),
    (_sale(montant=12345678901.125), "wrong_type", f"montant: expected {NUMBER}, got 12345678901.125"),
    (_literal("montant", b"1" * 1000), "wrong_type", f'montant: expected {AMOUNT}, got "Infinity"'),
    # Numbers of more than 1000 digits, nesting deeper than 1000 levels: refused by the parser.
    (_literal("montant", b"1" * 1001), *NOT_JSON),
    (_literal("coupon", b"[" * 1000 + b"]" * 1000), *NOT_JSON),
    # Near Kafka's 1 MiB limit: kept whole, judged like any other.
    (_near_limit(montant="x" * (MIB - 512)), "wrong_type", f'montant: expected {NUMBER}, got "{"x" * 79}'),
    (_near_limit()[: MIB - 100], *NOT_JSON),
    (_literal("montant", b"1" * (MIB - 512)), *NOT_JSON),
    (b" " * (MIB - 1), "empty", "empty message"),
    (b"\xff" * (MIB - 1), "invalid_utf8", "value is not valid UTF-8"),
    (b"[" + b"1," * (MIB // 2 - 2) + b"1]", "not_an_object", "expected a JSON object, got an array"),
]  # fmt: skip

# Just inside every limit: parsed to the exact values.
EDGES = [
    (_sale(vente_id=2**63 - 1), "vente_id", 2**63 - 1),
    (_sale(vente_id=-(2**63)), "vente_id", -(2**63)),
    (_sale(quantite=2**31 - 1), "quantite", 2**31 - 1),
    (_literal("montant", b"9999999999.99"), "montant", Decimal("9999999999.99")),
    (_literal("montant", b"-9999999999.99"), "montant", Decimal("-9999999999.99")),
    (_literal("montant", b"9.99999999999e9"), "montant", Decimal("9999999999.99")),
    (_literal("montant", b"1" + b"0" * 9), "montant", Decimal("1000000000.00")),
    (_literal("coupon", b"[" * 999 + b"]" * 999), "vente_id", 7),
    (_near_limit(), "client_nom", "x" * (MIB - 64 - len(_sale(client_nom="")))),
]


def _bronze(spark, values: list[bytes]) -> list[dict]:
    rows = [(b"12", v, "ventes_stream", 0, i, datetime(2025, 3, 1, tzinfo=UTC)) for i, v in enumerate(values)]
    kafka = spark.createDataFrame(rows, KAFKA_SCHEMA)
    return [
        r.asDict() for r in to_bronze(kafka, ingestion_time=F.current_timestamp()).orderBy("offset").collect()
    ]


def test_odd_messages_are_rejected_with_their_reason(spark) -> None:
    assert all(len(value) < MIB for value, _, _ in ODD)
    rows = _bronze(spark, [value for value, _, _ in ODD])
    assert len(rows) == len(ODD)
    for row, (value, status, error) in zip(rows, ODD, strict=True):
        shown = value[:120]
        assert row["value_bytes"] == value, shown
        assert (row["parse_status"], row["parse_error"]) == (status, error), shown
        assert status in PARSE_STATUSES and status != "ok"
        if status == "wrong_type":
            bad = error.split(":")[0]
            assert all(row[f.column] is None for f in FIELDS if f.json_name == bad), shown
            assert row["pays"] == SALE["pays"] and row["segment"] == SALE["segment"], shown
        else:
            assert all(row[f.column] is None for f in FIELDS), shown


def test_values_just_inside_the_limits_parse_exactly(spark) -> None:
    rows = _bronze(spark, [value for value, _, _ in EDGES])
    for row, (value, column, expected) in zip(rows, EDGES, strict=True):
        assert (row["parse_status"], row["parse_error"]) == ("ok", None), value[:120]
        assert row[column] == expected, value[:120]
