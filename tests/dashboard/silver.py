"""Small Silver lakes written with ``deltalake`` for the dashboard tests.

``SilverLake.write(sales, rejects)`` builds every Silver table of the data contract from a
list of sales, the way dbt would (aggregates, top 10, hourly, product × segment, quality),
so tests can compare the API with figures computed here from the same sales.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from arro3.core import Array, DataType, Table
from deltalake import write_deltalake

EVENTS_START = datetime(2026, 11, 26, 9, 10, tzinfo=UTC)


def _column(kind: str, values: list[Any]) -> Array:
    """An Arrow column of a Silver type; decimals and timestamps go through their text form."""
    if kind == "string":
        return Array(values, DataType.string())
    if kind == "int":
        return Array(values, DataType.int32())
    if kind == "bigint":
        return Array(values, DataType.int64())
    if kind.startswith("decimal"):
        precision, scale = (int(x) for x in kind[len("decimal(") : -1].split(","))
        text = [None if v is None else str(v) for v in values]
        return Array(text, DataType.string()).cast(DataType.decimal128(precision, scale))
    if kind == "timestamp":
        text = [None if v is None else v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for v in values]
        return Array(text, DataType.string()).cast(DataType.timestamp("us", tz="UTC"))
    raise ValueError(kind)


def write_table(
    path: Path, schema: dict[str, str], rows: list[dict[str, Any]], mode: str = "overwrite"
) -> None:
    table = Table.from_pydict({name: _column(kind, [r[name] for r in rows]) for name, kind in schema.items()})
    write_deltalake(str(path), table, mode=mode, schema_mode="overwrite" if mode == "overwrite" else None)


CLEAN_SCHEMA = {
    "vente_id": "bigint", "client_id": "bigint", "produit_id": "bigint", "event_timestamp": "timestamp",
    "heure": "timestamp", "quantite": "int", "montant": "decimal(12,2)", "client_nom": "string",
    "produit_nom": "string", "categorie": "string", "pays": "string", "segment": "string",
    "kafka_timestamp": "timestamp", "partition": "int", "offset": "bigint", "ingestion_time": "timestamp",
}  # fmt: skip
REJECTS_SCHEMA = {
    "topic": "string", "partition": "int", "offset": "bigint", "kafka_timestamp": "timestamp",
    "ingestion_time": "timestamp", "value": "string", "parse_status": "string", "reasons": "string",
    "vente_id": "bigint",
}  # fmt: skip
AGGREGATES_SCHEMA = {
    "produit_nom": "string", "pays": "string", "total_montant": "decimal(18,2)", "total_quantite": "bigint",
}  # fmt: skip
TOP_SCHEMA = {"rank": "int", "produit_nom": "string", "total_montant": "decimal(18,2)"}
HOURLY_SCHEMA = {"heure": "timestamp", "total_montant": "decimal(18,2)", "total_quantite": "bigint"}
SEGMENT_SCHEMA = {"produit": "string", "segment": "string", "montant": "decimal(18,2)"}
QUALITY_SCHEMA = {
    "bronze_rows": "bigint", "valid_sales": "bigint", "rejected_rows": "bigint",
    "duplicates_dropped": "bigint", "last_ingestion_time": "timestamp", "built_at": "timestamp",
}  # fmt: skip
BRONZE_SCHEMA = {"value": "string", "partition": "int", "offset": "bigint", "ingestion_time": "timestamp"}


def sale(
    vente_id: int, produit: str, pays: str, segment: str, quantite: int, prix: str, when: datetime
) -> dict:
    return {
        "vente_id": vente_id,
        "client_id": 100 + vente_id % 5,
        "produit_id": sum(map(ord, produit)),
        "event_timestamp": when,
        "heure": when.replace(minute=0, second=0, microsecond=0),
        "quantite": quantite,
        "montant": Decimal(prix) * quantite,
        "client_nom": f"Client {100 + vente_id % 5}",
        "produit_nom": produit,
        "categorie": "Informatique",
        "pays": pays,
        "segment": segment,
        "kafka_timestamp": when,
        "partition": vente_id % 3,
        "offset": vente_id,
        "ingestion_time": when + timedelta(seconds=30),
    }


def sample_sales() -> list[dict]:
    base = EVENTS_START
    rows = [
        ("Ordinateur portable", "France", "Entreprise", 2, "899.99", 0),
        ("Ordinateur portable", "Belgique", "Particulier", 1, "899.99", 1),
        ("Souris sans fil", "France", "Particulier", 5, "25.50", 1),
        ("Souris sans fil", "Suisse", "PME", 3, "25.50", 2),
        ("Clavier mécanique", "France", "PME", 2, "75.00", 0),
        ("Clavier mécanique", "Belgique", "Entreprise", 4, "75.00", 2),
        ("Casque audio", "Suisse", "Particulier", 1, "149.95", 2),
        ("Écran 27 pouces", "France", "Entreprise", 3, "329.00", 1),
        ("Webcam HD", "Belgique", "Particulier", 2, "59.90", 0),
        ("Station d'accueil", "France", "PME", 1, "189.00", 2),
        ("Disque SSD 1 To", "Suisse", "Entreprise", 2, "94.99", 1),
        ("Tapis de souris", "France", "Particulier", 6, "12.00", 0),
        ("Imprimante laser", "Belgique", "PME", 1, "249.00", 2),
        ("Hub USB-C", "France", "Particulier", 2, "39.90", 1),
        ("Micro USB", "Suisse", "PME", 1, "79.00", 0),
    ]
    return [
        sale(i + 1, produit, pays, segment, q, prix, base + timedelta(hours=h, minutes=i))
        for i, (produit, pays, segment, q, prix, h) in enumerate(rows)
    ]


def sample_rejects() -> list[dict]:
    when = EVENTS_START + timedelta(hours=2, minutes=30)
    rows = [
        ("{not json", "malformed_json", "malformed JSON: Expecting property name"),
        ('{"montant": "abc"}', "wrong_type", 'montant: expected a number, got "abc"; vente_id: missing'),
        ('{"montant": -5}', "ok", "montant < 0; vente_id: missing"),
    ]
    return [
        {
            "topic": "ventes_stream",
            "partition": 0,
            "offset": 1000 + i,
            "kafka_timestamp": when,
            "ingestion_time": when,
            "value": value,
            "parse_status": status,
            "reasons": reasons,
            "vente_id": None,
        }
        for i, (value, status, reasons) in enumerate(rows)
    ]


@dataclass
class Expected:
    """Figures computed in the test from the sales, to compare the API with."""

    sales: list[dict]
    aggregated: dict[tuple[str, str], tuple[Decimal, int]] = field(default_factory=dict)
    by_product: dict[str, Decimal] = field(default_factory=dict)
    hourly: dict[datetime, tuple[Decimal, int]] = field(default_factory=dict)
    by_segment: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        aggregated: dict = defaultdict(lambda: [Decimal(0), 0])
        hourly: dict = defaultdict(lambda: [Decimal(0), 0])
        by_product: dict = defaultdict(Decimal)
        by_segment: dict = defaultdict(Decimal)
        for s in self.sales:
            aggregated[(s["produit_nom"], s["pays"])][0] += s["montant"]
            aggregated[(s["produit_nom"], s["pays"])][1] += s["quantite"]
            hourly[s["heure"]][0] += s["montant"]
            hourly[s["heure"]][1] += s["quantite"]
            by_product[s["produit_nom"]] += s["montant"]
            by_segment[(s["produit_nom"], s["segment"])] += s["montant"]
        self.aggregated = {k: (m, q) for k, (m, q) in aggregated.items()}
        self.hourly = {k: (m, q) for k, (m, q) in hourly.items()}
        self.by_product = dict(by_product)
        self.by_segment = dict(by_segment)

    def top10(self) -> list[tuple[int, str, Decimal]]:
        ranked = sorted(self.by_product.items(), key=lambda item: (-item[1], item[0]))[:10]
        return [(i, name, total) for i, (name, total) in enumerate(ranked, start=1)]


class SilverLake:
    """A lake root with the Silver tables (and a Bronze table) written by the test."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, table: str) -> Path:
        return self.root / "silver" / table

    @property
    def bronze_path(self) -> Path:
        return self.root / "bronze" / "ventes_raw"

    def write(
        self,
        sales: list[dict],
        rejects: list[dict] | None = None,
        duplicates: int = 0,
        built_at: datetime | None = None,
        bronze_commit: bool = True,
    ) -> Expected:
        rejects = sample_rejects() if rejects is None else rejects
        expected = Expected(sales)
        write_table(self.path("ventes_clean"), CLEAN_SCHEMA, sales)
        write_table(self.path("ventes_rejets"), REJECTS_SCHEMA, rejects)
        write_table(
            self.path("ventes_aggreges"),
            AGGREGATES_SCHEMA,
            [
                {"produit_nom": p, "pays": c, "total_montant": m, "total_quantite": q}
                for (p, c), (m, q) in expected.aggregated.items()
            ],
        )
        write_table(
            self.path("top_produits"),
            TOP_SCHEMA,
            [{"rank": r, "produit_nom": p, "total_montant": m} for r, p, m in expected.top10()],
        )
        write_table(
            self.path("hourly_sales"),
            HOURLY_SCHEMA,
            [{"heure": h, "total_montant": m, "total_quantite": q} for h, (m, q) in expected.hourly.items()],
        )
        write_table(
            self.path("ventes_par_segment"),
            SEGMENT_SCHEMA,
            [{"produit": p, "segment": s, "montant": m} for (p, s), m in expected.by_segment.items()],
        )
        last_ingestion = max((s["ingestion_time"] for s in sales), default=None)
        write_table(
            self.path("pipeline_quality"),
            QUALITY_SCHEMA,
            [
                {
                    "bronze_rows": len(sales) + len(rejects) + duplicates,
                    "valid_sales": len(sales),
                    "rejected_rows": len(rejects),
                    "duplicates_dropped": duplicates,
                    "last_ingestion_time": last_ingestion,
                    "built_at": built_at or datetime.now(UTC),
                }
            ],
        )
        if bronze_commit:
            self.commit_bronze()
        return expected

    def commit_bronze(self) -> None:
        """Append a row to Bronze: a new commit, as an ingestion micro-batch makes."""
        row = {"value": "{}", "partition": 0, "offset": 0, "ingestion_time": datetime.now(UTC)}
        write_table(self.bronze_path, BRONZE_SCHEMA, [row], mode="append")
