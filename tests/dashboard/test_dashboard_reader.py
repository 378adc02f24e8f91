"""The reader caches each table by its Delta version: read once per commit, not per request."""

from __future__ import annotations

import shutil

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
