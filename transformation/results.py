"""dbt's ``run_results.json``, read in one place: the command line's failure summary and the
dashboard's "last dbt build" both come from :func:`node_results`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAILED_STATUSES = ("error", "fail", "runtime error")


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    status: str
    failures: int | None  # rows a failing test returned
    message: str

    @property
    def is_test(self) -> bool:
        return self.unique_id.startswith(("test.", "unit_test."))

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def label(self) -> str:
        """``model ventes_clean (error)``, ``test not_null_x (fail: 3 rows)``."""
        kind, _, rest = self.unique_id.partition(".")
        name = rest.partition(".")[2] or rest  # without the project's name
        detail = f"fail: {self.failures} rows" if self.status == "fail" and self.failures else self.status
        return f"{kind.replace('_', ' ')} {name} ({detail})"


def read(path: Path) -> dict[str, Any] | None:
    """The document, or None while it is missing or half written (a dbt run rewrites it)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def node_results(document: dict[str, Any]) -> list[NodeResult]:
    return [
        NodeResult(
            unique_id=str(result.get("unique_id", "")),
            status=str(result.get("status", "unknown")),
            failures=result.get("failures"),
            message=str(result.get("message") or ""),
        )
        for result in document.get("results") or []
        if isinstance(result, dict)
    ]


def failure_labels(path: Path) -> list[str]:
    """The label of each node that failed in the results at ``path``."""
    document = read(path)
    return [] if document is None else [n.label for n in node_results(document) if n.failed]
