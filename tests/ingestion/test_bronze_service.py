"""The Bronze streaming job as a service of the local stack: it ingests as sales arrive, and a
one-off ingestion (``ventes ingest``, ``ventes run``, Airflow's task) waits for it instead of
starting a Spark application of its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from deltalake import DeltaTable, QueryBuilder

from ingestion import streaming
from ingestion.job import ingest
from ingestion.producer import produce
from stack import processes
from ventes.errors import VentesError
from ventes.settings import Settings


def offsets_in_bronze(settings: Settings) -> tuple[int, int]:
    """Rows in Bronze, and distinct (partition, offset) pairs among them."""
    sql = 'select "partition", "offset" from t'
    result = QueryBuilder().register("t", DeltaTable(str(settings.bronze_path))).execute(sql).read_all()
    partitions, offsets = result.column("partition").to_pylist(), result.column("offset").to_pylist()
    pairs = list(zip(partitions, offsets, strict=True))
    return len(pairs), len(set(pairs))


def test_one_off_ingestions_wait_for_the_streaming_job(make_lake: Callable[..., Settings]) -> None:
    settings = make_lake()
    assert processes.start(settings, processes.service("bronze")) == "started"
    try:
        [row] = [r for r in processes.status(settings) if r["service"] == "bronze"]
        assert (row["health"], row["address"]) == ("up", "-")

        produce(settings, 300, seed=3, progress=False)
        report = ingest(settings)
        assert (report.rows_added, report.batches) == (300, 0)  # no Spark application of its own
        assert offsets_in_bronze(settings) == (300, 300)
        assert ingest(settings).rows_added == 0

        with pytest.raises(VentesError, match="already follows"):
            ingest(settings, follow=True)
    finally:
        assert processes.stop(settings, "bronze") == "stopped"
    assert streaming.following_job(settings) is None  # a clean stop removes its heartbeat
    assert offsets_in_bronze(settings) == (300, 300)
