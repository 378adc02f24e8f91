"""The JSON API under ``/api``: read-only, every query parameter validated.

A bad parameter gets ``400 {"error": ..., "parameter": ...}``. Unknown parameters are refused
the same way rather than ignored, so a misspelt filter (``?pay=France``) cannot silently return
unfiltered figures.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from dashboard import queries
from dashboard.lake import Lake
from dashboard.openapi import MAX_LIMIT, MAX_TEXT_LENGTH, NON_BLANK_PATTERN, openapi_document
from dashboard.reader import TableUnreadable, size_of

bp = Blueprint("api", __name__, url_prefix="/api")
NON_BLANK = re.compile(NON_BLANK_PATTERN)


class BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def _encode(payload: Any, remember: bool) -> tuple[bytes, str]:
    """JSON of an answer and its ETag. The encoding of an answer the queries memoise is kept in
    the same byte-bounded cache, keyed by the answer's identity (the answer is held with it, so
    the identity cannot be reused): a repeated request encodes nothing."""
    cache = _lake().reader.cache
    key = ("json", id(payload))
    cached = cache.get(key)
    if cached is not None and cached[0] is payload:
        return cached[1], cached[2]
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    if remember:
        entry = (payload, body, etag)
        cache.put(key, entry, size_of(entry))
    return body, etag


def json_response(payload: Any, remember: bool = True) -> Response:
    """200 with an ETag; revalidated on every poll, so unchanged data costs a 304 and no body.

    ``remember``: the payload is a memoised answer whose encoding is worth keeping.
    """
    body, etag = _encode(payload, remember)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


def error_response(status: int, message: str, parameter: str | None = None) -> Response:
    payload: dict[str, str] = {"error": message}
    if parameter is not None:
        payload["parameter"] = parameter
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


# --- parameters --------------------------------------------------------------------------


def _arguments(allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string as single values, refusing unknown and repeated parameters."""
    values: dict[str, str] = {}
    for name in request.args:
        if name not in allowed:
            expected = ", ".join(allowed) if allowed else "none"
            raise BadParameter(name, f"unknown parameter {name!r}; accepted here: {expected}")
        given = request.args.getlist(name)
        if len(given) > 1:
            raise BadParameter(name, f"{name} given {len(given)} times; give it once")
        values[name] = given[0]
    return values


def _pays(args: dict[str, str]) -> str | None:
    if "pays" not in args:
        return None
    raw = args["pays"]
    if len(raw) > MAX_TEXT_LENGTH:
        raise BadParameter("pays", f"pays is longer than {MAX_TEXT_LENGTH} characters")
    # The same test as the description's pattern; str.strip() would also drop \x1c-\x1f.
    if not NON_BLANK.search(raw):
        raise BadParameter("pays", "pays must not be blank; leave it out for every country")
    return raw


def _limit(args: dict[str, str]) -> int | None:
    if "limit" not in args:
        return None
    raw = args["limit"]
    digits = raw.lstrip("0")
    if (
        not raw.isascii()
        or not raw.isdigit()
        or len(digits) > len(str(MAX_LIMIT))
        or not 1 <= int(raw) <= MAX_LIMIT
    ):
        raise BadParameter("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:40]!r}")
    return int(raw)


def _moment(args: dict[str, str], name: str) -> datetime | None:
    if name not in args:
        return None
    raw = args[name].strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadParameter(
            name, f"{name} must be an ISO-8601 date or time, e.g. 2026-11-26T10:00:00Z; got {raw[:40]!r}"
        ) from None
    # Naive means UTC, as for the events themselves. An offset is kept rather than converted:
    # aware times compare correctly, and converting 0001-01-01T00:00+01:00 would overflow.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _lake() -> Lake:
    return current_app.extensions["ventes_lake"]


def _endpoint(view: Callable[[], Any], remember: bool = True) -> Callable[[], Response]:
    def wrapper() -> Response:
        return json_response(view(), remember)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _fresh_endpoint(view: Callable[[], Any]) -> Callable[[], Response]:
    """An endpoint whose answer is built on every request (it tells the time, ages...)."""
    return _endpoint(view, remember=False)


# --- endpoints ---------------------------------------------------------------------------


@bp.get("/aggregated_sales")
@_endpoint
def aggregated_sales() -> list[dict]:
    args = _arguments(("pays", "limit"))
    return queries.aggregated_sales(_lake(), pays=_pays(args), limit=_limit(args))


@bp.get("/top_products")
@_endpoint
def top_products() -> list[dict]:
    args = _arguments(("limit",))
    return queries.top_products(_lake(), limit=_limit(args))


@bp.get("/hourly_sales")
@_endpoint
def hourly_sales() -> list[dict]:
    args = _arguments(("start", "end", "limit"))
    # An end before the start is an empty range, not an error.
    return queries.hourly_sales(
        _lake(), start=_moment(args, "start"), end=_moment(args, "end"), limit=_limit(args)
    )


@bp.get("/product_by_segment")
@_endpoint
def product_by_segment() -> list[dict]:
    args = _arguments(("pays", "limit"))
    return queries.product_by_segment(_lake(), pays=_pays(args), limit=_limit(args))


@bp.get("/overview")
@_endpoint
def overview() -> dict:
    args = _arguments(("pays",))
    return queries.overview(_lake(), pays=_pays(args))


@bp.get("/quality")
@_fresh_endpoint
def quality() -> dict:
    _arguments(())
    return queries.quality(_lake(), current_app.extensions["ventes_dbt"])


@bp.get("/health")
@_fresh_endpoint
def health() -> dict:
    _arguments(())
    return queries.health(_lake())


@bp.get("/openapi.json")
@_endpoint
def openapi() -> dict:
    _arguments(())
    return openapi_document()


# --- errors ------------------------------------------------------------------------------


@bp.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter) -> Response:
    return error_response(400, exc.message, exc.parameter)


@bp.errorhandler(TableUnreadable)
def _unreadable(exc: TableUnreadable) -> Response:
    current_app.logger.error("cannot read %s: %s", exc.path, exc)
    return error_response(503, f"a Silver table cannot be read right now: {exc}")


def api_http_error(exc: HTTPException) -> Response:
    """Errors Flask raises itself under /api (unknown path, wrong method), as JSON too."""
    response = error_response(exc.code or 500, exc.description or exc.name)
    if exc.code == 405:
        response.headers["Allow"] = "GET, HEAD, OPTIONS"
    return response
