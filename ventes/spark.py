"""Spark configuration shared by every Spark JVM of the project (jobs and Thrift server)."""

from __future__ import annotations

from pathlib import Path

import pyspark

from ventes import jars
from ventes.settings import Settings

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SPARK_SUBMIT = SPARK_HOME / "bin" / "spark-submit"


def delta_conf(settings: Settings) -> dict[str, str]:
    """Delta Lake extension and catalog, the jars they need, and modest local defaults."""
    extra = [str(p) for p in jars.spark_extra_jars(settings)]
    return {
        # On the driver's own classpath too: the Thrift server's SQL sessions and the
        # data-source lookup do not see jars added to the context class loader only.
        "spark.jars": ",".join(extra),
        "spark.driver.extraClassPath": ":".join(extra),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.databricks.delta.snapshotPartitions": "2",
    }
