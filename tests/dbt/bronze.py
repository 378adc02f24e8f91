"""Bronze records for the dbt tests, and the Silver figures they imply, computed in Python.

Records follow the Bronze contract (`ingestion.bronze.BRONZE_SCHEMA`); the expected figures are
a plain reimplementation of the Silver rules, independent of the SQL under test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import yaml

from ingestion.bronze import BRONZE_SCHEMA
from ventes import contract
from ventes.settings import PROJECT_ROOT

TOPIC = "ventes_stream"

# The sale's Bronze columns.
SALE_FIELDS = tuple(field.column for field in contract.SALE_FIELDS)
# Each Silver table's columns, in order, as the dbt models' contracts declare them.
SILVER_COLUMNS = {
    model["name"]: [column["name"] for column in model["columns"]]
    for model in yaml.safe_load(
        (PROJECT_ROOT / "dbt_ventes" / "models" / "silver" / "_silver__models.yml").read_text()
    )["models"]
}
REQUIRED = (
    "vente_id",
    "client_id",
    "produit_id",
    "produit_nom",
    "pays",
    "segment",
    "event_timestamp",
    "quantite",
    "montant",
)

PRODUCTS = {  # produit_id: (name, category, unit price)
    1: ("Clavier", "Informatique", Decimal("49.90")),
    2: ("Souris", "Informatique", Decimal("19.99")),
    3: ("Lampe", "Maison", Decimal("35.00")),
    4: ("Chaise", "Maison", Decimal("89.50")),
    5: ("Stylo", "Bureau", Decimal("2.40")),
}
CLIENTS = {  # client_id: (name, country, segment)
    10: ("Alice Martin", "France", "Particulier"),
    11: ("Bruno Keller", "Suisse", "Professionnel"),
    12: ("Chloé Dubois", "Belgique", "Particulier"),
    13: ("David Roux", "France", "Professionnel"),
}


def utc(text: str) -> datetime:
    """A naive datetime meaning UTC, as Spark (session time zone UTC) returns timestamps."""
    return datetime.fromisoformat(text)


@dataclass
class Topic:
    """The Kafka offsets handed out so far, per partition, and every record written."""

    offsets: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    records: list[dict[str, Any]] = field(default_factory=list)

    def batch(self, ingestion_time: str) -> Batch:
        return Batch(self, utc(ingestion_time))


@dataclass
class Batch:
    """One micro-batch of Bronze records, all with the same ingestion time."""

    topic: Topic
    ingestion_time: datetime
    records: list[dict[str, Any]] = field(default_factory=list)

    def _record(
        self,
        partition: int,
        kafka_timestamp: datetime,
        value: str | None,
        parse_status: str,
        parse_error: str | None,
        **fields: Any,
    ) -> dict[str, Any]:
        offset = self.topic.offsets[partition]
        self.topic.offsets[partition] += 1
        record = {
            "value_bytes": value.encode() if value is not None else None,
            "value": value,
            "key": str(fields.get("client_id")) if fields.get("client_id") is not None else None,
            "topic": TOPIC,
            "partition": partition,
            "offset": offset,
            "kafka_timestamp": kafka_timestamp,
            "ingestion_time": self.ingestion_time,
            "date": self.ingestion_time.date(),
            "parse_status": parse_status,
            "parse_error": parse_error,
            **{name: fields.get(name) for name in SALE_FIELDS},
        }
        self.records.append(record)
        self.topic.records.append(record)
        return record

    def sale(
        self,
        vente_id: int,
        client_id: int,
        produit_id: int,
        quantite: int,
        event_time: str,
        partition: int = 0,
        kafka_time: str | None = None,
        parsed: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A sale from the catalogue; `parsed` replaces parsed fields (to break a rule)."""
        produit_nom, categorie, prix = PRODUCTS[produit_id]
        client_nom, pays, segment = CLIENTS[client_id]
        fields: dict[str, Any] = {
            "vente_id": vente_id,
            "client_id": client_id,
            "produit_id": produit_id,
            "event_timestamp": utc(event_time),
            "quantite": quantite,
            "montant": prix * quantite,
            "client_nom": client_nom,
            "produit_nom": produit_nom,
            "categorie": categorie,
            "pays": pays,
            "segment": segment,
        }
        fields.update(parsed or {})
        value = json.dumps(
            {**{k: v for k, v in fields.items() if k != "event_timestamp"}, "timestamp": event_time},
            default=str,
        )
        kafka_timestamp = utc(kafka_time) if kafka_time else utc(event_time)
        return self._record(partition, kafka_timestamp, value, "ok", None, **fields)

    def unparsable(
        self,
        value: str | None,
        parse_status: str,
        parse_error: str,
        partition: int = 0,
        kafka_time: str = "2024-05-01 10:00:00",
        **fields: Any,
    ) -> dict[str, Any]:
        """A record the parser could not turn into a sale."""
        return self._record(partition, utc(kafka_time), value, parse_status, parse_error, **fields)


def write_batch(spark, path: str, batch: Batch) -> None:
    """Append a batch to the Bronze Delta table by path, as the ingestion job does."""
    rows = [tuple(record[field.name] for field in BRONZE_SCHEMA) for record in batch.records]
    (
        spark.createDataFrame(rows, BRONZE_SCHEMA)
        .write.format("delta")
        .mode("append")
        .partitionBy("date")
        .save(path)
    )


# --- the Silver figures, computed independently ------------------------------------------


def is_valid(record: dict[str, Any]) -> bool:
    return (
        record["parse_status"] == "ok"
        and all(record[name] is not None for name in REQUIRED)
        and record["montant"] >= 0
        and record["quantite"] > 0
    )


def winning_sales(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """One record per vente_id: the latest by Kafka timestamp, then partition, then offset."""
    best: dict[int, dict[str, Any]] = {}
    for record in filter(is_valid, records):
        key = (record["kafka_timestamp"], record["partition"], record["offset"])
        kept = best.get(record["vente_id"])
        if kept is None or key > (kept["kafka_timestamp"], kept["partition"], kept["offset"]):
            best[record["vente_id"]] = record
    return best


def hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def expected_silver(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every Silver table as Python values, keyed like the tables' natural keys."""
    sales = winning_sales(records)
    by_product_country: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    by_hour: dict[datetime, list] = defaultdict(lambda: [Decimal(0), 0])
    by_product_segment: dict[tuple, Decimal] = defaultdict(Decimal)
    by_product: dict[str, Decimal] = defaultdict(Decimal)
    for sale in sales.values():
        for totals in (
            by_product_country[(sale["produit_nom"], sale["pays"])],
            by_hour[hour(sale["event_timestamp"])],
        ):
            totals[0] += sale["montant"]
            totals[1] += sale["quantite"]
        by_product_segment[(sale["produit_nom"], sale["segment"])] += sale["montant"]
        by_product[sale["produit_nom"]] += sale["montant"]
    ranking = sorted(by_product.items(), key=lambda item: (-item[1], item[0]))[:10]
    rejected = [r for r in records if not is_valid(r)]
    valid_records = len(records) - len(rejected)
    return {
        "ventes_clean": {
            vid: {
                **{name: s[name] for name in SALE_FIELDS},
                "heure": hour(s["event_timestamp"]),
                "partition": s["partition"],
                "offset": s["offset"],
                "kafka_timestamp": s["kafka_timestamp"],
                "ingestion_time": s["ingestion_time"],
            }
            for vid, s in sales.items()
        },
        "ventes_rejets": {(r["topic"], r["partition"], r["offset"]): r["parse_status"] for r in rejected},
        "ventes_aggreges": {k: tuple(v) for k, v in by_product_country.items()},
        "top_produits": [(rank, name, total) for rank, (name, total) in enumerate(ranking, 1)],
        "hourly_sales": {k: tuple(v) for k, v in by_hour.items()},
        "ventes_par_segment": dict(by_product_segment),
        "pipeline_quality": {
            "bronze_rows": len(records),
            "valid_sales": len(sales),
            "rejected_rows": len(rejected),
            "duplicates_dropped": valid_records - len(sales),
            "last_ingestion_time": max(r["ingestion_time"] for r in records),
        },
    }


# The two batches the dbt build tests write to Bronze, one build each.


def first_batch(topic: Topic):
    batch = topic.batch("2024-05-01 10:00:00")
    for vente_id, (client, produit, quantite, at, partition) in enumerate(
        [
            (10, 1, 1, "2024-05-01 08:05:00", 0),
            (11, 2, 3, "2024-05-01 08:20:00", 1),
            (12, 3, 2, "2024-05-01 08:40:00", 2),
            (13, 4, 1, "2024-05-01 08:55:00", 0),
            (10, 5, 10, "2024-05-01 09:01:00", 1),
            (11, 1, 2, "2024-05-01 09:10:00", 2),
            (12, 2, 1, "2024-05-01 09:15:00", 0),
            (13, 3, 4, "2024-05-01 09:30:00", 1),
            (10, 4, 2, "2024-05-01 09:45:00", 2),
            (11, 5, 7, "2024-05-01 09:50:00", 0),
        ],
        start=1,
    ):
        batch.sale(vente_id, client, produit, quantite, at, partition=partition)
    # The same sale twice in one batch: the later Kafka record wins.
    batch.sale(11, 12, 1, 1, "2024-05-01 09:30:00", kafka_time="2024-05-01 09:30:00")
    batch.sale(11, 12, 1, 3, "2024-05-01 09:30:00", kafka_time="2024-05-01 09:31:00")
    # Same Kafka timestamp: the higher partition wins.
    batch.sale(12, 13, 2, 2, "2024-05-01 09:40:00", partition=2)
    batch.sale(12, 13, 2, 5, "2024-05-01 09:40:00", partition=1)
    # Records that are not valid sales.
    batch.unparsable('{"vente_id": 90, "client_id": ', "malformed_json", "Unexpected end-of-input")
    batch.sale(91, 10, 1, 1, "2024-05-01 09:05:00", parsed={"montant": Decimal("-49.90")})
    batch.sale(92, 11, 2, 1, "2024-05-01 09:06:00", parsed={"client_id": None})
    batch.sale(93, 12, 3, 0, "2024-05-01 09:07:00")
    batch.unparsable(None, "empty", "null Kafka value")
    return batch


def second_batch(topic: Topic):
    # Ingested 10 minutes after the first batch: within the lookback, so the second build
    # reads the first batch again, which must change nothing.
    batch = topic.batch("2024-05-01 10:10:00")
    batch.sale(20, 10, 2, 2, "2024-05-01 10:02:00", partition=1)
    batch.sale(21, 11, 3, 1, "2024-05-01 10:03:00", partition=2)
    # Late events: they happened hours ago and land in their own hours, one of them new.
    batch.sale(22, 12, 4, 1, "2024-05-01 07:45:00", kafka_time="2024-05-01 10:05:00")
    batch.sale(23, 13, 5, 6, "2024-05-01 08:10:00", kafka_time="2024-05-01 10:06:00")
    # Sale 1 again, later in Kafka, with another quantity: it replaces the first record.
    batch.sale(1, 10, 1, 4, "2024-05-01 08:05:00", kafka_time="2024-05-01 10:07:00")
    # Sale 2 again, but earlier in Kafka than the record kept: it loses.
    batch.sale(2, 11, 2, 9, "2024-05-01 08:20:00", partition=1, kafka_time="2024-05-01 08:00:00")
    # Sale 3 redelivered as is: a later offset of the same partition, same content.
    batch.sale(3, 12, 3, 2, "2024-05-01 08:40:00", partition=2)
    # Sale 5 again, later, but invalid: rejected, the valid record stays.
    batch.sale(5, 10, 5, 10, "2024-05-01 09:01:00", kafka_time="2024-05-01 10:08:00", parsed={"quantite": -1})
    batch.unparsable(
        '{"vente_id": 94, "montant": "abc"}',
        "wrong_type",
        'montant: expected a number, got "abc"',
        vente_id=94,
    )
    batch.unparsable("[1, 2]", "not_an_object", "expected a JSON object, got an array")
    batch.unparsable("\ufffd\ufffd", "invalid_utf8", "value is not UTF-8")
    batch.sale(95, 13, 4, 1, "2024-05-01 10:04:00", parsed={"event_timestamp": None})
    return batch
