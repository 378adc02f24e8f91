"""The JSON API through Flask's test client, over Silver Delta tables written by the test."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.dashboard.silver import HOURLY_SCHEMA, write_table

LISTS = ("/api/aggregated_sales", "/api/top_products", "/api/hourly_sales", "/api/product_by_segment")


def money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def test_before_the_first_run_lists_are_empty(client) -> None:
    for url in LISTS:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.get_json() == []
    overview = client.get("/api/overview").get_json()
    assert overview["nombre_ventes"] == 0 and overview["total_montant"] == 0.0
    quality = client.get("/api/quality").get_json()
    assert quality["rejets_par_raison"] == [] and quality["dbt"] is None
    assert quality["fraicheur"]["donnees_au"] is None
    health = client.get("/api/health")
    assert health.status_code == 200
    assert set(health.get_json()["tables"].values()) == {None}


def test_aggregated_sales_has_the_contract_shape_and_totals(client, lake, sales) -> None:
    expected = lake.write(sales)
    rows = client.get("/api/aggregated_sales").get_json()
    assert all(list(r) == ["produit_nom", "pays", "total_montant", "total_quantite"] for r in rows)
    assert all(isinstance(r["total_quantite"], int) and isinstance(r["total_montant"], float) for r in rows)
    assert {(r["produit_nom"], r["pays"]): (r["total_montant"], r["total_quantite"]) for r in rows} == {
        key: (money(m), q) for key, (m, q) in expected.aggregated.items()
    }
    amounts = [r["total_montant"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)


def test_country_filter_and_limit(client, lake, sales) -> None:
    expected = lake.write(sales)
    france = client.get("/api/aggregated_sales?pays=France").get_json()
    assert {r["pays"] for r in france} == {"France"}
    assert len(france) == sum(1 for (_, pays) in expected.aggregated if pays == "France")
    assert client.get("/api/aggregated_sales?pays=France&limit=2").get_json() == france[:2]
    assert client.get("/api/aggregated_sales?pays=Atlantide").get_json() == []


def test_top_products_are_the_top_ten_by_revenue(client, lake, sales) -> None:
    expected = lake.write(sales)
    rows = client.get("/api/top_products").get_json()
    assert [list(r) for r in rows] == [["produit_nom", "total_montant", "rank"]] * 10
    assert [(r["rank"], r["produit_nom"], r["total_montant"]) for r in rows] == [
        (rank, name, money(total)) for rank, name, total in expected.top10()
    ]
    assert [r["rank"] for r in client.get("/api/top_products?limit=3").get_json()] == [1, 2, 3]


def test_hourly_sales_in_utc_with_a_time_range(client, lake, sales) -> None:
    expected = lake.write(sales)
    rows = client.get("/api/hourly_sales").get_json()
    assert rows == [
        {"heure": hour.strftime("%Y-%m-%dT%H:%M:%SZ"), "total_montant": money(m), "total_quantite": q}
        for hour, (m, q) in sorted(expected.hourly.items())
    ]
    # start included, end excluded; naive means UTC; an offset is honoured.
    window = client.get("/api/hourly_sales?start=2026-11-26T10:00:00&end=2026-11-26T12:00:00%2B01:00")
    assert [r["heure"] for r in window.get_json()] == ["2026-11-26T10:00:00Z"]
    assert client.get("/api/hourly_sales?start=2026-11-26").get_json() == rows
    assert client.get("/api/hourly_sales?limit=1").get_json() == rows[-1:]
    reversed_range = "start=2026-11-27T00:00:00Z&end=2026-11-26T00:00:00Z"
    assert client.get(f"/api/hourly_sales?{reversed_range}").get_json() == []


def test_product_by_segment_for_all_countries_and_for_one(client, lake, sales) -> None:
    expected = lake.write(sales)
    rows = client.get("/api/product_by_segment").get_json()
    assert all(list(r) == ["produit", "segment", "montant"] for r in rows)
    assert {(r["produit"], r["segment"]): r["montant"] for r in rows} == {
        key: money(m) for key, m in expected.by_segment.items()
    }
    in_belgium: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for s in sales:
        if s["pays"] == "Belgique":
            in_belgium[(s["produit_nom"], s["segment"])] += s["montant"]
    rows = client.get("/api/product_by_segment?pays=Belgique").get_json()
    got = {(r["produit"], r["segment"]): r["montant"] for r in rows}
    assert got == {k: money(m) for k, m in in_belgium.items()}


def test_overview_totals(client, lake, sales) -> None:
    lake.write(sales)
    overview = client.get("/api/overview").get_json()
    revenue = sum(s["montant"] for s in sales)
    assert overview == {
        "pays": None,
        "total_montant": money(revenue),
        "total_quantite": sum(s["quantite"] for s in sales),
        "nombre_ventes": len(sales),
        "nombre_produits": len({s["produit_id"] for s in sales}),
        "nombre_clients": len({s["client_id"] for s in sales}),
        "nombre_pays": len({s["pays"] for s in sales}),
        "panier_moyen": money(revenue / len(sales)),
        "premiere_vente": min(s["event_timestamp"] for s in sales).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "derniere_vente": max(s["event_timestamp"] for s in sales).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    swiss = [s for s in sales if s["pays"] == "Suisse"]
    one = client.get("/api/overview?pays=Suisse").get_json()
    assert (one["pays"], one["nombre_ventes"], one["total_montant"], one["nombre_pays"]) == (
        "Suisse",
        len(swiss),
        money(sum(s["montant"] for s in swiss)),
        1,
    )
    assert client.get("/api/overview?pays=Atlantide").get_json()["nombre_ventes"] == 0


FAILED_TEST = "test.ventes.montant_non_negatif"


def test_quality_counts_rejects_and_the_last_dbt_run(client, lake, sales) -> None:
    lake.write(sales, duplicates=2)
    target = lake.root / "dbt_target"
    target.mkdir(parents=True)
    (target / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {"generated_at": "2026-11-26T12:00:00.000000Z"},
                "elapsed_time": 12.34,
                "args": {"which": "build"},
                "results": [
                    {"unique_id": "model.ventes.ventes_clean", "status": "success", "message": "OK"},
                    {"unique_id": "test.ventes.not_null_client_id", "status": "pass", "message": None},
                    {"unique_id": FAILED_TEST, "status": "fail", "message": "Got 1 result"},
                ],
            }
        )
    )
    quality = client.get("/api/quality").get_json()
    assert (quality["bronze_lignes"], quality["ventes_valides"], quality["rejets"], quality["doublons"]) == (
        len(sales) + 3 + 2,
        len(sales),
        3,
        2,
    )
    reasons = {r["raison"]: r["nombre"] for r in quality["rejets_par_raison"]}
    assert reasons["vente_id: missing"] == 2 and reasons["montant < 0"] == 1
    assert {r["statut"]: r["nombre"] for r in quality["rejets_par_statut"]} == {
        "malformed_json": 1,
        "wrong_type": 1,
        "ok": 1,
    }
    assert quality["derniers_rejets"][0]["valeur"] == '{"montant": -5}'
    dbt = quality["dbt"]
    assert dbt["succes"] is False and dbt["tests"]["pass"] == 1 and dbt["tests"]["fail"] == 1
    assert dbt["echecs"] == [{"noeud": FAILED_TEST, "statut": "fail", "message": "Got 1 result"}]
    fresh = quality["fraicheur"]
    assert fresh["donnees_au"] == max(s["ingestion_time"] for s in sales).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not fresh["bronze"]["perime"] and not fresh["silver"]["perime"]


def test_staleness_of_bronze_and_silver(app_for, lake, sales) -> None:
    # Silver built two hours before Bronze's last commit: it misses what came since.
    lake.write(sales, built_at=datetime.now(UTC) - timedelta(hours=2))
    fresh = app_for(STALE_AFTER_SECONDS=3600).test_client().get("/api/quality").get_json()["fraicheur"]
    assert fresh["silver"]["perime"] and fresh["silver"]["retard_sur_bronze_secondes"] >= 7000
    assert not fresh["bronze"]["perime"]
    # Nothing ingested for longer than the threshold: Bronze is stale.
    fresh = app_for(STALE_AFTER_SECONDS=0).test_client().get("/api/quality").get_json()["fraicheur"]
    assert fresh["bronze"]["perime"] and fresh["seuil_secondes"] == 0


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/aggregated_sales?limit=0", "limit"),
        ("/api/aggregated_sales?limit=-3", "limit"),
        ("/api/aggregated_sales?limit=abc", "limit"),
        ("/api/aggregated_sales?limit=10001", "limit"),
        ("/api/aggregated_sales?limit=1e3", "limit"),
        ("/api/aggregated_sales?limit=" + "9" * 5000, "limit"),
        ("/api/aggregated_sales?pays=", "pays"),
        ("/api/aggregated_sales?pays=%20%20", "pays"),
        ("/api/aggregated_sales?pays=" + "x" * 101, "pays"),
        ("/api/aggregated_sales?pays=France&pays=Suisse", "pays"),
        ("/api/aggregated_sales?pay=France", "pay"),
        ("/api/top_products?pays=France", "pays"),
        ("/api/hourly_sales?start=yesterday", "start"),
        ("/api/hourly_sales?end=2026-13-01T00:00:00Z", "end"),
        ("/api/hourly_sales?start=2026-11-26T10:00:60Z", "start"),
        ("/api/product_by_segment?limit=2.5", "limit"),
        ("/api/overview?limit=3", "limit"),
        ("/api/quality?debug=1", "debug"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(client, lake, sales, url, parameter) -> None:
    lake.write(sales)
    response = client.get(url)
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter and body["error"]


def test_unknown_paths_and_methods_answer_json(client) -> None:
    missing = client.get("/api/nothing_here")
    assert missing.status_code == 404 and "error" in missing.get_json()
    post = client.post("/api/aggregated_sales")
    assert post.status_code == 405 and "error" in post.get_json()
    assert "POST" not in post.headers["Allow"]


def test_unchanged_answers_revalidate_with_etag(client, lake, sales) -> None:
    lake.write(sales)
    first = client.get("/api/aggregated_sales")
    assert first.headers["ETag"] and first.headers["Cache-Control"] == "no-cache"
    again = client.get("/api/aggregated_sales", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_an_unreadable_table_is_a_503_not_a_500(client, lake, sales) -> None:
    lake.write(sales)
    log = lake.path("top_produits") / "_delta_log"
    for commit in log.glob("*.json"):
        commit.write_text("this is not a Delta commit\n")
    response = client.get("/api/top_products")
    assert response.status_code == 503
    assert "top_produits" in response.get_json()["error"]
    assert client.get("/api/health").status_code == 200


def test_page_and_local_charting_library(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "ventes produce --count 50 &amp;&amp; ventes run" in html
    assert "cdn" not in html.lower() and "https://" not in html
    script = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200 and script.headers["Content-Encoding"] == "gzip"
    plain = client.get("/vendor/plotly.min.js")
    assert plain.status_code == 200 and b"plotly" in plain.data[:2000].lower()


def test_hourly_sales_default_to_the_last_seven_days_of_data(client, lake) -> None:
    """Without start and end: the hours after the newest one minus 7 days; either one given,
    the range asked for."""
    newest = datetime(2026, 11, 30, 18, tzinfo=UTC)
    hours = [newest - timedelta(hours=6 * n) for n in range(48)]  # 12 days, every 6 hours
    rows = [{"heure": h, "total_montant": Decimal("10.00"), "total_quantite": 1} for h in sorted(hours)]
    write_table(lake.path("hourly_sales"), HOURLY_SCHEMA, rows)
    iso = [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in sorted(hours)]
    recent = [h for h, at in zip(iso, sorted(hours), strict=True) if at > newest - timedelta(days=7)]
    assert len(recent) == 28 and recent[-1] == "2026-11-30T18:00:00Z"

    answer = client.get("/api/hourly_sales").get_json()
    assert [r["heure"] for r in answer] == recent
    assert answer[0] == {"heure": recent[0], "total_montant": 10.0, "total_quantite": 1}
    assert [r["heure"] for r in client.get("/api/hourly_sales?limit=2").get_json()] == recent[-2:]
    assert [r["heure"] for r in client.get("/api/hourly_sales?start=2000-01-01").get_json()] == iso
    assert [r["heure"] for r in client.get("/api/hourly_sales?end=2026-11-20").get_json()] == [
        h for h in iso if h < "2026-11-20"
    ]
