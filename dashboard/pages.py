"""The page at ``/`` and the charting library it uses, served from the installed plotly package.

plotly.js comes from the ``plotly`` wheel's package data, so the page works offline and no
JavaScript is vendored into the repository.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

import plotly
from flask import Blueprint, Response, current_app, render_template, request

bp = Blueprint("pages", __name__)

# Plotly sets inline styles on the elements it draws, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@bp.get("/")
def index() -> str:
    return render_template(
        "index.html",
        refresh_seconds=current_app.config["REFRESH_SECONDS"],
        plotly_version=plotly.__version__,
    )


@functools.cache
def _plotly_js() -> tuple[bytes, bytes, str]:
    """plotly.min.js as shipped in the plotly package: (raw, gzipped, etag)."""
    raw = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()[:20]


@bp.get("/vendor/plotly.min.js")
def plotly_js() -> Response:
    raw, compressed, etag = _plotly_js()
    gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(compressed if gzip_ok else raw, mimetype="text/javascript")
    if gzip_ok:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    # The URL carries the package version (?v=...), so a week-long cache is safe.
    response.headers["Cache-Control"] = "public, max-age=604800"
    response.set_etag(f"{etag}-{'gz' if gzip_ok else 'raw'}")
    return response.make_conditional(request)
