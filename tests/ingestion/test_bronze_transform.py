"""The Bronze transform on a local Spark session: one row per record, whatever it holds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from ingestion.bronze import BRONZE_SCHEMA, FIELDS, to_bronze
from ingestion.events import BAD_KINDS, messages
from ventes.contract import PARSE_STATUSES

KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
KAFKA_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INGESTED = datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)
NUMBER = "a number with at most 2 decimal places"
ISO = "an ISO-8601 timestamp"
INT = "an integer between -2147483648 and 2147483647"

SALE = {
    "vente_id": 7,
    "client_id": 12,
    "produit_id": 101,
    "timestamp": "2025-03-01T10:30:45.123456",
    "quantite": 2,
    "montant": 1799.98,
    "client_nom": "Jean Dupont",
    "produit_nom": "Ordinateur portable",
    "categorie": "Electronique",
    "pays": "France",
    "segment": "Particulier",
}


def _sale(**changes) -> bytes:
    return json.dumps({**SALE, **changes}, ensure_ascii=False).encode()


def _bronze(spark, values: list[bytes | None], key: bytes | None = b"12") -> list[dict]:
    rows = [(key, v, "ventes_stream", i % 3, 100 + i, KAFKA_TIME) for i, v in enumerate(values)]
    kafka = spark.createDataFrame(rows, KAFKA_SCHEMA)
    out = to_bronze(kafka, ingestion_time=F.lit(INGESTED)).orderBy("offset").collect()
    return [r.asDict() for r in out]


def test_schema_is_the_contract(spark) -> None:
    kafka = spark.createDataFrame([], KAFKA_SCHEMA)
    out = to_bronze(kafka)
    assert [(f.name, f.dataType) for f in out.schema.fields] == [
        (f.name, f.dataType) for f in BRONZE_SCHEMA.fields
    ]
    assert [f.name for f in BRONZE_SCHEMA.fields] == [
        "value_bytes", "value", "key", "topic", "partition", "offset", "kafka_timestamp",
        "ingestion_time", "date", "parse_status", "parse_error", "vente_id", "client_id",
        "produit_id", "event_timestamp", "quantite", "montant", "client_nom", "produit_nom",
        "categorie", "pays", "segment",
    ]  # fmt: skip


def test_valid_sale_is_parsed_with_its_kafka_coordinates(spark) -> None:
    (row,) = _bronze(spark, [_sale()])
    assert row["parse_status"] == "ok" and row["parse_error"] is None
    assert row["value_bytes"] == _sale() and row["value"] == _sale().decode()
    assert (row["key"], row["topic"], row["partition"], row["offset"]) == ("12", "ventes_stream", 0, 100)
    assert row["kafka_timestamp"].replace(tzinfo=UTC) == KAFKA_TIME
    assert row["ingestion_time"].replace(tzinfo=UTC) == INGESTED
    assert row["date"] == date(2025, 3, 2)  # UTC date of the ingestion time
    assert (row["vente_id"], row["client_id"], row["produit_id"], row["quantite"]) == (7, 12, 101, 2)
    assert row["montant"] == Decimal("1799.98")
    assert row["event_timestamp"].replace(tzinfo=UTC) == datetime(2025, 3, 1, 10, 30, 45, 123456, tzinfo=UTC)
    assert (row["client_nom"], row["produit_nom"], row["categorie"], row["pays"], row["segment"]) == (
        "Jean Dupont", "Ordinateur portable", "Electronique", "France", "Particulier")  # fmt: skip


def test_producer_events_all_parse(spark) -> None:
    produced = list(messages(300, seed=5))
    rows = _bronze(spark, [m.value for m in produced])
    assert {r["parse_status"] for r in rows} == {"ok"}
    for message, row in zip(produced, rows, strict=True):
        event = json.loads(message.value, parse_float=Decimal)
        assert row["vente_id"] == event["vente_id"]
        assert row["montant"] == event["montant"]
        assert row["event_timestamp"].replace(tzinfo=UTC) == datetime.fromisoformat(event["timestamp"])


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-03-01T10:30:00", datetime(2025, 3, 1, 10, 30, tzinfo=UTC)),  # naive means UTC
        ("2025-03-01T10:30:00Z", datetime(2025, 3, 1, 10, 30, tzinfo=UTC)),
        ("2025-03-01T10:30:00+02:00", datetime(2025, 3, 1, 8, 30, tzinfo=UTC)),
        ("2025-03-01T00:30:00.5-05:30", datetime(2025, 3, 1, 6, 0, 0, 500000, tzinfo=UTC)),
        ("2025-03-01 10:30:00", datetime(2025, 3, 1, 10, 30, tzinfo=UTC)),
    ],
)
def test_event_timestamps_are_converted_to_utc(spark, stamp: str, expected: datetime) -> None:
    (row,) = _bronze(spark, [_sale(timestamp=stamp)])
    assert row["parse_status"] == "ok"
    assert row["event_timestamp"].replace(tzinfo=UTC) == expected


def test_extra_fields_are_kept_in_value(spark) -> None:
    raw = _sale(coupon={"code": "NOEL", "remise": 0.1}, canal="web")
    (row,) = _bronze(spark, [raw])
    assert row["parse_status"] == "ok"
    assert json.loads(row["value"])["coupon"] == {"code": "NOEL", "remise": 0.1}
    assert row["value_bytes"] == raw


def test_absent_and_null_fields_are_null_not_errors(spark) -> None:
    partial = {k: v for k, v in SALE.items() if k not in ("segment", "montant")}
    (row,) = _bronze(spark, [json.dumps({**partial, "client_id": None}).encode()])
    assert row["parse_status"] == "ok"
    assert row["client_id"] is None and row["segment"] is None and row["montant"] is None
    assert row["vente_id"] == 7


def test_montant_in_exponent_notation_is_a_number(spark) -> None:
    (row,) = _bronze(spark, [_sale(montant=0).replace(b'"montant": 0', b'"montant": 1.5e2')])
    assert row["parse_status"] == "ok" and row["montant"] == Decimal("150.00")


def test_negative_montant_parses_for_silver_to_judge(spark) -> None:
    (row,) = _bronze(spark, [_sale(montant=-12.5)])
    assert row["parse_status"] == "ok" and row["montant"] == Decimal("-12.50")


BAD_RECORDS = [
    (None, "empty", "null Kafka value"),
    (b"", "empty", "empty message"),
    (b" \t\r\n", "empty", "empty message"),
    (b'{"vente_id": 1, "client_nom": "\xff\xfeA"}', "invalid_utf8", "value is not valid UTF-8"),
    (b"\xc3\x28", "invalid_utf8", "value is not valid UTF-8"),
    (b'{"vente_id": 1, "montant": ', "malformed_json", "not valid JSON"),
    (b"{'vente_id': 1}", "malformed_json", "not valid JSON"),
    (b"vente 12", "malformed_json", "not valid JSON"),
    (b"[1, 2]", "not_an_object", "expected a JSON object, got an array"),
    (b'"vente"', "not_an_object", "expected a JSON object, got a string"),
    (b"42", "not_an_object", "expected a JSON object, got a number"),
    (b"null", "not_an_object", "expected a JSON object, got null"),
    (b" true", "not_an_object", "expected a JSON object, got a boolean"),
    (_sale(montant="abc"), "wrong_type", f'montant: expected {NUMBER}, got "abc"'),
    (_sale(montant=12.345), "wrong_type", f"montant: expected {NUMBER}, got 12.345"),
    (_sale(montant=1.2345e-7), "wrong_type", f"montant: expected {NUMBER}, got 1.2345E-7"),
    (_sale(quantite="2"), "wrong_type", 'quantite: expected an integer, got "2"'),
    (_sale(quantite=2.5), "wrong_type", "quantite: expected an integer, got 2.5"),
    (_sale(quantite=2**40), "wrong_type", f"quantite: expected {INT}, got {2**40}"),
    (_sale(vente_id="V-7"), "wrong_type", 'vente_id: expected an integer, got "V-7"'),
    (_sale(timestamp="hier"), "wrong_type", f'timestamp: expected {ISO}, got "hier"'),
    (_sale(timestamp=1740825045), "wrong_type", f"timestamp: expected {ISO}, got 1740825045"),
    # A time without a date, which Spark would date to the day it parses (both parse paths).
    (_sale(timestamp="10:30:00"), "wrong_type", f'timestamp: expected {ISO}, got "10:30:00"'),
    (_sale(timestamp=" T10:30", canal="web"), "wrong_type", f'timestamp: expected {ISO}, got " T10:30"'),
    (_sale(pays=["France"]), "wrong_type", 'pays: expected a string, got ["France"]'),
    (_sale(client_nom=True), "wrong_type", "client_nom: expected a string, got true"),
]  # fmt: skip


def test_bad_records_are_kept_with_status_and_reason(spark) -> None:
    rows = _bronze(spark, [value for value, _, _ in BAD_RECORDS])  # one Spark job for all of them
    assert len(rows) == len(BAD_RECORDS)
    for row, (value, status, error) in zip(rows, BAD_RECORDS, strict=True):
        assert row["value_bytes"] == value, value  # the original bytes, whatever they are
        assert (row["parse_status"], row["parse_error"]) == (status, error), value
        if status != "wrong_type":
            assert all(row[f.column] is None for f in FIELDS), value


def test_wrong_type_keeps_the_fields_that_are_right(spark) -> None:
    (row,) = _bronze(spark, [_sale(quantite="deux", client_id="C-12")])
    assert row["parse_status"] == "wrong_type"
    assert row["parse_error"] == (
        'client_id: expected an integer, got "C-12"; quantite: expected an integer, got "deux"'
    )
    assert row["client_id"] is None and row["quantite"] is None
    assert (row["vente_id"], row["montant"], row["pays"]) == (7, Decimal("1799.98"), "France")


def test_invalid_utf8_keeps_bytes_and_readable_text(spark) -> None:
    raw = b'{"client_nom": "caf\xe9"}'  # Latin-1, not UTF-8
    (row,) = _bronze(spark, [raw], key=b"\xff1")
    assert row["value_bytes"] == raw
    assert row["value"] == '{"client_nom": "caf\ufffd"}'
    assert row["key"] == "\ufffd1"


def test_huge_message_is_kept_whole(spark) -> None:
    raw = _sale(client_nom="é" * 500_000)  # about 1 MB, Kafka's default message size limit
    assert len(raw) > 1_000_000
    (row,) = _bronze(spark, [raw])
    assert row["parse_status"] == "ok"
    assert row["value_bytes"] == raw and len(row["client_nom"]) == 500_000


def test_null_key_and_every_producer_bad_kind(spark) -> None:
    produced = list(messages(2_000, seed=11, bad_ratio=0.5))
    rows = _bronze(spark, [m.value for m in produced])
    assert len(rows) == len(produced)
    expected = {
        "valid": {"ok"},
        "late": {"ok"},
        "duplicate": {"ok"},
        "negative_montant": {"ok"},
        "null_client_id": {"ok"},
        "malformed_json": {"malformed_json"},
        "not_an_object": {"not_an_object"},
        "wrong_type": {"wrong_type"},
    }
    seen: dict[str, set[str]] = {}
    for message, row in zip(produced, rows, strict=True):
        seen.setdefault(message.kind, set()).add(row["parse_status"])
        assert row["value_bytes"] == message.value
    assert set(seen) == {"valid", *BAD_KINDS}
    assert seen == expected
    assert set(PARSE_STATUSES) >= {s for statuses in seen.values() for s in statuses}
