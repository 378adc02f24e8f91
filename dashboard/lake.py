"""Where the dashboard's tables are (the lake and its reader), the last dbt build's summary, and
how values leave the API: money as floats rounded to 2 places, quantities as ints, times as
ISO-8601 UTC strings ending in ``Z``."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from dashboard.reader import DeltaReader, Snapshot
from transformation import results

CENT = Decimal("0.01")


@dataclass
class Lake:
    """Where the tables are, and the reader that caches them."""

    silver_root: Path
    bronze_path: Path
    dbt_target_dir: Path
    stale_after: timedelta
    reader: DeltaReader
    _paths: dict[str, Path] = field(default_factory=dict)

    def silver(self, table: str) -> Snapshot | None:
        path = self._paths.get(table)
        if path is None:
            path = self._paths.setdefault(table, self.silver_root / table)
        return self.reader.snapshot(path)

    def bronze(self) -> Snapshot | None:
        return self.reader.snapshot(self.bronze_path)


# --- value conversions -------------------------------------------------------------------


def money(value: Decimal | float | int | None) -> float:
    if value is None:
        return 0.0
    return float(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))


def count(value: int | None) -> int:
    return int(value or 0)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``; a naive time is UTC (Delta ``timestamp_ntz``)."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class DbtResults:
    """The last dbt invocation's ``run_results.json``, re-read when the file changes."""

    def __init__(self, target_dir: Path) -> None:
        self.path = target_dir / "run_results.json"
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._summary: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if signature != self._seen:
                self._summary = _summarise_run_results(self.path)
                self._seen = signature
            return self._summary


def _summarise_run_results(path: Path) -> dict[str, Any] | None:
    document = results.read(path)
    if document is None:
        return None  # being rewritten by a running dbt; the next request reads it again
    nodes = results.node_results(document)
    tests = Counter(n.status for n in nodes if n.is_test)
    models = Counter(n.status for n in nodes if not n.is_test)
    failures = [
        {"noeud": n.unique_id, "statut": n.status, "message": n.message[:300]}
        for n in nodes
        if n.failed or n.status == "warn"
    ]
    metadata = document.get("metadata") or {}
    return {
        "commande": (document.get("args") or {}).get("which"),
        "termine_a": metadata.get("generated_at"),
        "duree_secondes": round(float(document.get("elapsed_time") or 0.0), 1),
        "succes": not any(n.failed for n in nodes),
        "tests": {s: tests[s] for s in ("pass", "fail", "warn", "error", "skipped")},
        "modeles": {s: models[s] for s in ("success", "error", "skipped")},
        "echecs": failures[:20],
    }
