"""The original design's Silver step, as its own PySpark batch job (``spark-submit`` per run).

What the design card describes for ``dags/bronze_to_silver.py``: read the whole Bronze table,
clean it (parsed records, duplicates dropped, ``montant >= 0``, ``client_id`` not null), build
the aggregates and overwrite four Silver tables. ``bench/bench_cycle.py`` submits it beside the
project's ``dbt build`` on the same Bronze data; it writes under ``<DELTA_ROOT>/silver``.

    spark-submit ... bench/original_silver_job.py <DELTA_ROOT>
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F


def clean(bronze: DataFrame) -> DataFrame:
    return (
        bronze.where(F.col("parse_status") == "ok")
        .select(
            "vente_id", "client_id", "produit_id", "event_timestamp", "quantite", "montant",
            "client_nom", "produit_nom", "categorie", "pays", "segment",
        )
        .dropDuplicates()
        .where(F.col("montant") >= 0)
        .where(F.col("client_id").isNotNull())
        .withColumn("heure", F.date_trunc("hour", "event_timestamp"))
    )  # fmt: skip


def aggregates(ventes: DataFrame) -> dict[str, DataFrame]:
    totals = [F.sum("montant").alias("total_montant"), F.sum("quantite").alias("total_quantite")]
    by_product = ventes.groupBy("produit_nom").agg(F.sum("montant").alias("total_montant"))
    return {
        "ventes_aggreges": ventes.groupBy("produit_nom", "pays").agg(*totals),
        "top_produits": by_product.withColumn(
            "rank", F.row_number().over(Window.orderBy(F.desc("total_montant"), "produit_nom"))
        ).where(F.col("rank") <= 10),
        "hourly_sales": ventes.groupBy("heure").agg(*totals),
    }


def main(delta_root: str) -> None:
    spark = SparkSession.builder.appName("original-design-silver").getOrCreate()
    ventes = clean(spark.read.format("delta").load(f"{delta_root}/bronze/ventes_raw")).cache()
    for name, frame in {"ventes_clean": ventes, **aggregates(ventes)}.items():
        frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            f"{delta_root}/silver/{name}"
        )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
