"""The Bronze table as the job makes it: schema, partitioning and properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from delta.tables import DeltaTable

from ingestion.bronze import BRONZE_PROPERTIES, BRONZE_SCHEMA, BRONZE_STATS_COLUMNS
from ingestion.job import ensure_bronze_table
from tests.environment import env_overrides
from ventes import settings as settings_module
from ventes.contract import BRONZE_PARTITION_COLUMN

pytestmark = pytest.mark.stack


def _lake(tmp_path: Path) -> settings_module.Settings:
    with env_overrides(VENTES_HOME=str(tmp_path / "home"), DELTA_ROOT=str(tmp_path / "delta")):
        return settings_module.load()


def _detail(spark, path: Path) -> dict:
    return DeltaTable.forPath(spark, str(path)).detail().head().asDict()


def test_a_new_bronze_table_keeps_statistics_on_the_filtered_columns_only(spark, tmp_path: Path) -> None:
    settings = _lake(tmp_path)
    ensure_bronze_table(settings)
    detail = _detail(spark, settings.bronze_path)
    assert detail["properties"] == BRONZE_PROPERTIES
    assert detail["partitionColumns"] == [BRONZE_PARTITION_COLUMN]
    assert set(BRONZE_STATS_COLUMNS) <= set(BRONZE_SCHEMA.fieldNames())
    # A second start finds the table as it is: no commit.
    ensure_bronze_table(settings)
    assert _detail(spark, settings.bronze_path) == detail


def test_a_bronze_table_made_before_the_properties_gets_them_once(spark, tmp_path: Path) -> None:
    settings = _lake(tmp_path)
    spark.createDataFrame([], BRONZE_SCHEMA).write.format("delta").partitionBy(BRONZE_PARTITION_COLUMN).save(
        str(settings.bronze_path)
    )
    ensure_bronze_table(settings)
    versions = DeltaTable.forPath(spark, str(settings.bronze_path)).history().count()
    assert _detail(spark, settings.bronze_path)["properties"] == BRONZE_PROPERTIES
    ensure_bronze_table(settings)
    assert DeltaTable.forPath(spark, str(settings.bronze_path)).history().count() == versions == 2


def test_a_property_the_tables_owner_set_stays(spark, tmp_path: Path) -> None:
    settings = _lake(tmp_path)
    ensure_bronze_table(settings)
    spark.sql(
        f"ALTER TABLE delta.`{settings.bronze_path}` SET TBLPROPERTIES "
        "('delta.dataSkippingStatsColumns' = 'offset')"
    )
    ensure_bronze_table(settings)
    assert _detail(spark, settings.bronze_path)["properties"] == {"delta.dataSkippingStatsColumns": "offset"}
