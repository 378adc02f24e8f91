"""Benchmark: does a `dbt build`'s cost follow the new Bronze rows, or the whole history?

Times `dbt build` for 50 new sales on top of an empty history, then on top of 1,000,000
historical sales, and prints both and their ratio (the aim: at most 1.5x). Each timed build
is an incremental run over Silver tables that already hold the history, as in production.

It starts its own Spark Thrift Server on a free port with its own VENTES_HOME (a temporary
folder, removed at the end), and writes Bronze by path with Spark, as the ingestion job does.

    .venv/bin/python bench/bench_dbt.py [--history 1000000] [--new 50] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ventes import dbt, jars, stack
from ventes import settings as settings_module
from ventes.settings import Settings
from ventes.spark import delta_conf

PRODUCTS = 50
CLIENTS = 2_000
PAYS = ["France", "Belgique", "Suisse", "Canada", "Maroc", "Sénégal"]
SEGMENTS = ["Particulier", "Professionnel", "Entreprise"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        "vente_id",
        "client_id",
        "produit_id",
        "event_timestamp",
        "quantite",
        "montant",
        "client_nom",
        "produit_nom",
        "categorie",
        "pays",
        "segment",
    )


def append_bronze(settings: Settings, frame: DataFrame) -> None:
    frame.write.format("delta").mode("append").partitionBy("date").save(str(settings.bronze_path))


def timed_build(settings: Settings) -> float:
    begin = time.monotonic()
    dbt.build(settings, echo=lambda line: None)
    return time.monotonic() - begin


def scenario(spark: SparkSession, settings: Settings, history: int, new: int, repeat: int) -> list[float]:
    """Build Silver over `history` sales (untimed), then time builds that each add `new` sales."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if history:
        append_bronze(settings, bronze_sales(spark, 1, history, now - timedelta(days=1), days=30))
    dbt.build(settings, echo=lambda line: None)
    times = []
    for run in range(repeat):
        first_id = 10_000_000 + run * new
        append_bronze(settings, bronze_sales(spark, first_id, new, now + timedelta(minutes=run + 1)))
        times.append(timed_build(settings))
        print(f"  history {history:>9,}: build with {new} new sales took {times[-1]:6.1f}s", flush=True)
    return times


def lake(home: Path, name: str) -> Settings:
    os.environ["DELTA_ROOT"] = str(home / name)
    return settings_module.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2, help="timed builds per scenario")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ventes-bench-dbt-"))
    os.environ.update(VENTES_HOME=str(home), THRIFT_HOST="127.0.0.1", THRIFT_PORT=str(free_port()))
    settings = settings_module.load()
    jars.ensure_jars(settings)
    builder = SparkSession.builder.master("local[2]").appName("bench-dbt")
    for key, value in {**delta_conf(settings), "spark.driver.memory": "2g"}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    print(f"starting a Spark Thrift Server on port {settings.thrift_port} (home {home})", flush=True)
    stack.start(settings, stack.service("thrift"))
    try:
        # One Thrift server for both lakes: the on-run-start hook re-registers Bronze and
        # Silver when DELTA_ROOT changes.
        empty = scenario(spark, lake(home, "lake_empty"), 0, args.new, args.repeat)
        full = scenario(spark, lake(home, "lake_history"), args.history, args.new, args.repeat)
    finally:
        stack.stop(settings, "thrift")
        spark.stop()
        shutil.rmtree(home, ignore_errors=True)
    base, loaded = statistics.median(empty), statistics.median(full)
    print()
    print(f"dbt build, {args.new} new sales on an empty history:       {base:6.1f}s (median of {len(empty)})")
    print(
        f"dbt build, {args.new} new sales on {args.history:,} historical: {loaded:6.1f}s "
        f"(median of {len(full)})"
    )
    print(f"ratio: {loaded / base:.2f}x (aim: at most 1.5x)")


if __name__ == "__main__":
    main()
