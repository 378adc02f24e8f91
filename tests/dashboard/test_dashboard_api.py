"""The JSON API through Flask's test client, over Silver Delta tables written by the test.

``lake.write(sales)`` builds the Silver tables from the sales as the dbt models do; what the API
should answer is worked out separately from the same sales (``tests/dashboard/expected.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.dashboard import expected
from tests.dashboard.silver import sale, sample_rejects

LISTS = ("/api/aggregated_sales", "/api/top_products", "/api/hourly_sales", "/api/product_by_segment")


def countries(sales: list[dict]) -> list[str]:
    return sorted({s["pays"] for s in sales})


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
    lake.write(sales)
    rows = client.get("/api/aggregated_sales").get_json()
    assert all(list(r) == ["produit_nom", "pays", "total_montant", "total_quantite"] for r in rows)
    assert all(isinstance(r["total_quantite"], int) and isinstance(r["total_montant"], float) for r in rows)
    assert rows == expected.aggregated_sales(sales)


def test_country_filter_and_limit(client, lake, sales) -> None:
    lake.write(sales)
    for pays in countries(sales):
        answer = client.get(f"/api/aggregated_sales?pays={pays}").get_json()
        assert answer == expected.aggregated_sales(sales, pays), pays
    france = expected.aggregated_sales(sales, "France")
    assert len(france) > 2
    assert client.get("/api/aggregated_sales?pays=France&limit=2").get_json() == france[:2]
    assert client.get("/api/aggregated_sales?limit=3").get_json() == expected.aggregated_sales(sales)[:3]
    assert client.get("/api/aggregated_sales?pays=Atlantide").get_json() == []


def test_top_products_are_the_top_ten_by_revenue(client, lake, sales) -> None:
    lake.write(sales)
    rows = client.get("/api/top_products").get_json()
    assert [list(r) for r in rows] == [["produit_nom", "total_montant", "rank"]] * 10
    top = expected.top_products(sales)
    assert rows == top
    assert client.get("/api/top_products?limit=3").get_json() == top[:3]


def test_a_tie_at_the_tenth_place_is_decided_by_the_name(client, lake, sales) -> None:
    revenue = {
        name: sum(s["montant"] for s in sales if s["produit_nom"] == name)
        for name in {"Câble HDMI", "Hub USB-C"}
    }
    assert revenue["Câble HDMI"] == revenue["Hub USB-C"], "the sample's tie"
    lake.write(sales)
    tenth = client.get("/api/top_products").get_json()[-1]
    assert (tenth["rank"], tenth["produit_nom"]) == (10, "Câble HDMI")


def test_hourly_sales_in_utc_with_a_time_range(client, lake, sales) -> None:
    lake.write(sales)
    rows = client.get("/api/hourly_sales").get_json()
    assert rows == expected.hourly_sales(sales)
    assert all(r["heure"].endswith(":00:00Z") for r in rows)
    # start included, end excluded; naive means UTC; an offset is honoured.
    start, end = datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 26, 11, tzinfo=UTC)
    window = client.get("/api/hourly_sales?start=2026-11-26T10:00:00&end=2026-11-26T12:00:00%2B01:00")
    assert window.get_json() == expected.hourly_sales(sales, start, end)
    assert [r["heure"] for r in window.get_json()] == ["2026-11-26T10:00:00Z"]
    assert client.get("/api/hourly_sales?start=2026-11-26").get_json() == expected.hourly_sales(
        sales, start=datetime(2026, 11, 26, tzinfo=UTC)
    )
    assert client.get("/api/hourly_sales?limit=1").get_json() == expected.hourly_sales(sales)[-1:]
    reversed_range = "start=2026-11-27T00:00:00Z&end=2026-11-26T00:00:00Z"
    assert client.get(f"/api/hourly_sales?{reversed_range}").get_json() == []


def test_product_by_segment_for_all_countries_and_for_one(client, lake, sales) -> None:
    lake.write(sales)
    rows = client.get("/api/product_by_segment").get_json()
    assert all(list(r) == ["produit", "segment", "montant"] for r in rows)
    assert expected.by_product_and_segment(rows) == expected.product_by_segment(sales)
    assert client.get("/api/product_by_segment?limit=2").get_json() == rows[:2]
    for pays in countries(sales):
        answer = client.get(f"/api/product_by_segment?pays={pays}").get_json()
        assert expected.by_product_and_segment(answer) == expected.product_by_segment(sales, pays), pays
    assert client.get("/api/product_by_segment?pays=Atlantide").get_json() == []


def test_overview_totals(client, lake, sales) -> None:
    lake.write(sales)
    assert client.get("/api/overview").get_json() == expected.overview(sales)
    for pays in [*countries(sales), "Atlantide"]:
        assert client.get(f"/api/overview?pays={pays}").get_json() == expected.overview(sales, pays), pays
    assert expected.overview(sales, "Atlantide")["nombre_ventes"] == 0


def test_a_sale_sent_again_counts_once_as_last_sent(client, lake, sales) -> None:
    """A vente_id sent again (a correction, or the same record twice) replaces the earlier one."""
    first, fourth = sales[0], sales[3]
    corrected = sale(
        first["vente_id"], first["produit_nom"], "Suisse", "PME", 1, "849.00", "2026-11-26T09:40:00Z"
    )
    sent = [*sales, corrected, dict(fourth)]
    lake.write(sent)
    assert client.get("/api/aggregated_sales").get_json() == expected.aggregated_sales(sent)
    assert client.get("/api/top_products").get_json() == expected.top_products(sent)
    assert client.get("/api/hourly_sales").get_json() == expected.hourly_sales(sent)
    rows = client.get("/api/product_by_segment").get_json()
    assert expected.by_product_and_segment(rows) == expected.product_by_segment(sent)
    overview = client.get("/api/overview").get_json()
    assert overview == expected.overview(sent)
    assert overview["nombre_ventes"] == len(sales)
    assert expected.aggregated_sales(sent) != expected.aggregated_sales(sales)


FAILED_TEST = "test.ventes.montant_non_negatif"


def test_quality_counts_rejects_and_the_last_dbt_run(client, lake, sales) -> None:
    sent = [*sales, sales[2], sales[5]]  # two sales sent twice: two duplicates
    rejects = sample_rejects()
    lake.write(sent, rejects)
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
    want = expected.quality(sent, rejects)
    assert (want["bronze_lignes"], want["doublons"]) == (len(sales) + 2 + len(rejects), 2)
    for key in (
        "bronze_lignes",
        "ventes_valides",
        "rejets",
        "doublons",
        "derniere_ingestion",
        "derniers_rejets",
    ):
        assert quality[key] == want[key], key
    for key, name in (("rejets_par_statut", "statut"), ("rejets_par_raison", "raison")):
        assert {r[name]: r["nombre"] for r in quality[key]} == {r[name]: r["nombre"] for r in want[key]}, key
    dbt = quality["dbt"]
    assert dbt["succes"] is False and dbt["tests"]["pass"] == 1 and dbt["tests"]["fail"] == 1
    assert dbt["echecs"] == [{"noeud": FAILED_TEST, "statut": "fail", "message": "Got 1 result"}]
    fresh = quality["fraicheur"]
    assert fresh["donnees_au"] == want["derniere_ingestion"]
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
    newest = datetime(2026, 11, 30, 18, 25, tzinfo=UTC)
    # 12 days of sales, one every 6 hours, some in Paris time.
    times = sorted(newest - timedelta(hours=6 * n) for n in range(48))
    paris = timezone(timedelta(hours=1))
    sales = [
        sale(
            n,
            "Souris sans fil",
            "France",
            "PME",
            1 + n % 3,
            "25.50",
            when.astimezone(paris) if n % 2 else when,
        )
        for n, when in enumerate(times, start=1)
    ]
    lake.write(sales)
    recent = expected.hourly_sales(sales)
    every_hour = [r["heure"] for r in expected.hourly_sales(sales, start=datetime(2000, 1, 1, tzinfo=UTC))]
    assert (recent[0]["heure"], recent[-1]["heure"]) == ("2026-11-24T00:00:00Z", "2026-11-30T18:00:00Z")
    assert "2026-11-23T18:00:00Z" in every_hour, "an hour exactly 7 days before the newest: left out"

    assert client.get("/api/hourly_sales").get_json() == recent
    assert client.get("/api/hourly_sales?limit=2").get_json() == recent[-2:]
    assert client.get("/api/hourly_sales?start=2000-01-01").get_json() == expected.hourly_sales(
        sales, start=datetime(2000, 1, 1, tzinfo=UTC)
    )
    assert client.get("/api/hourly_sales?end=2026-11-20").get_json() == expected.hourly_sales(
        sales, end=datetime(2026, 11, 20, tzinfo=UTC)
    )
