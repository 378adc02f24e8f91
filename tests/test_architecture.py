"""The layout's rules hold: imports point one way (the contracts in pyproject.toml, checked by
import-linter), and no file sizes past what one reader holds in mind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ventes", "ingestion", "transformation", "orchestration", "dashboard", "services", "stack")


def test_imports_point_one_way() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_production_code_never_imports_the_tests() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in (*PACKAGES, "dags")
        for path in (ROOT / package).rglob("*.py")
        if "from tests" in path.read_text() or "import tests" in path.read_text()
    ]
    assert offenders == []
