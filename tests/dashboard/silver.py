"""Small Silver lakes written with ``deltalake`` for the dashboard tests.

``SilverLake.write(sales, rejects)`` builds every Silver table of the data contract from a
list of sales (the producer's messages) the way the dbt models do: the Bronze records they
arrive as, ``ventes_clean`` (one row per ``vente_id``, the latest record winning),
``ventes_aggreges``, ``top_produits``, ``hourly_sales``, ``ventes_par_segment`` and
``pipeline_quality``. The tests compute what the API should answer on their own, from the same
sales (``tests/dashboard/expected.py``), never from what is written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from arro3.core import Array, DataType, Table
from deltalake import write_deltalake

EVENTS_START = datetime(2026, 11, 26, 9, 10, tzinfo=UTC)
# How the lake's Bronze receives the sales: in the order of the list, on partition
# ``vente_id % PARTITIONS``, at offsets in that order, with a Kafka time that never goes back
# (the event time, or the previous record's when later), ingested INGESTION_DELAY after it.
PARTITIONS = 3
INGESTION_DELAY = timedelta(seconds=30)
TOP_PRODUCTS = 10


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
    vente_id: int, produit: str, pays: str, segment: str, quantite: int, prix: str, when: datetime | str
) -> dict:
    """A sale as the producer sends it; ``when`` is its event time, a datetime or ISO-8601 text
    (naive means UTC), and ``montant`` the line's amount, ``prix`` × ``quantite``."""
    return {
        "vente_id": vente_id,
        "client_id": 100 + vente_id % 5,
        "produit_id": sum(map(ord, produit)),
        "client_nom": f"Client {100 + vente_id % 5}",
        "produit_nom": produit,
        "categorie": "Informatique",
        "pays": pays,
        "segment": segment,
        "quantite": quantite,
        "montant": Decimal(prix) * quantite,
        "timestamp": when if isinstance(when, str) else when.isoformat(),
    }


# (produit, pays, segment, quantite, prix, event time). Times are in UTC ("Z"), Paris time
# ("+01:00") or naive (UTC); "Câble HDMI" and "Hub USB-C" tie at the 10th place of the top
# products, so the name decides which is in it; no two product × country totals tie.
SAMPLE_SALES = [
    ("Ordinateur portable", "France", "Entreprise", 1, "899.99", "2026-11-26T09:10:00Z"),
    ("Ordinateur portable", "Belgique", "Particulier", 1, "849.99", "2026-11-26T11:11:00+01:00"),
    ("Souris sans fil", "France", "Particulier", 5, "25.50", "2026-11-26T10:12:30.250000"),
    ("Souris sans fil", "Suisse", "PME", 3, "25.50", "2026-11-26T12:13:00+01:00"),
    ("Clavier mécanique", "France", "PME", 2, "75.00", "2026-11-26T09:14:00Z"),
    ("Clavier mécanique", "Belgique", "Entreprise", 4, "75.00", "2026-11-26T11:15:00Z"),
    ("Casque audio", "Suisse", "Particulier", 1, "149.95", "2026-11-26T12:16:00+01:00"),
    ("Écran 27 pouces", "France", "Entreprise", 3, "329.00", "2026-11-26T10:17:00"),
    ("Webcam HD", "Belgique", "Particulier", 2, "59.90", "2026-11-26T10:18:00+01:00"),
    ("Station d'accueil", "France", "PME", 1, "189.00", "2026-11-26T11:19:00Z"),
    ("Disque SSD 1 To", "Suisse", "Entreprise", 2, "94.99", "2026-11-26T10:20:00Z"),
    ("Tapis de souris", "France", "Particulier", 6, "12.00", "2026-11-26T09:21:00"),
    ("Imprimante laser", "Belgique", "PME", 1, "249.00", "2026-11-26T12:22:00+01:00"),
    ("Hub USB-C", "France", "Particulier", 2, "39.90", "2026-11-26T10:23:00Z"),
    ("Micro USB", "Suisse", "PME", 1, "79.00", "2026-11-26T09:24:00Z"),
    ("Câble HDMI", "France", "PME", 1, "29.90", "2026-11-26T10:25:00+01:00"),
    ("Câble HDMI", "Belgique", "Particulier", 1, "49.90", "2026-11-26T10:26:00Z"),
    ("Souris sans fil", "France", "Particulier", 2, "25.50", "2026-11-26T11:27:00Z"),
    ("Ordinateur portable", "Suisse", "Entreprise", 1, "949.99", "2026-11-26T11:28:00"),
]


def sample_sales() -> list[dict]:
    return [sale(i, *row) for i, row in enumerate(SAMPLE_SALES, start=1)]


def sample_rejects() -> list[dict]:
    """Bronze records that are no sale, as ``ventes_rejets`` holds them, a minute apart."""
    rows = [
        ("{not json", "malformed_json", "malformed_json: Expecting property name enclosed in double quotes"),
        ('{"montant": "abc"}', "wrong_type", 'wrong_type: montant: expected a number, got "abc"'),
        ('{"montant": -5}', "ok", "vente_id: missing or not a long; montant: negative"),
        ('{"quantite": 0}', "ok", "vente_id: missing or not a long; quantite: not positive"),
    ]
    first = EVENTS_START + timedelta(hours=1, minutes=30)
    return [
        {
            "topic": "ventes_stream",
            "partition": i % PARTITIONS,
            "offset": 1000 + i,
            "kafka_timestamp": first + timedelta(minutes=i),
            "ingestion_time": first + timedelta(minutes=i) + INGESTION_DELAY,
            "value": value,
            "parse_status": status,
            "reasons": reasons,
            "vente_id": None,
        }
        for i, (value, status, reasons) in enumerate(rows)
    ]


# --- the models, as dbt_ventes/models defines them -------------------------------------------


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bronze_records(sales: list[dict]) -> list[dict]:
    """The parsed Bronze record of each sale, with its Kafka coordinates (see PARTITIONS)."""
    records = []
    clock: datetime | None = None
    for offset, s in enumerate(sales):
        event_timestamp = _utc(s["timestamp"])
        clock = event_timestamp if clock is None else max(clock, event_timestamp)
        fields = {k: v for k, v in s.items() if k != "timestamp"}
        records.append(
            fields
            | {
                "event_timestamp": event_timestamp,
                "montant": Decimal(str(s["montant"])),
                "kafka_timestamp": clock,
                "partition": s["vente_id"] % PARTITIONS,
                "offset": offset,
                "ingestion_time": clock + INGESTION_DELAY,
            }
        )
    return records


def ventes_clean(records: list[dict]) -> list[dict]:
    """One row per vente_id: the latest record by Kafka time, then partition, then offset."""
    latest: dict[int, dict] = {}
    for r in records:
        kept = latest.get(r["vente_id"])
        recency = (r["kafka_timestamp"], r["partition"], r["offset"])
        if kept is None or recency > (kept["kafka_timestamp"], kept["partition"], kept["offset"]):
            latest[r["vente_id"]] = r
    return [
        r | {"heure": r["event_timestamp"].replace(minute=0, second=0, microsecond=0)}
        for r in latest.values()
    ]


def _sum_by(rows: list[dict], keys: tuple[str, ...], sums: dict[str, str]) -> list[dict]:
    """``select keys, sum(column) as name ... group by keys``."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = tuple(r[k] for k in keys)
        group = groups.setdefault(key, dict(zip(keys, key, strict=True)) | dict.fromkeys(sums, 0))
        for name, column in sums.items():
            group[name] += r[column]
    return list(groups.values())


def ventes_aggreges(clean: list[dict]) -> list[dict]:
    return _sum_by(clean, ("produit_nom", "pays"), {"total_montant": "montant", "total_quantite": "quantite"})


def top_produits(clean: list[dict]) -> list[dict]:
    """row_number() over (order by total_montant desc, produit_nom asc), the first 10."""
    par_produit = _sum_by(clean, ("produit_nom",), {"total_montant": "montant"})
    ranked = sorted(par_produit, key=lambda r: (-r["total_montant"], r["produit_nom"]))
    return [r | {"rank": rank} for rank, r in enumerate(ranked, start=1) if rank <= TOP_PRODUCTS]


def hourly_sales(clean: list[dict]) -> list[dict]:
    return _sum_by(clean, ("heure",), {"total_montant": "montant", "total_quantite": "quantite"})


def ventes_par_segment(clean: list[dict]) -> list[dict]:
    rows = _sum_by(clean, ("produit_nom", "segment"), {"montant": "montant"})
    return [{"produit": r["produit_nom"], "segment": r["segment"], "montant": r["montant"]} for r in rows]


def pipeline_quality(
    records: list[dict], clean: list[dict], rejects: list[dict], built_at: datetime
) -> list[dict]:
    bronze_rows = len(records) + len(rejects)
    return [
        {
            "bronze_rows": bronze_rows,
            "valid_sales": len(clean),
            "rejected_rows": len(rejects),
            "duplicates_dropped": bronze_rows - len(clean) - len(rejects),
            "last_ingestion_time": max((r["ingestion_time"] for r in records + rejects), default=None),
            "built_at": built_at,
        }
    ]


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
        built_at: datetime | None = None,
        bronze_commit: bool = True,
    ) -> None:
        """Every Silver table built from ``sales`` (and the rejected records, by default
        ``sample_rejects()``), as one dbt build would, at ``built_at`` (by default now)."""
        rejects = sample_rejects() if rejects is None else rejects
        records = bronze_records(sales)
        clean = ventes_clean(records)
        write_table(self.path("ventes_clean"), CLEAN_SCHEMA, clean)
        write_table(self.path("ventes_rejets"), REJECTS_SCHEMA, rejects)
        write_table(self.path("ventes_aggreges"), AGGREGATES_SCHEMA, ventes_aggreges(clean))
        write_table(self.path("top_produits"), TOP_SCHEMA, top_produits(clean))
        write_table(self.path("hourly_sales"), HOURLY_SCHEMA, hourly_sales(clean))
        write_table(self.path("ventes_par_segment"), SEGMENT_SCHEMA, ventes_par_segment(clean))
        quality = pipeline_quality(records, clean, rejects, built_at or datetime.now(UTC))
        write_table(self.path("pipeline_quality"), QUALITY_SCHEMA, quality)
        if bronze_commit:
            self.commit_bronze()

    def commit_bronze(self) -> None:
        """Append a row to Bronze: a new commit, as an ingestion micro-batch makes."""
        row = {"value": "{}", "partition": 0, "offset": 0, "ingestion_time": datetime.now(UTC)}
        write_table(self.bronze_path, BRONZE_SCHEMA, [row], mode="append")
