"""The dbt project and the Bronze job agree on the Bronze contract (no services needed)."""

from __future__ import annotations

import yaml

from ingestion.bronze import BRONZE_SCHEMA
from ventes.contract import BRONZE_COLUMNS, PARSE_STATUSES
from ventes.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "dbt_ventes" / "models"


def test_bronze_source_declares_the_bronze_schema() -> None:
    """The source's column types are what `register_bronze_source` registers Bronze with."""
    sources = yaml.safe_load((MODELS / "staging" / "_bronze__sources.yml").read_text())
    [bronze] = sources["sources"]
    [ventes_raw] = bronze["tables"]
    declared = [(c["name"], c["data_type"]) for c in ventes_raw["columns"]]
    assert declared == list(BRONZE_COLUMNS)


def test_the_bronze_job_writes_the_contract() -> None:
    assert [(f.name, f.dataType.simpleString()) for f in BRONZE_SCHEMA] == list(BRONZE_COLUMNS)


def test_rejects_accept_every_parse_status_of_the_bronze_job() -> None:
    models = yaml.safe_load((MODELS / "silver" / "_silver__models.yml").read_text())
    [rejets] = [m for m in models["models"] if m["name"] == "ventes_rejets"]
    [parse_status] = [c for c in rejets["columns"] if c["name"] == "parse_status"]
    [accepted] = [t["accepted_values"] for t in parse_status["data_tests"] if "accepted_values" in t]
    assert set(accepted["arguments"]["values"]) == set(PARSE_STATUSES)
