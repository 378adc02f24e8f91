"""The sales dashboard: a read-only Flask app over the Silver Delta tables.

gunicorn runs ``dashboard:create_app()``; the app never starts Spark, so it keeps answering in
milliseconds while Spark or Kafka are down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from dashboard import api, pages
from dashboard.lake import DbtResults, Lake
from dashboard.reader import DEFAULT_CACHE_BYTES, DeltaReader
from ventes import settings as settings_module


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the settings; ``test_config`` overrides any config key.

    ``DELTA_ROOT`` in ``test_config`` moves the whole lake (Silver and Bronze paths follow).
    """
    overrides = dict(test_config or {})
    settings = settings_module.load()
    if "DELTA_ROOT" in overrides:
        settings = dataclasses.replace(settings, delta_root=Path(overrides["DELTA_ROOT"]))

    app = Flask(__name__)
    app.config.from_mapping(
        SILVER_ROOT=settings.silver_root,
        BRONZE_PATH=settings.bronze_path,
        DBT_TARGET_DIR=settings.dbt_target_dir,
        STALE_AFTER_SECONDS=settings.dashboard_stale_after,
        # How long a table's version is trusted without asking Delta, when its log folder's
        # modification time has not moved.
        RECHECK_SECONDS=5.0,
        REFRESH_SECONDS=10,
        # Bytes the results computed from the tables (and their JSON) may hold, per process.
        CACHE_BYTES=DEFAULT_CACHE_BYTES,
    )
    app.config.update(overrides)

    app.extensions["ventes_lake"] = Lake(
        silver_root=Path(app.config["SILVER_ROOT"]),
        bronze_path=Path(app.config["BRONZE_PATH"]),
        dbt_target_dir=Path(app.config["DBT_TARGET_DIR"]),
        stale_after=timedelta(seconds=app.config["STALE_AFTER_SECONDS"]),
        reader=DeltaReader(
            recheck_seconds=app.config["RECHECK_SECONDS"], cache_bytes=app.config["CACHE_BYTES"]
        ),
    )
    app.extensions["ventes_dbt"] = DbtResults(Path(app.config["DBT_TARGET_DIR"]))

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/api/"):
            return api.api_http_error(exc)
        return exc

    security_headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": pages.CONTENT_SECURITY_POLICY,
    }

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.update(security_headers)
        return response

    return app
