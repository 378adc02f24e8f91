"""Spark configuration shared by every Spark JVM of the project (jobs and Thrift server)."""

from __future__ import annotations

import os
import sys
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
        "spark.driver.bindAddress": settings.spark_driver_bind_address,
        # Under VENTES_HOME, not the working directory (the code's, read-only in the image).
        "spark.sql.warehouse.dir": str(settings.home / "spark-warehouse"),
        "spark.databricks.delta.snapshotPartitions": "2",
        **(metastore_conf(settings) if settings.metastore_url else {}),
        **auth_conf(settings),
    }


def new_session(
    settings: Settings,
    app_name: str,
    master: str | None = None,
    conf: dict[str, str] | None = None,
    log_level: str = "WARN",
):
    """A SparkSession with :func:`delta_conf` (and ``conf`` over it), on ``master`` or
    ``SPARK_MASTER``; Spark's console progress bar off."""
    from pyspark.sql import SparkSession

    jars.ensure_jars(settings)
    builder = SparkSession.builder.master(master or settings.spark_master).appName(app_name)
    options = {**delta_conf(settings), "spark.ui.showConsoleProgress": "false", **(conf or {})}
    for key, value in options.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(log_level)
    return session


def auth_conf(settings: Settings) -> dict[str, str]:
    """Spark's RPC authentication, when ``SPARK_AUTH_SECRET`` is set.

    A standalone cluster has one secret: the master and the workers refuse a connection that
    does not prove it, and the workers hand it to the executors they start. Every driver of
    the cluster (Thrift server, ingestion job) needs it too.
    """
    if not settings.spark_auth_secret:
        return {}
    return {
        "spark.authenticate": "true",
        "spark.authenticate.secret": settings.spark_auth_secret,
        # Authentication by Spark's AES-based protocol rather than SASL DIGEST-MD5, and the
        # RPC and block transfers between the cluster's JVMs encrypted.
        "spark.network.crypto.enabled": "true",
    }


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process (a Spark JVM, dbt, Airflow): the settings, Spark's
    home in the venv, the venv first on PATH, and the RPC authentication of a standalone
    master or worker when the secret is set."""
    env = settings.env_for_children()
    env["SPARK_HOME"] = str(SPARK_HOME)
    env.update(daemon_env(settings))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def daemon_env(settings: Settings) -> dict[str, str]:
    """What a standalone master or worker needs in its environment for :func:`auth_conf`.

    The daemons take their configuration as Java options (``SPARK_DAEMON_JAVA_OPTS``, added to
    ``SPARK_MASTER_OPTS`` and ``SPARK_WORKER_OPTS``), not as ``--conf`` arguments.
    """
    conf = auth_conf(settings)
    if not conf:
        return {}
    return {"SPARK_DAEMON_JAVA_OPTS": " ".join(f"-D{key}={value}" for key, value in conf.items())}


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
