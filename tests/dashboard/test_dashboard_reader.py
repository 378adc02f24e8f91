"""The reader caches each table by its Delta version: read once per commit, not per request."""

from __future__ import annotations

import shutil
import sys

from dashboard.reader import size_of
from tests.dashboard.silver import AGGREGATES_SCHEMA, write_table


def _aggregate(produit: str, montant: str, quantite: int) -> dict:
    return {"produit_nom": produit, "pays": "France", "total_montant": montant, "total_quantite": quantite}


def test_a_table_is_read_again_only_after_a_commit(app_for, lake) -> None:
    # A long recheck period: only the _delta_log folder's change can reveal the new commit.
    app = app_for(RECHECK_SECONDS=3600)
    reader = app.extensions["ventes_lake"].reader
    client = app.test_client()
    path = lake.path("ventes_aggreges")

    assert client.get("/api/aggregated_sales").get_json() == []
    write_table(path, AGGREGATES_SCHEMA, [_aggregate("Souris", "25.50", 1)])
    assert [r["produit_nom"] for r in client.get("/api/aggregated_sales").get_json()] == ["Souris"]
    reads = reader.reads
    for _ in range(20):
        client.get("/api/aggregated_sales")
        client.get("/api/aggregated_sales?pays=France")
    assert reader.reads == reads, "no commit, no read"

    write_table(path, AGGREGATES_SCHEMA, [_aggregate("Clavier", "75.00", 2)], mode="append")
    rows = client.get("/api/aggregated_sales").get_json()
    assert [(r["produit_nom"], r["total_montant"]) for r in rows] == [("Clavier", 75.0), ("Souris", 25.5)]
    assert reader.reads == reads + 1
    client.get("/api/aggregated_sales")
    assert reader.reads == reads + 1


def test_a_table_dropped_and_rebuilt_is_seen(app_for, lake) -> None:
    client = app_for(RECHECK_SECONDS=3600).test_client()
    path = lake.path("ventes_aggreges")
    write_table(path, AGGREGATES_SCHEMA, [_aggregate("Souris", "25.50", 1)])
    assert len(client.get("/api/aggregated_sales").get_json()) == 1

    shutil.rmtree(path)
    assert client.get("/api/aggregated_sales").get_json() == []
    # Rebuilt from scratch: version 0 again, other rows.
    write_table(path, AGGREGATES_SCHEMA, [_aggregate("Écran", "329.00", 1), _aggregate("Hub", "39.90", 1)])
    assert [r["produit_nom"] for r in client.get("/api/aggregated_sales").get_json()] == ["Écran", "Hub"]


def test_cached_results_are_bounded_by_bytes(app_for, lake, sales) -> None:
    """Distinct filter values each cache an answer and its JSON: the cache keeps within its bytes,
    least recently used out, and every answer stays right."""
    lake.write(sales)
    bound = 60_000
    app = app_for(CACHE_BYTES=bound)
    cache = app.extensions["ventes_lake"].reader.cache
    client = app.test_client()
    unbounded = app_for().test_client()
    urls = [
        f"/api/hourly_sales?start=2026-11-26T{h % 24:02d}:00:00Z&limit={n}" for h in range(24) for n in (1, 5)
    ]
    urls += [f"/api/aggregated_sales?limit={n}" for n in range(1, 60)]
    for url in urls:
        assert client.get(url).get_json() == unbounded.get(url).get_json(), url
        assert 0 < cache.bytes <= bound
    assert len(cache) < len(urls)
    hits = cache.bytes
    first = client.get(urls[-1]).get_json()
    assert client.get(urls[-1]).get_json() == first and cache.bytes == hits  # a hit adds nothing


def test_a_result_larger_than_the_cache_is_computed_each_time(app_for, lake, sales) -> None:
    lake.write(sales)
    app = app_for(CACHE_BYTES=100)
    client = app.test_client()
    expected = app_for().test_client().get("/api/aggregated_sales").get_json()
    for _ in range(3):
        assert client.get("/api/aggregated_sales").get_json() == expected
    assert app.extensions["ventes_lake"].reader.cache.bytes <= 100


def test_size_of_counts_nested_objects_once() -> None:
    row = {"produit_nom": "Souris", "total_montant": 25.5}
    assert size_of([row, row]) == size_of([row]) + 8  # one more pointer, not another row
    assert size_of([row]) > sys.getsizeof([row]) + sys.getsizeof(row)
