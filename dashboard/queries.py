"""What the API answers, computed from the Silver tables (and Bronze's commit log).

Each function reads the latest snapshot of the tables it needs; what it derives from a snapshot
is memoised with that snapshot, so filters are applied to cached rows and a table is queried
again only after a new Delta commit. Money leaves as floats rounded to 2 places, quantities as
ints, times as ISO-8601 UTC strings ending in ``Z``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.lake import DbtResults, Lake, count, iso_utc, money, utc
from dashboard.reader import Snapshot, TableUnreadable
from ventes.contract import SILVER_TABLES

AGGREGATES = "ventes_aggreges"
TOP_PRODUCTS = "top_produits"
HOURLY = "hourly_sales"
BY_SEGMENT = "ventes_par_segment"
CLEAN = "ventes_clean"
REJECTS = "ventes_rejets"
QUALITY = "pipeline_quality"

# What /api/hourly_sales answers without start and end: the hours of the last 7 days of data
# (after the newest hour minus this), not the whole history.
HOURLY_DEFAULT_WINDOW = timedelta(days=7)
TOP_REASONS = 10
RECENT_REJECTS = 10
REJECT_VALUE_CHARS = 200
# What every list endpoint answers before the first run. Answers are memoised objects, the same
# from one request to the next until a commit, so the API can keep their JSON encoding too.
NO_ROWS: list[dict] = []


def _rows(snapshot: Snapshot | None, key: str, sql: str) -> list[dict[str, Any]]:
    if snapshot is None:
        return NO_ROWS
    return snapshot.memo(key, lambda snap: snap.query(sql))


def _limited(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    return rows if limit is None else rows[:limit]


# --- the four list endpoints of the data contract ----------------------------------------


def aggregated_sales(lake: Lake, pays: str | None = None, limit: int | None = None) -> list[dict]:
    """Revenue and quantity per product and country, largest revenue first."""
    snapshot = lake.silver(AGGREGATES)
    if snapshot is None:
        return NO_ROWS

    def compute(snap: Snapshot) -> list[dict]:
        rows = snap.query(
            "select produit_nom, pays, total_montant, total_quantite from t "
            "order by total_montant desc, produit_nom, pays"
        )
        return [
            {
                "produit_nom": r["produit_nom"],
                "pays": r["pays"],
                "total_montant": money(r["total_montant"]),
                "total_quantite": count(r["total_quantite"]),
            }
            for r in rows
        ]

    rows = snapshot.memo("aggregated_sales", compute)
    return snapshot.memo(
        ("aggregated_sales", pays, limit),
        lambda _: _limited([r for r in rows if pays is None or r["pays"] == pays], limit),
    )


def top_products(lake: Lake, limit: int | None = None) -> list[dict]:
    """The top 10 products by revenue, as ranked by Silver."""
    snapshot = lake.silver(TOP_PRODUCTS)
    if snapshot is None:
        return NO_ROWS

    def compute(snap: Snapshot) -> list[dict]:
        rows = snap.query("select rank, produit_nom, total_montant from t order by rank, produit_nom")
        return [
            {
                "produit_nom": r["produit_nom"],
                "total_montant": money(r["total_montant"]),
                "rank": count(r["rank"]),
            }
            for r in rows
        ]

    rows = snapshot.memo("top_products", compute)
    return snapshot.memo(("top_products", limit), lambda _: _limited(rows, limit))


def _hours(snap: Snapshot) -> list[tuple[datetime, dict]]:
    rows = snap.query("select heure, total_montant, total_quantite from t order by heure")
    return [
        (
            utc(r["heure"]),
            {
                "heure": iso_utc(r["heure"]),
                "total_montant": money(r["total_montant"]),
                "total_quantite": count(r["total_quantite"]),
            },
        )
        for r in rows
        if r["heure"] is not None
    ]


def _in_range(hours: list[tuple[datetime, dict]], start: datetime | None, end: datetime | None) -> list[dict]:
    if start is None and end is None:
        after = hours[-1][0] - HOURLY_DEFAULT_WINDOW if hours else None
        return [row for hour, row in hours if after is None or hour > after]
    return [row for hour, row in hours if (start is None or hour >= start) and (end is None or hour < end)]


def hourly_sales(
    lake: Lake, start: datetime | None = None, end: datetime | None = None, limit: int | None = None
) -> list[dict]:
    """Revenue and quantity per UTC hour, oldest first; ``start`` included, ``end`` excluded.

    Without either, the last ``HOURLY_DEFAULT_WINDOW`` of data (up to the newest hour). With
    ``limit``, the latest ``limit`` hours of the range.
    """
    snapshot = lake.silver(HOURLY)
    if snapshot is None:
        return NO_ROWS
    hours = snapshot.memo("hourly_sales", _hours)

    def select(_: Snapshot) -> list[dict]:
        selected = _in_range(hours, start, end)
        return selected if limit is None else selected[-limit:]

    return snapshot.memo(("hourly_sales", start, end, limit), select)


def product_by_segment(lake: Lake, pays: str | None = None, limit: int | None = None) -> list[dict]:
    """Revenue per product and customer segment.

    Unfiltered, from ``ventes_par_segment``; for one country, from ``ventes_clean`` (the
    product × segment table has no country).
    """
    if pays is None:
        snapshot = lake.silver(BY_SEGMENT)
        if snapshot is None:
            return NO_ROWS

        def compute(snap: Snapshot) -> list[dict]:
            rows = snap.query("select produit, segment, montant from t order by produit, segment")
            return [
                {"produit": r["produit"], "segment": r["segment"], "montant": money(r["montant"])}
                for r in rows
            ]

        rows = snapshot.memo("product_by_segment", compute)
        return snapshot.memo(("product_by_segment", limit), lambda _: _limited(rows, limit))

    snapshot = lake.silver(CLEAN)
    if snapshot is None:
        return NO_ROWS

    def compute_by_country(snap: Snapshot) -> dict[str, list[dict]]:
        rows = snap.query(
            "select pays, produit_nom, segment, sum(montant) as montant from t "
            "group by pays, produit_nom, segment order by produit_nom, segment"
        )
        by_country: dict[str, list[dict]] = {}
        for r in rows:
            by_country.setdefault(r["pays"], []).append(
                {"produit": r["produit_nom"], "segment": r["segment"], "montant": money(r["montant"])}
            )
        return by_country

    by_country = snapshot.memo("product_by_segment_by_country", compute_by_country)
    return snapshot.memo(
        ("product_by_segment", pays, limit), lambda _: _limited(by_country.get(pays, NO_ROWS), limit)
    )


# --- overview and quality ----------------------------------------------------------------

_OVERVIEW_COLUMNS = (
    "sum(montant) as total_montant, sum(quantite) as total_quantite, count(*) as nombre_ventes, "
    "count(distinct produit_id) as nombre_produits, count(distinct client_id) as nombre_clients, "
    "count(distinct pays) as nombre_pays, "
    "min(event_timestamp) as premiere_vente, max(event_timestamp) as derniere_vente"
)


def _overview_row(row: dict[str, Any] | None, pays: str | None) -> dict[str, Any]:
    row = row or {}
    sales = count(row.get("nombre_ventes"))
    revenue = money(row.get("total_montant"))
    return {
        "pays": pays,
        "total_montant": revenue,
        "total_quantite": count(row.get("total_quantite")),
        "nombre_ventes": sales,
        "nombre_produits": count(row.get("nombre_produits")),
        "nombre_clients": count(row.get("nombre_clients")),
        "nombre_pays": count(row.get("nombre_pays")),
        "panier_moyen": money(revenue / sales) if sales else 0.0,
        "premiere_vente": iso_utc(row.get("premiere_vente")),
        "derniere_vente": iso_utc(row.get("derniere_vente")),
    }


def overview(lake: Lake, pays: str | None = None) -> dict[str, Any]:
    """Revenue, sales, products, clients and countries, for all countries or one."""
    snapshot = lake.silver(CLEAN)
    if snapshot is None:
        return _overview_row(None, pays)

    def compute(snap: Snapshot) -> dict[str | None, dict[str, Any]]:
        totals = snap.query(f"select {_OVERVIEW_COLUMNS} from t")
        per_country = snap.query(f"select pays, {_OVERVIEW_COLUMNS} from t group by pays")
        answers: dict[str | None, dict[str, Any]] = {None: _overview_row(totals[0] if totals else None, None)}
        for row in per_country:
            answers[row["pays"]] = _overview_row(row, row["pays"])
        return answers

    answers = snapshot.memo("overview", compute)
    if pays in answers:
        return answers[pays]
    return snapshot.memo(("overview", pays), lambda _: _overview_row(None, pays))


def _layer_times(lake: Lake) -> tuple[datetime | None, datetime | None, dict[str, Any]]:
    """Bronze's last commit, Silver's build time, and the pipeline_quality row."""
    try:
        bronze = lake.bronze()
    except TableUnreadable:
        bronze = None  # Bronze's log being written under us: its age is unknown this time, not an error
    quality_rows = _rows(
        lake.silver(QUALITY), "pipeline_quality", "select * from t order by built_at desc limit 1"
    )
    quality = quality_rows[0] if quality_rows else {}
    built_at = utc(quality.get("built_at"))
    if built_at is None:
        # Without the quality table, the newest commit among the Silver tables.
        commits = [s.committed_at for s in map(lake.silver, SILVER_TABLES) if s and s.committed_at]
        built_at = max(commits, default=None)
    return (bronze.committed_at if bronze else None), built_at, quality


def freshness(lake: Lake, now: datetime | None = None) -> dict[str, Any]:
    """How old Bronze and Silver are, and whether either is stale.

    Bronze is stale when nothing was ingested for ``stale_after``; Silver is stale when Bronze
    holds commits newer than Silver's build by more than ``stale_after``.
    """
    now = now or datetime.now(UTC)
    bronze_commit, built_at, quality = _layer_times(lake)
    limit = lake.stale_after
    bronze_age = (now - bronze_commit) if bronze_commit else None
    silver_lag = max(bronze_commit - built_at, timedelta(0)) if bronze_commit and built_at else None
    return {
        "maintenant": iso_utc(now),
        "seuil_secondes": int(limit.total_seconds()),
        "donnees_au": iso_utc(quality.get("last_ingestion_time")) or iso_utc(built_at),
        "bronze": {
            "derniere_ecriture": iso_utc(bronze_commit),
            "age_secondes": round(bronze_age.total_seconds()) if bronze_age is not None else None,
            "perime": bronze_age is not None and bronze_age > limit,
        },
        "silver": {
            "construit_a": iso_utc(built_at),
            "age_secondes": round((now - built_at).total_seconds()) if built_at else None,
            "retard_sur_bronze_secondes": round(silver_lag.total_seconds())
            if silver_lag is not None
            else None,
            "perime": silver_lag is not None and silver_lag > limit,
        },
    }


def _rejects(lake: Lake) -> dict[str, Any]:
    snapshot = lake.silver(REJECTS)
    if snapshot is None:
        return {"total": 0, "par_statut": [], "par_raison": [], "derniers": []}

    def compute(snap: Snapshot) -> dict[str, Any]:
        groups = snap.query(
            "select parse_status, reasons, count(*) as n from t group by parse_status, reasons"
        )
        by_status: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        for g in groups:
            by_status[g["parse_status"] or "inconnu"] += g["n"]
            for reason in (g["reasons"] or "raison inconnue").split("; "):
                by_reason[reason.strip() or "raison inconnue"] += g["n"]
        recent = snap.query(
            f'select partition, "offset", kafka_timestamp, parse_status, reasons, '
            f"substr(value, 1, {REJECT_VALUE_CHARS}) as value from t "
            f'order by kafka_timestamp desc nulls last, partition, "offset" desc limit {RECENT_REJECTS}'
        )
        reasons = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
        listed = reasons[:TOP_REASONS]
        if len(reasons) > TOP_REASONS:
            listed.append(("autres raisons", sum(n for _, n in reasons[TOP_REASONS:])))
        return {
            "total": sum(by_status.values()),
            "par_statut": [
                {"statut": s, "nombre": n} for s, n in sorted(by_status.items(), key=lambda i: (-i[1], i[0]))
            ],
            "par_raison": [{"raison": r, "nombre": n} for r, n in listed],
            "derniers": [
                {
                    "partition": count(r["partition"]),
                    "offset": count(r["offset"]),
                    "kafka_timestamp": iso_utc(r["kafka_timestamp"]),
                    "statut": r["parse_status"],
                    "raisons": r["reasons"],
                    "valeur": r["value"],
                }
                for r in recent
            ],
        }

    return snapshot.memo("rejects", compute)


def quality(lake: Lake, dbt: DbtResults, now: datetime | None = None) -> dict[str, Any]:
    """Counts through the pipeline, rejects by reason, freshness and the last dbt run."""
    _, _, row = _layer_times(lake)
    rejects = _rejects(lake)
    return {
        "bronze_lignes": count(row.get("bronze_rows")),
        "ventes_valides": count(row.get("valid_sales")),
        "rejets": count(row.get("rejected_rows")) if row else rejects["total"],
        "doublons": count(row.get("duplicates_dropped")),
        "derniere_ingestion": iso_utc(row.get("last_ingestion_time")),
        "rejets_par_statut": rejects["par_statut"],
        "rejets_par_raison": rejects["par_raison"],
        "derniers_rejets": rejects["derniers"],
        "fraicheur": freshness(lake, now),
        "dbt": dbt.summary(),
    }


def health(lake: Lake) -> dict[str, Any]:
    """The Delta version of each Silver table (null before the first run)."""
    tables: dict[str, int | None] = {}
    unreadable = []
    for name in SILVER_TABLES:
        try:
            snapshot = lake.silver(name)
        except TableUnreadable as exc:
            snapshot = None
            unreadable.append(str(exc))
        tables[name] = snapshot.version if snapshot else None
    return {"status": "ok", "tables": tables, "illisibles": unreadable}
