"""The dbt project's SQL is lint-clean (sqlfluff, dialect sparksql, see .sqlfluff)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ventes.settings import PROJECT_ROOT

SQLFLUFF = Path(sys.executable).parent / "sqlfluff"


def test_models_and_tests_lint_clean() -> None:
    result = subprocess.run(
        [str(SQLFLUFF), "lint", "dbt_ventes/models", "dbt_ventes/tests", "--disable-progress-bar"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
