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
        "spark.driver.host": settings.spark_driver_host,
        "spark.driver.bindAddress": settings.spark_driver_host,
        "spark.databricks.delta.snapshotPartitions": "2",
        **(metastore_conf(settings) if settings.metastore_url else {}),
    }


def metastore_conf(settings: Settings) -> dict[str, str]:
    """The Hive metastore: shared over JDBC when ``METASTORE_URL`` is set, else embedded Derby.

    Derby admits one JVM, so only the Thrift server uses it; a shared metastore is given to
    every Spark JVM (through :func:`delta_conf`), so they all see the same tables.
    """
    if not settings.metastore_url:
        return {
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={settings.metastore_dir / 'metastore_db'};create=true"
            ),
        }
    conf = {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": settings.metastore_url,
        # An empty database gets the metastore schema on first use, without foreign keys: on
        # PostgreSQL, adding one while the same metastore holds an open transaction on the
        # referenced table waits for that transaction, which waits for the DDL (a deadlock).
        # (autoCreateAll would turn the constraints back on.)
        "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
        "spark.hadoop.datanucleus.schema.autoCreateColumns": "true",
        "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }
    if settings.metastore_url.startswith("jdbc:postgresql:"):
        conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] = "org.postgresql.Driver"
    return conf
