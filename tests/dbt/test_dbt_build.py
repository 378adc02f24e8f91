"""`dbt build` on the real Spark Thrift Server, twice, over growing Bronze data.

Bronze is written by path with the test's own SparkSession (as the ingestion job does); every
Silver table is then read back by path with the `deltalake` package (as the dashboard does) and
compared with the figures computed in Python from the records written (tests/dbt/bronze.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from deltalake import DeltaTable, QueryBuilder

from tests.dbt.bronze import SILVER_COLUMNS, Topic, expected_silver, first_batch, second_batch, write_batch
from transformation import dbt
from ventes.net import port_open
from ventes.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def read_silver(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every Silver table, read by path like the dashboard does; timestamps as naive UTC."""
    tables = {}
    for name, columns in SILVER_COLUMNS.items():
        table = DeltaTable(str(settings.silver_path(name)))
        result = QueryBuilder().register("t", table).execute("select * from t").read_all()
        assert result.column_names == columns, f"{name} columns"
        values = [[naive_utc(v) for v in result.column(c).to_pylist()] for c in columns]
        tables[name] = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
    return tables


@dataclass(frozen=True)
class Build:
    """Silver as one `dbt build` left it, and the Bronze records written before it."""

    records: list[dict[str, Any]]
    silver: dict[str, list[dict[str, Any]]]


def build(settings: Settings, topic: Topic) -> Build:
    dbt.build(settings)
    return Build(list(topic.records), read_silver(settings))


def assert_silver_matches(built: Build) -> None:
    expected = expected_silver(built.records)
    silver = built.silver

    clean = {row["vente_id"]: row for row in silver["ventes_clean"]}
    assert clean.keys() == expected["ventes_clean"].keys()
    for vente_id, sale in expected["ventes_clean"].items():
        assert {k: clean[vente_id][k] for k in sale} == sale, f"vente {vente_id}"

    rejets = {(r["topic"], r["partition"], r["offset"]): r for r in silver["ventes_rejets"]}
    assert {k: r["parse_status"] for k, r in rejets.items()} == expected["ventes_rejets"]
    assert all(r["reasons"] for r in rejets.values())

    assert {
        (r["produit_nom"], r["pays"]): (r["total_montant"], r["total_quantite"])
        for r in silver["ventes_aggreges"]
    } == expected["ventes_aggreges"]
    assert [
        (r["rank"], r["produit_nom"], r["total_montant"])
        for r in sorted(silver["top_produits"], key=lambda r: r["rank"])
    ] == expected["top_produits"]
    assert {
        r["heure"]: (r["total_montant"], r["total_quantite"]) for r in silver["hourly_sales"]
    } == expected["hourly_sales"]
    assert {(r["produit"], r["segment"]): r["montant"] for r in silver["ventes_par_segment"]} == expected[
        "ventes_par_segment"
    ]

    [quality] = silver["pipeline_quality"]
    assert {k: quality[k] for k in expected["pipeline_quality"]} == expected["pipeline_quality"]
    assert quality["bronze_rows"] == (
        quality["valid_sales"] + quality["rejected_rows"] + quality["duplicates_dropped"]
    )


@pytest.fixture(scope="module")
def topic() -> Topic:
    return Topic()


# Each build is checked against its own snapshot (Silver as it left it, the records written
# before it), so the tests hold in any order.
@pytest.fixture(scope="module")
def first_build(thrift: Settings, spark, topic: Topic) -> Build:
    write_batch(spark, str(thrift.bronze_path), first_batch(topic))
    return build(thrift, topic)


@pytest.fixture(scope="module")
def second_build(thrift: Settings, spark, topic: Topic, first_build: Build) -> Build:
    write_batch(spark, str(thrift.bronze_path), second_batch(topic))
    return build(thrift, topic)


def test_first_build_matches_python(first_build: Build) -> None:
    assert_silver_matches(first_build)
    quality = first_build.silver["pipeline_quality"][0]
    assert (quality["valid_sales"], quality["rejected_rows"], quality["duplicates_dropped"]) == (12, 5, 2)


def test_second_build_with_late_duplicate_and_bad_records(first_build: Build, second_build: Build) -> None:
    assert_silver_matches(second_build)
    quality = second_build.silver["pipeline_quality"][0]
    assert (quality["valid_sales"], quality["rejected_rows"], quality["duplicates_dropped"]) == (16, 10, 5)

    before = {row["vente_id"]: row for row in first_build.silver["ventes_clean"]}
    after = {row["vente_id"]: row for row in second_build.silver["ventes_clean"]}
    assert (before[1]["quantite"], after[1]["quantite"]) == (1, 4)  # the later record won
    assert after[2] == before[2]  # the older duplicate did not
    assert after[5] == before[5]  # nor did the invalid one
    assert after[3]["offset"] > before[3]["offset"]  # the redelivery is the latest record
    hours = {row["heure"] for row in second_build.silver["hourly_sales"]}
    assert datetime(2024, 5, 1, 7) in hours  # the late event opened its own hour


def test_unit_tests_pass(thrift: Settings, first_build) -> None:
    """The dbt unit tests, which pipeline builds leave out, run here: every one passes."""
    run = dbt.run(thrift, "test", "--select", "test_type:unit", echo=lambda line: None)
    assert run.ok, run.summary()
    results = json.loads((thrift.dbt_target_dir / "run_results.json").read_text())["results"]
    unit = [r["status"] for r in results if r["unique_id"].startswith("unit_test.")]
    assert unit == ["pass"] * 6


def test_source_freshness_flags_stale_bronze(thrift: Settings, first_build) -> None:
    """These Bronze rows were ingested in 2024, far past the source's error threshold."""
    run = dbt.run(thrift, "source", "freshness", echo=lambda line: None)
    assert run.returncode == 1
    assert any("ERROR STALE" in line and "bronze.ventes_raw" in line for line in run.output_tail)


def test_docs_catalog_lists_silver_columns(thrift: Settings, second_build) -> None:
    dbt.docs(thrift, serve=False)
    catalog = json.loads((thrift.dbt_target_dir / "catalog.json").read_text())
    tables = {node["metadata"]["name"]: node for node in catalog["nodes"].values()}
    for name, columns in SILVER_COLUMNS.items():
        assert tables[name]["metadata"]["schema"] == "silver"
        listed = sorted(tables[name]["columns"].values(), key=lambda c: c["index"])
        assert [c["name"] for c in listed] == columns, name
    [bronze] = catalog["sources"].values()
    assert "value_bytes" in bronze["columns"]


def test_docs_are_served(thrift: Settings, second_build) -> None:
    """`dbt docs serve`, in the environment transformation.dbt gives it, serves what was generated."""
    if not (thrift.dbt_target_dir / "catalog.json").exists():
        dbt.docs(thrift, serve=False)
    command = [
        str(dbt.DBT),
        "docs",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(thrift.docs_port),
        "--no-browser",
    ]
    server = subprocess.Popen(
        command,
        env=dbt.dbt_env(thrift),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{thrift.docs_port}"
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", thrift.docs_port):
            assert server.poll() is None and time.monotonic() < deadline, "dbt docs serve did not start"
            time.sleep(0.3)
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as page:
            assert b"dbt" in page.read()
        with urllib.request.urlopen(f"{base}/catalog.json", timeout=10) as served:
            assert "model.dbt_ventes.ventes_clean" in json.load(served)["nodes"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_every_model_source_and_column_is_described(thrift: Settings, second_build) -> None:
    """Every model and source, and every column the catalog finds in them, has a description."""
    if not (thrift.dbt_target_dir / "catalog.json").exists():
        dbt.docs(thrift, serve=False)
    manifest = json.loads((thrift.dbt_target_dir / "manifest.json").read_text())
    catalog = json.loads((thrift.dbt_target_dir / "catalog.json").read_text())
    documented = {**manifest["nodes"], **manifest["sources"]}
    missing = []
    for unique_id, entry in [*catalog["nodes"].items(), *catalog["sources"].items()]:
        node = documented[unique_id]
        if not node["description"].strip():
            missing.append(node["name"])
        for column in entry["columns"]:
            if not node["columns"].get(column, {}).get("description", "").strip():
                missing.append(f"{node['name']}.{column}")
    assert missing == []
    assert len(catalog["nodes"]) == 9  # 2 views + 7 Silver tables

    [dashboard] = manifest["exposures"].values()
    read_by_dashboard = {dep.rpartition(".")[2] for dep in dashboard["depends_on"]["nodes"]}
    assert read_by_dashboard == {
        "ventes_aggreges",
        "top_produits",
        "hourly_sales",
        "ventes_par_segment",
        "pipeline_quality",
        "ventes_rejets",
        "ventes_clean",
    }
