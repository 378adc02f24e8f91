"""Benchmark: Bronze ingestion events/s for a backlog of 1,000,000 events on 2 cores.

End to end, Kafka -> committed Delta, with the job's own code (``ingestion.job.ingest``,
availableNow, ``maxOffsetsPerTrigger`` batches), beside Spark's own ceiling for the same work
measured in the same run and session: the same rows, read from Kafka once and held in memory,
parsed by the same ``to_bronze`` and written to Parquet. Also the same stream without the parse
(raw Kafka columns -> Delta), to show where the time goes.

A broker of its own on free ports, a private VENTES_HOME, ``local[2]``; all removed at the end.

    .venv/bin/python bench/bench_ingest.py [--count 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from bench_producer import on_topic, own_broker
from pyspark import StorageLevel

from ingestion.bronze import to_bronze
from ingestion.job import ingest, spark_session
from ingestion.producer import produce
from ventes.settings import Settings


def kafka_batch(spark, settings: Settings):
    return (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )


def ceiling(spark, settings: Settings, target: str) -> tuple[int, float]:
    """The same rows from memory, parsed and written to Parquet: (rows, seconds)."""
    rows = kafka_batch(spark, settings).persist(StorageLevel.MEMORY_AND_DISK)
    count = rows.count()  # materialise the cache before timing
    begin = time.perf_counter()
    to_bronze(rows).write.mode("overwrite").parquet(target)
    seconds = time.perf_counter() - begin
    rows.unpersist()
    return count, seconds


def raw_stream(spark, settings: Settings, target: str) -> tuple[int, float]:
    """The same stream and sink without the parse: (rows, seconds)."""
    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .load()
    )
    begin = time.perf_counter()
    query = (
        stream.writeStream.format("delta")
        .option("checkpointLocation", f"{target}_checkpoint")
        .trigger(availableNow=True)
        .start(target)
    )
    query.awaitTermination()
    seconds = time.perf_counter() - begin
    return spark.read.format("delta").load(target).count(), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ["SPARK_MASTER"] = "local[2]"

    with own_broker() as broker:
        settings = on_topic(broker, "bench_ingest")
        produced = produce(settings, args.count, seed=1, progress=False)
        scratch = tempfile.mkdtemp(prefix="ventes-bench-ingest-")
        spark, _ = spark_session(settings, {"spark.driver.memory": "4g"})
        try:
            report = ingest(settings)
            limit_rows, limit_seconds = ceiling(spark, settings, f"{scratch}/parquet")
            raw_rows, raw_seconds = raw_stream(spark, settings, f"{scratch}/raw")
        finally:
            spark.stop()
            shutil.rmtree(scratch, ignore_errors=True)

    assert report.rows_added == limit_rows == raw_rows == produced.sent
    ours = report.rows_added / report.seconds
    limit = limit_rows / limit_seconds
    raw = raw_rows / raw_seconds
    print()
    print(
        f"backlog: {produced.sent:,} events, {settings.kafka_partitions} partitions, local[2], "
        f"{settings.max_offsets_per_trigger:,} offsets per batch ({report.batches} batches)"
    )
    print(f"Kafka -> Bronze Delta (the job):              {ours:>10,.0f} events/s ({report.seconds:.1f}s)")
    print(f"ceiling: memory -> same parse -> Parquet:      {limit:>10,.0f} events/s ({limit_seconds:.1f}s)")
    print(f"ratio job / ceiling:                           {ours / limit:>10.2f}")
    print(f"Kafka -> Delta without the parse (raw columns): {raw:>10,.0f} events/s ({raw_seconds:.1f}s)")
    print(f"aim: >= 100,000 events/s: {'met' if ours >= 100_000 else 'not met'}")


if __name__ == "__main__":
    main()
