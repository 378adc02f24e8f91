"""The data contract, written once: the sale event's fields and types, the Bronze table's
columns and parse statuses, and the lake's table names.

The producer writes these fields, the Bronze job parses and checks them, dbt's sources and
contracts declare the same columns (a test holds them to this module), and the dashboard,
the tests and the benchmarks read the tables named here. Plain Python on purpose: every layer
imports it, Spark or not.
"""

from __future__ import annotations

from dataclasses import dataclass

MONTANT_SQL_TYPE = "decimal(12,2)"


@dataclass(frozen=True)
class SaleField:
    """A field of the sale event: its JSON key, its Bronze column, its JSON kind, its SQL type."""

    name: str
    column: str
    kind: str  # "integer", "number", "timestamp" or "string"
    sql_type: str


SALE_FIELDS = (
    SaleField("vente_id", "vente_id", "integer", "bigint"),
    SaleField("client_id", "client_id", "integer", "bigint"),
    SaleField("produit_id", "produit_id", "integer", "bigint"),
    SaleField("timestamp", "event_timestamp", "timestamp", "timestamp"),
    SaleField("quantite", "quantite", "integer", "int"),
    SaleField("montant", "montant", "number", MONTANT_SQL_TYPE),
    SaleField("client_nom", "client_nom", "string", "string"),
    SaleField("produit_nom", "produit_nom", "string", "string"),
    SaleField("categorie", "categorie", "string", "string"),
    SaleField("pays", "pays", "string", "string"),
    SaleField("segment", "segment", "string", "string"),
)
# The keys of a sale event, in the order the producer writes them.
SALE_KEYS = tuple(field.name for field in SALE_FIELDS)

# Bronze: the Kafka record and its parse, then the sale's fields (null when not parsed).
RECORD_COLUMNS = (
    ("value_bytes", "binary"),
    ("value", "string"),
    ("key", "string"),
    ("topic", "string"),
    ("partition", "int"),
    ("offset", "bigint"),
    ("kafka_timestamp", "timestamp"),
    ("ingestion_time", "timestamp"),
    ("date", "date"),
    ("parse_status", "string"),
    ("parse_error", "string"),
)
BRONZE_COLUMNS = (*RECORD_COLUMNS, *((field.column, field.sql_type) for field in SALE_FIELDS))
BRONZE_PARTITION_COLUMN = "date"
PARSE_STATUSES = ("ok", "empty", "invalid_utf8", "malformed_json", "not_an_object", "wrong_type")

BRONZE_TABLE = "ventes_raw"
SILVER_TABLES = (
    "ventes_clean",
    "ventes_rejets",
    "ventes_aggreges",
    "top_produits",
    "hourly_sales",
    "ventes_par_segment",
    "pipeline_quality",
)
