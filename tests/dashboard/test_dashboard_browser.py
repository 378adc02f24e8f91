"""The page in a real browser: Debian's headless Chromium, driven by Playwright, against the
dashboard served by gunicorn exactly as ``ventes up`` runs it, over Silver tables written here.

Screenshots land in test-output/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from stack import processes
from tests.dashboard import expected
from tests.dashboard.silver import SilverLake, sale, sample_rejects, sample_sales
from tests.ports import reserve_port, start_service
from ventes.settings import Settings

pytestmark = pytest.mark.stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
PHONE = {"width": 390, "height": 844}


def euros(value: Decimal | float) -> str:
    """As the page shows money (fr-FR), without its spaces: 5469,50€."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}".replace(",", "").replace(".", ",") + "€"


def plain(text: str) -> str:
    return re.sub(r"\s", "", text)


@contextlib.contextmanager
def dashboard_over(
    test_env: Settings, folder: Path, sales: list[dict] | None
) -> Iterator[tuple[Settings, SilverLake]]:
    """gunicorn serving a dashboard of its own (home, lake and port) over these sales (over an
    empty lake with None): no test sees what another one wrote, whatever their order."""
    settings = dataclasses.replace(
        test_env, home=folder, delta_root=folder / "delta", dashboard_port=reserve_port()
    )
    lake = SilverLake(settings.delta_root)
    if sales is not None:
        lake.write(sales)
    settings = start_service(settings, "dashboard")
    try:
        yield settings, lake
    finally:
        processes.stop(settings, "dashboard")


@pytest.fixture(scope="module")
def served(
    test_env: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, SilverLake]]:
    """A dashboard before the first run: its lake is empty."""
    with dashboard_over(test_env, tmp_path_factory.mktemp("browser_empty"), None) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (./dev test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def browser_page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page of that size; no error may reach its console."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="fr-FR", timezone_id="UTC"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"errors in the browser console: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser_page(browser, 1440, 900) as page:
        yield page


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    with browser_page(browser, PHONE["width"], PHONE["height"]) as page:
        yield page


def open_dashboard(page: Page, settings: Settings, query: str = "") -> None:
    page.goto(f"http://{settings.dashboard_host}:{settings.dashboard_port}/{query}")
    page.wait_for_selector("body[data-state]", timeout=20_000)


def test_before_the_first_run_the_page_says_how_to_produce_data(served, page: Page) -> None:
    settings, _ = served
    open_dashboard(page, settings)
    expect(page.locator("#empty-state")).to_be_visible()
    expect(page.locator("#empty-state")).to_contain_text("ventes produce --count 50 && ventes run")
    expect(page.locator("#content")).to_be_hidden()


@pytest.fixture(scope="module")
def filled(
    test_env: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, SilverLake, list[dict]]]:
    """A dashboard over the sample sales; no test writes to its lake."""
    sales = sample_sales()
    with dashboard_over(test_env, tmp_path_factory.mktemp("browser_filled"), sales) as (settings, lake):
        yield settings, lake, sales


@pytest.fixture
def refreshing(
    test_env: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, SilverLake, list[dict]]]:
    """A dashboard over the sample sales, for a test that builds Silver again under it."""
    sales = sample_sales()
    with dashboard_over(test_env, tmp_path_factory.mktemp("browser_refresh"), sales) as (settings, lake):
        yield settings, lake, sales


def test_charts_kpis_and_table_show_the_silver_figures(filled, page: Page) -> None:
    settings, _, sales = filled
    open_dashboard(page, settings)
    expect(page.locator("body")).to_have_attribute("data-state", "ready")

    kpi = lambda key: plain(page.locator(f'[data-kpi="{key}"]').inner_text())  # noqa: E731
    revenue = sum(s["montant"] for s in sales)
    assert kpi("total_montant") == euros(revenue)
    assert kpi("nombre_ventes") == str(len(sales))
    assert kpi("total_quantite") == str(sum(s["quantite"] for s in sales))
    assert kpi("panier_moyen") == euros(revenue / len(sales))
    assert kpi("nombre_clients") == str(len({s["client_id"] for s in sales}))

    # Charts drawn by plotly: one bar per top product, per country, per hour.
    top = expected.top_products(sales)
    expect(page.locator("#chart-top .bars .point")).to_have_count(len(top))
    labels = [plain(t) for t in page.locator("#chart-top text.bartext").all_text_contents()]
    assert labels[-1] == euros(top[0]["total_montant"]), (
        "the best seller is drawn at the top with its revenue"
    )
    countries = {s["pays"] for s in sales}
    expect(page.locator("#chart-pays .bars .point")).to_have_count(len(countries))
    expect(page.locator("#chart-hourly .bars .point")).to_have_count(len(expected.hourly_sales(sales)))
    expect(page.locator("#chart-segment .bars .point")).not_to_have_count(0)

    # The aggregated table: every product × country, largest revenue first.
    rows = page.locator("#aggregated-table tbody tr")
    aggregated = expected.aggregated_sales(sales)
    expect(rows).to_have_count(len(aggregated))
    largest = aggregated[0]
    first = [plain(c) for c in rows.first.locator("td").all_inner_texts()]
    assert first == [
        plain(largest["produit_nom"]),
        largest["pays"],
        euros(largest["total_montant"]),
        str(largest["total_quantite"]),
    ]

    # Quality panel and freshness.
    expect(page.locator('[data-quality="rejets"]')).to_have_text(str(len(sample_rejects())))
    expect(page.locator("#reasons li")).not_to_have_count(0)
    expect(page.locator("#asof-text")).to_contain_text("Données au")
    expect(page.locator("#stale-banner")).to_be_hidden()

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard-laptop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)  # plotly redraws on resize
    page.screenshot(path=str(OUTPUT / "dashboard-phone.png"), full_page=True)


@pytest.fixture(scope="module")
def millions(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A dashboard over sales in the millions of euros: the longest amounts a bar carries."""
    big = [{**s, "quantite": s["quantite"] * 2000, "montant": s["montant"] * 2000} for s in sample_sales()]
    with dashboard_over(test_env, tmp_path_factory.mktemp("browser_millions"), big) as (settings, _):
        yield settings


@pytest.mark.parametrize("figures", ["filled", "millions"])
def test_bar_labels_fit_a_phone_screen(figures: str, request: pytest.FixtureRequest, phone: Page) -> None:
    """At 390 px, every amount beside a bar and every name before it stays inside its chart and
    the screen: none is cut at the right edge."""
    served = request.getfixturevalue(figures)
    settings = served[0] if isinstance(served, tuple) else served
    open_dashboard(phone, settings)
    expect(phone.locator("body")).to_have_attribute("data-state", "ready")
    for chart in ("#chart-top", "#chart-pays"):
        expect(phone.locator(f"{chart} text.bartext")).not_to_have_count(0)
        area = phone.locator(chart).bounding_box()
        assert area is not None
        left, right = max(0, area["x"]), min(area["x"] + area["width"], PHONE["width"])
        for label in phone.locator(f"{chart} text.bartext, {chart} .ytick text").all():
            box = label.bounding_box()
            assert box is not None and box["width"] > 0
            assert left - 0.5 <= box["x"] and box["x"] + box["width"] <= right + 0.5, (
                f"{chart}: {label.text_content()!r} spans {box['x']:.0f}..{box['x'] + box['width']:.0f} px, "
                f"the chart {left:.0f}..{right:.0f}"
            )
    OUTPUT.mkdir(exist_ok=True)
    phone.screenshot(path=str(OUTPUT / f"dashboard-phone-{figures}.png"), full_page=True)


def test_country_filter_and_sortable_table(filled, page: Page) -> None:
    settings, _, sales = filled
    swiss = [s for s in sales if s["pays"] == "Suisse"]
    open_dashboard(page, settings)
    page.select_option("#pays-filter", "Suisse")
    expect(page.locator('[data-kpi="nombre_ventes"]')).to_have_text(str(len(swiss)))
    assert "pays=Suisse" in page.url
    rows = page.locator("#aggregated-table tbody tr")
    expect(rows).to_have_count(len({s["produit_nom"] for s in swiss}))
    assert set(page.locator("#aggregated-table tbody td:nth-child(2)").all_inner_texts()) == {"Suisse"}

    page.click('#aggregated-table th[data-key="total_quantite"] button')
    quantities = [int(q) for q in page.locator("#aggregated-table tbody td:nth-child(4)").all_inner_texts()]
    assert quantities == sorted(quantities, reverse=True)
    page.click('#aggregated-table th[data-key="total_quantite"] button')
    quantities = [int(q) for q in page.locator("#aggregated-table tbody td:nth-child(4)").all_inner_texts()]
    assert quantities == sorted(quantities)
    expect(page.locator('#aggregated-table th[data-key="total_quantite"]')).to_have_attribute(
        "aria-sort", "ascending"
    )

    page.select_option("#pays-filter", "")
    expect(page.locator('[data-kpi="nombre_ventes"]')).to_have_text(str(len(sales)))


def test_the_page_refreshes_itself_after_a_new_build(refreshing, page: Page) -> None:
    """A new dbt build (new commits) shows up without reloading, with a warning when Silver lags."""
    settings, lake, sales = refreshing
    open_dashboard(page, settings)
    refreshes = int(page.locator("body").get_attribute("data-refreshes"))
    late = sale(99, "Casque audio", "France", "PME", 2, "149.95", datetime(2026, 11, 26, 12, 5, tzinfo=UTC))
    # Built two hours before Bronze's latest commit: Silver is behind Bronze.
    lake.write([*sales, late], built_at=datetime.now(UTC) - timedelta(hours=2))
    sales_kpi = page.locator('[data-kpi="nombre_ventes"]')
    expect(sales_kpi).to_have_text(str(len(sales) + 1), timeout=20_000)
    assert int(page.locator("body").get_attribute("data-refreshes")) > refreshes
    expect(page.locator("#stale-banner")).to_be_visible()
    expect(page.locator("#stale-banner")).to_contain_text("retard sur Bronze")
    expect(page.locator("#chart-hourly .bars .point")).to_have_count(
        len(expected.hourly_sales([*sales, late]))
    )
