"""Benchmark: does a `dbt build`'s cost follow the new Bronze rows, or the whole history?

Times `dbt build` for 50 new sales on top of an empty history, then on top of 1,000,000
historical sales, and prints both and their ratio (the aim: at most 1.5x). Each timed build
is an incremental run over Silver tables that already hold the history, as in production.

Each case has its own VENTES_HOME (under a temporary folder removed at the end) and its own
Spark Thrift Server on a free port; Bronze is written by path with Spark, as the ingestion job
does, from `spark.range` so that a million rows take seconds.

    .venv/bin/python bench/bench_dbt.py [--history 1000000] [--new 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ingestion.bronze import BRONZE_SCHEMA
from stack import processes
from transformation import dbt
from ventes import settings as settings_module
from ventes.contract import SALE_FIELDS
from ventes.settings import Settings
from ventes.spark import new_session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ports import reserve_port

PRODUCTS = 50
CLIENTS = 2_000
PAYS = ["France", "Belgique", "Suisse", "Canada", "Maroc", "Sénégal"]
SEGMENTS = ["Particulier", "Professionnel", "Entreprise"]


def bronze_sales(
    spark: SparkSession, first_id: int, count: int, ingested_at: datetime, days: int = 1
) -> DataFrame:
    """`count` valid sales in the Bronze layout, ingested over `days` days up to `ingested_at`.

    Built from `spark.range` with built-in functions only, so a million rows take seconds.
    """
    rows = spark.range(first_id, first_id + count)
    produit = F.col("id") % PRODUCTS + 1
    client = F.col("id") * 7 % CLIENTS + 1
    quantite = (F.col("id") % 5 + 1).cast("int")
    prix = (produit * 3 + F.lit(0.99)).cast("decimal(10,2)")
    age = F.lit(count - 1) - (F.col("id") - first_id)  # seconds before the newest sale
    span = max(days * 86_400 // max(count, 1), 1)
    event_time = F.lit(ingested_at) - F.make_dt_interval(secs=age * span) - F.expr("interval 2 minutes")
    ingestion_time = F.lit(ingested_at) - F.make_dt_interval(days=(age * days / F.lit(count)).cast("int"))
    sales = rows.select(
        F.col("id").alias("vente_id"),
        client.alias("client_id"),
        produit.alias("produit_id"),
        event_time.alias("event_timestamp"),
        quantite.alias("quantite"),
        (prix * quantite).cast("decimal(12,2)").alias("montant"),
        F.concat(F.lit("Client "), client).alias("client_nom"),
        F.concat(F.lit("Produit "), produit).alias("produit_nom"),
        F.concat(F.lit("Catégorie "), produit % 8).alias("categorie"),
        F.element_at(F.array(*map(F.lit, PAYS)), (client % len(PAYS) + 1).cast("int")).alias("pays"),
        F.element_at(F.array(*map(F.lit, SEGMENTS)), (client % len(SEGMENTS) + 1).cast("int")).alias(
            "segment"
        ),
        ingestion_time.alias("ingestion_time"),
    )
    value = F.to_json(F.struct(*[c for c in sales.columns if c != "ingestion_time"]))
    return sales.select(
        F.encode(value, "UTF-8").alias("value_bytes"),
        value.alias("value"),
        F.col("client_id").cast("string").alias("key"),
        F.lit("ventes_stream").alias("topic"),
        (F.col("vente_id") % 3).cast("int").alias("partition"),
        (F.col("vente_id") / 3).cast("bigint").alias("offset"),
        (F.col("event_timestamp") + F.expr("interval 1 second")).alias("kafka_timestamp"),
        "ingestion_time",
        F.to_date("ingestion_time").alias("date"),
        F.lit("ok").alias("parse_status"),
        F.lit(None).cast("string").alias("parse_error"),
        *(field.column for field in SALE_FIELDS),
    )


def append_bronze(settings: Settings, frame: DataFrame) -> None:
    frame = frame.select([F.col(field.name).cast(field.dataType) for field in BRONZE_SCHEMA])
    frame.write.format("delta").mode("append").partitionBy("date").save(str(settings.bronze_path))


def thrift_cpu_seconds(settings: Settings) -> float:
    """CPU time used so far by the Thrift server (its JVM and any child): unlike wall time,
    it barely moves when other programs load the machine."""
    import psutil

    pid = processes.read_pid(settings, "thrift")
    assert pid is not None, "the Thrift server is not running"
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def timed_build(settings: Settings) -> tuple[float, float]:
    """Wall time of `dbt build`, and the Thrift server's CPU time during it."""
    cpu, begin = thrift_cpu_seconds(settings), time.monotonic()
    dbt.build(settings, echo=lambda line: None)
    return time.monotonic() - begin, thrift_cpu_seconds(settings) - cpu


def lane(root: Path, name: str) -> Settings:
    """Settings of one lake with its own VENTES_HOME and Thrift server port."""
    home = root / name
    os.environ.update(VENTES_HOME=str(home), DELTA_ROOT=str(home / "delta"), THRIFT_PORT=str(reserve_port()))
    return settings_module.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="timed builds per case")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ventes-bench-dbt-"))
    os.environ["THRIFT_HOST"] = "127.0.0.1"
    # Two lakes, each with its own Thrift server, timed in turns so that any change in the
    # machine's load falls on both alike.
    lanes = {0: lane(root, "empty_history"), args.history: lane(root, "with_history")}
    spark = new_session(
        lanes[0], "bench-dbt", master="local[2]", conf={"spark.driver.memory": "2g"}, log_level="ERROR"
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wall: dict[int, list[float]] = {history: [] for history in lanes}
    cpu: dict[int, list[float]] = {history: [] for history in lanes}
    try:
        for history, settings in lanes.items():
            print(f"history {history:>9,}: Thrift server on port {settings.thrift_port}", flush=True)
            processes.start(settings, processes.service("thrift"))
            if history:
                old = now - timedelta(days=1)
                append_bronze(settings, bronze_sales(spark, 1, history, old, days=30))
            seconds, _ = timed_build(settings)
            print(f"history {history:>9,}: first build {seconds:6.1f}s", flush=True)
        for run in range(args.repeat):
            for history, settings in lanes.items():
                new_sales = bronze_sales(
                    spark, 10_000_000 + run * args.new, args.new, now + timedelta(minutes=run + 1)
                )
                append_bronze(settings, new_sales)
                seconds, cpu_seconds = timed_build(settings)
                wall[history].append(seconds)
                cpu[history].append(cpu_seconds)
                print(
                    f"history {history:>9,}: build with {args.new} new sales {seconds:6.1f}s "
                    f"(Thrift server CPU {cpu_seconds:5.1f}s)",
                    flush=True,
                )
    finally:
        for settings in lanes.values():
            processes.stop(settings, "thrift")
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)
    (base, loaded), (base_cpu, loaded_cpu) = (
        [statistics.median(figures[history]) for history in lanes] for figures in (wall, cpu)
    )
    print()
    print(f"medians of {args.repeat} builds, each adding {args.new} sales to Bronze:")
    print(f"  on an empty history:      {base:6.1f}s wall, {base_cpu:6.1f}s Thrift server CPU")
    print(f"  on {args.history:>9,} sales:      {loaded:6.1f}s wall, {loaded_cpu:6.1f}s Thrift server CPU")
    print(f"ratio: {loaded / base:.2f}x wall, {loaded_cpu / base_cpu:.2f}x CPU (aim: at most 1.5x)")


if __name__ == "__main__":
    main()
