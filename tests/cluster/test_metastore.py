"""One Hive metastore on PostgreSQL, shared by the Thrift server and any other Spark JVM.

This is docker-compose's METASTORE_URL set-up on loopback: the Thrift server and a separate
Spark application run at the same time (impossible with the embedded Derby metastore) and each
sees the tables the other registered.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cluster_harness import Postgres
from pyhive import hive

from stack import processes
from tests.ports import reserve_port, start_service
from ventes.settings import Settings
from ventes.spark import child_env

pytestmark = [pytest.mark.stack, pytest.mark.slow]

# Another Spark application: a plain SparkSession with the project's Spark configuration.
OTHER_SPARK_CLIENT = """
import json
from pyspark.sql import SparkSession
from ventes import settings, spark
from ventes.spark import child_env

s = settings.load()
builder = SparkSession.builder.master("local[1]").appName("metastore-client")
for key, value in spark.delta_conf(s).items():
    builder = builder.config(key, value)
session = builder.getOrCreate()
seen = [r.vente_id for r in session.table("shared.ventes_demo").orderBy("vente_id").collect()]
session.sql(
    f"create table shared.from_client using delta location '{s.delta_root}/shared/from_client' "
    "as select 42 as answer"
)
print("RESULT " + json.dumps({"catalog": session.conf.get("spark.sql.catalogImplementation"),
                              "seen": seen}))
session.stop()
"""


def _thrift_query(settings: Settings, *statements: str, timeout: float = 120) -> list[tuple]:
    """Run statements through the Thrift server; fail (not hang) if they do not finish in time."""

    def run() -> list[tuple]:
        conn = hive.connect(host=settings.thrift_host, port=settings.thrift_port, auth="NOSASL")
        try:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
            return cursor.fetchall()
        finally:
            conn.close()

    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(run).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False)  # a stuck call ends when the test stops the server


def test_thrift_server_and_another_spark_jvm_share_the_metastore(
    test_env: Settings, postgres: Postgres, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        test_env,
        home=tmp_path / "home",
        delta_root=tmp_path / "delta",
        thrift_port=reserve_port(),
        metastore_url=postgres.jdbc_url,
    )
    settings = start_service(settings, "thrift")
    try:
        _thrift_query(
            settings,
            "create schema if not exists shared",
            f"create table shared.ventes_demo (vente_id bigint, montant decimal(12,2)) using delta "
            f"location '{settings.delta_root}/shared/ventes_demo'",
            "insert into shared.ventes_demo values (1, 9.99), (2, 20.00)",
        )
        client = subprocess.run(
            [sys.executable, "-c", OTHER_SPARK_CLIENT],
            env=child_env(settings),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        result = json.loads(next(ln for ln in client.stdout.splitlines() if ln.startswith("RESULT "))[7:])
        assert result == {"catalog": "hive", "seen": [1, 2]}
        # ...and what the other application registered is visible through the Thrift server.
        assert _thrift_query(settings, "select answer from shared.from_client") == [(42,)]
        tables = {row[1] for row in _thrift_query(settings, "show tables in shared")}
        assert tables == {"ventes_demo", "from_client"}
    finally:
        processes.stop(settings, "thrift")
