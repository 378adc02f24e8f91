"""The OpenAPI 3 description of the dashboard API, served at ``/api/openapi.json``.

Written by hand next to the code it describes; the fuzz test in tests/dashboard checks every
answer of the API against it.
"""

from __future__ import annotations

import functools
from typing import Any

MAX_LIMIT = 10_000
MAX_TEXT_LENGTH = 100
# A character that is not white space, spelt out: JSON Schema patterns are ECMA-262 regular
# expressions, whose \s leaves out \x1c-\x1f and \x85 while Python's (the API's check) takes them.
NON_BLANK_PATTERN = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

_MONEY = {"type": "number", "description": "euros, rounded to 2 decimal places"}
_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC, e.g. 2026-11-26T10:00:00Z"}
_NULLABLE_TIME = {**_TIME, "nullable": True}
_NULLABLE_INT = {"type": "integer", "nullable": True}


def _object(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


PARAMETERS: dict[str, dict[str, Any]] = {
    "pays": {
        "name": "pays",
        "in": "query",
        "required": False,
        "description": "Only this country (exact name, e.g. France). An unknown country gives no rows.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TEXT_LENGTH,
            "pattern": NON_BLANK_PATTERN,
        },
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "At most this many rows.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
    "start": {
        "name": "start",
        "in": "query",
        "required": False,
        "description": "First hour included (ISO-8601; a time without offset is UTC). Without "
        "start and end, the last 7 days of data.",
        "schema": {"type": "string", "format": "date-time"},
    },
    "end": {
        "name": "end",
        "in": "query",
        "required": False,
        "description": "Hours before this time only (excluded; ISO-8601, no offset means UTC). "
        "An end before the start gives an empty list.",
        "schema": {"type": "string", "format": "date-time"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _object(
        {"error": _TEXT, "parameter": _TEXT},
        "What went wrong; `parameter` names the offending query parameter when there is one.",
    )
    | {"required": ["error"]},
    "AggregatedSale": _object(
        {"produit_nom": _TEXT, "pays": _TEXT, "total_montant": _MONEY, "total_quantite": _COUNT}
    ),
    "TopProduct": _object({"produit_nom": _TEXT, "total_montant": _MONEY, "rank": {"type": "integer"}}),
    "HourlySale": _object({"heure": _TIME, "total_montant": _MONEY, "total_quantite": _COUNT}),
    "ProductSegment": _object({"produit": _TEXT, "segment": _TEXT, "montant": _MONEY}),
    "Overview": _object(
        {
            "pays": _NULLABLE_TEXT,
            "total_montant": _MONEY,
            "total_quantite": _COUNT,
            "nombre_ventes": _COUNT,
            "nombre_produits": _COUNT,
            "nombre_clients": _COUNT,
            "nombre_pays": _COUNT,
            "panier_moyen": _MONEY,
            "premiere_vente": _NULLABLE_TIME,
            "derniere_vente": _NULLABLE_TIME,
        },
        "Totals over ventes_clean, for every country or the one in `pays`.",
    ),
    "Freshness": _object(
        {
            "maintenant": _TIME,
            "seuil_secondes": _COUNT,
            "donnees_au": _NULLABLE_TIME,
            "bronze": _object(
                {
                    "derniere_ecriture": _NULLABLE_TIME,
                    "age_secondes": _NULLABLE_INT,
                    "perime": {"type": "boolean"},
                }
            ),
            "silver": _object(
                {
                    "construit_a": _NULLABLE_TIME,
                    "age_secondes": _NULLABLE_INT,
                    "retard_sur_bronze_secondes": _NULLABLE_INT,
                    "perime": {"type": "boolean"},
                }
            ),
        },
        "Bronze is stale after `seuil_secondes` without a commit; Silver when Bronze has commits "
        "newer than Silver's build by more than that.",
    ),
    "DbtRun": {
        **_object(
            {
                "commande": _NULLABLE_TEXT,
                "termine_a": _NULLABLE_TEXT,
                "duree_secondes": {"type": "number"},
                "succes": {"type": "boolean"},
                "tests": _object({s: _COUNT for s in ("pass", "fail", "warn", "error", "skipped")}),
                "modeles": _object({s: _COUNT for s in ("success", "error", "skipped")}),
                "echecs": {
                    "type": "array",
                    "items": _object({"noeud": _TEXT, "statut": _TEXT, "message": _TEXT}),
                },
            },
            "The last dbt invocation (its run_results.json); null before the first one.",
        ),
        "nullable": True,
    },
    "Quality": _object(
        {
            "bronze_lignes": _COUNT,
            "ventes_valides": _COUNT,
            "rejets": _COUNT,
            "doublons": _COUNT,
            "derniere_ingestion": _NULLABLE_TIME,
            "rejets_par_statut": {"type": "array", "items": _object({"statut": _TEXT, "nombre": _COUNT})},
            "rejets_par_raison": {"type": "array", "items": _object({"raison": _TEXT, "nombre": _COUNT})},
            "derniers_rejets": {
                "type": "array",
                "items": _object(
                    {
                        "partition": _COUNT,
                        "offset": _COUNT,
                        "kafka_timestamp": _NULLABLE_TIME,
                        "statut": _NULLABLE_TEXT,
                        "raisons": _NULLABLE_TEXT,
                        "valeur": _NULLABLE_TEXT,
                    }
                ),
            },
            "fraicheur": _ref("Freshness"),
            "dbt": _ref("DbtRun"),
        },
        "Counts through the pipeline (bronze_lignes = ventes_valides + rejets + doublons), rejects, "
        "freshness and the last dbt run.",
    ),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok"]},
            "tables": {"type": "object", "additionalProperties": _NULLABLE_INT},
            "illisibles": {"type": "array", "items": _TEXT},
        },
        "The web process answers; the Delta version of each Silver table (null before the first run).",
    ),
}


def _get(
    summary: str, schema: dict[str, Any], parameters: tuple[str, ...] = (), reads_tables: bool = True
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "304": {"description": "Not modified since the ETag given in If-None-Match"},
        "400": {
            "description": "A query parameter is invalid, repeated or unknown",
            "content": {"application/json": {"schema": _ref("Error")}},
        },
    }
    if reads_tables:
        responses["503"] = {
            "description": "A Silver table exists but cannot be read right now",
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return {
        "get": {
            "summary": summary,
            "description": "Read-only. Lists are empty (200 []) before the first pipeline run. Unknown query "
            "parameters are refused with 400 rather than ignored.",
            "parameters": [PARAMETERS[name] for name in parameters],
            "responses": responses,
        }
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ventes dashboard API",
            "version": "1.0.0",
            "description": "Sales figures from the Silver Delta tables built by dbt. Money in euros as "
            "numbers rounded to 2 places, quantities as integers, times ISO-8601 UTC.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/aggregated_sales": _get(
                "Revenue and quantity per product and country (ventes_aggreges), largest first",
                _list_of("AggregatedSale"),
                ("pays", "limit"),
            ),
            "/api/top_products": _get(
                "The top 10 products by revenue, ties by name (top_produits)",
                _list_of("TopProduct"),
                ("limit",),
            ),
            "/api/hourly_sales": _get(
                "Revenue and quantity per UTC hour, oldest first (hourly_sales). Without start and "
                "end, the last 7 days of data: the hours after the newest one minus 7 days (give "
                "start, end or both for another range). With limit, the latest hours of the range",
                _list_of("HourlySale"),
                ("start", "end", "limit"),
            ),
            "/api/product_by_segment": _get(
                "Revenue per product and customer segment (ventes_par_segment; from ventes_clean "
                "for one country)",
                _list_of("ProductSegment"),
                ("pays", "limit"),
            ),
            "/api/overview": _get(
                "Totals: revenue, sales, products, clients, countries", _ref("Overview"), ("pays",)
            ),
            "/api/quality": _get("Data quality, freshness and the last dbt run", _ref("Quality")),
            "/api/health": _get(
                "Liveness and the Delta version of each Silver table", _ref("Health"), reads_tables=False
            ),
            "/api/openapi.json": _get("This description", {"type": "object"}, reads_tables=False),
        },
        "components": {"schemas": SCHEMAS},
    }
