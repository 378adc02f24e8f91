"""What the dashboard API should answer for a list of sales, worked out in plain Python.

The answers come from the sales themselves (the producer's messages: ``vente_id``,
``produit_nom``, ``pays``, ``segment``, ``quantite``, ``montant``, ``timestamp``...) and the
API's documented rules (the README's Dashboard table, ``dashboard/openapi.py``), never from the
Silver tables ``tests/dashboard/silver.py`` writes for the API to read. Money is rounded to
2 places as a float, quantities are ints, hours ISO-8601 UTC; lists are in the documented order
(product × segment has none: it is sorted by product, then segment, for comparing).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.dashboard.silver import INGESTION_DELAY

CENT = Decimal("0.01")
TOP = 10
HOURLY_DEFAULT_WINDOW = timedelta(days=7)
TOP_REASONS = 10


def money(amount: Decimal) -> float:
    return float(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_time(sale: dict) -> datetime:
    """The sale's time in UTC; a time without an offset is UTC (the data contract)."""
    moment = datetime.fromisoformat(sale["timestamp"])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_hour(sale: dict) -> datetime:
    return event_time(sale).replace(minute=0, second=0, microsecond=0)


def valid_sales(sales: list[dict]) -> list[dict]:
    """Each sale once: a ``vente_id`` sent again counts as its last sending."""
    return list({s["vente_id"]: s for s in sales}.values())


def _in(sales: list[dict], pays: str | None) -> list[dict]:
    return [s for s in valid_sales(sales) if pays is None or s["pays"] == pays]


def aggregated_sales(sales: list[dict], pays: str | None = None) -> list[dict]:
    """Per product and country, largest revenue first."""
    amounts: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    quantities: Counter[tuple[str, str]] = Counter()
    for s in _in(sales, pays):
        amounts[s["produit_nom"], s["pays"]] += s["montant"]
        quantities[s["produit_nom"], s["pays"]] += s["quantite"]
    ordered = sorted(amounts, key=lambda key: (-amounts[key], key))
    return [
        {
            "produit_nom": p,
            "pays": c,
            "total_montant": money(amounts[p, c]),
            "total_quantite": quantities[p, c],
        }
        for p, c in ordered
    ]


def top_products(sales: list[dict]) -> list[dict]:
    """The 10 largest products by revenue, ranked 1 to 10, a tie decided by the name."""
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for s in valid_sales(sales):
        revenue[s["produit_nom"]] += s["montant"]
    ranked = sorted(revenue.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return [
        {"produit_nom": name, "total_montant": money(amount), "rank": rank}
        for rank, (name, amount) in enumerate(ranked, start=1)
    ]


def hourly_sales(sales: list[dict], start: datetime | None = None, end: datetime | None = None) -> list[dict]:
    """Per UTC hour of the sales' time, oldest first; ``start`` included, ``end`` excluded;
    neither given, the hours after the newest one minus 7 days."""
    amounts: defaultdict[datetime, Decimal] = defaultdict(Decimal)
    quantities: Counter[datetime] = Counter()
    for s in valid_sales(sales):
        amounts[utc_hour(s)] += s["montant"]
        quantities[utc_hour(s)] += s["quantite"]
    hours = sorted(amounts)
    if start is None and end is None and hours:
        hours = [h for h in hours if h > hours[-1] - HOURLY_DEFAULT_WINDOW]
    else:
        hours = [h for h in hours if (start is None or h >= start) and (end is None or h < end)]
    return [
        {"heure": iso(h), "total_montant": money(amounts[h]), "total_quantite": quantities[h]} for h in hours
    ]


def product_by_segment(sales: list[dict], pays: str | None = None) -> list[dict]:
    """Per product and customer segment, sorted by product then segment."""
    amounts: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for s in _in(sales, pays):
        amounts[s["produit_nom"], s["segment"]] += s["montant"]
    return [{"produit": p, "segment": seg, "montant": money(amounts[p, seg])} for p, seg in sorted(amounts)]


def by_product_and_segment(rows: list[dict]) -> list[dict]:
    """An answer of /api/product_by_segment in the order product_by_segment() gives."""
    return sorted(rows, key=lambda r: (r["produit"], r["segment"]))


def overview(sales: list[dict], pays: str | None = None) -> dict[str, Any]:
    kept = _in(sales, pays)
    revenue = sum((s["montant"] for s in kept), Decimal(0))
    times = [event_time(s) for s in kept]
    return {
        "pays": pays,
        "total_montant": money(revenue),
        "total_quantite": sum(s["quantite"] for s in kept),
        "nombre_ventes": len(kept),
        "nombre_produits": len({s["produit_id"] for s in kept}),
        "nombre_clients": len({s["client_id"] for s in kept}),
        "nombre_pays": len({s["pays"] for s in kept}),
        "panier_moyen": money(revenue / len(kept)) if kept else 0.0,
        "premiere_vente": iso(min(times)) if times else None,
        "derniere_vente": iso(max(times)) if times else None,
    }


def quality(sales: list[dict], rejects: list[dict]) -> dict[str, Any]:
    """The counts of /api/quality: every Bronze record is a valid sale, a reject or a duplicate.

    ``rejects`` are rejected Bronze records (``ventes_rejets`` rows); each sale reached Bronze
    INGESTION_DELAY after its time. Rejects by status and by reason are counted (the reasons of
    a record are separated by ``; ``), the most frequent first; the latest rejects come newest
    first.
    """
    statuses = Counter(r["parse_status"] for r in rejects)
    reasons = Counter(reason for r in rejects for reason in r["reasons"].split("; "))
    ranked_reasons = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    listed = ranked_reasons[:TOP_REASONS]
    if len(ranked_reasons) > TOP_REASONS:
        listed.append(("autres raisons", sum(n for _, n in ranked_reasons[TOP_REASONS:])))
    ingested = [event_time(s) + INGESTION_DELAY for s in sales] + [r["ingestion_time"] for r in rejects]
    newest = sorted(rejects, key=lambda r: r["kafka_timestamp"], reverse=True)[:10]
    return {
        "bronze_lignes": len(sales) + len(rejects),
        "ventes_valides": len(valid_sales(sales)),
        "rejets": len(rejects),
        "doublons": len(sales) - len(valid_sales(sales)),
        "derniere_ingestion": iso(max(ingested)) if ingested else None,
        "rejets_par_statut": [
            {"statut": s, "nombre": n} for s, n in sorted(statuses.items(), key=lambda i: (-i[1], i[0]))
        ],
        "rejets_par_raison": [{"raison": r, "nombre": n} for r, n in listed],
        "derniers_rejets": [
            {
                "partition": r["partition"],
                "offset": r["offset"],
                "kafka_timestamp": iso(r["kafka_timestamp"]),
                "statut": r["parse_status"],
                "raisons": r["reasons"],
                "valeur": r["value"][:200],
            }
            for r in newest
        ],
    }
