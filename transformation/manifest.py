"""The compiled dbt manifest the DAG renders its dbt tasks from (``dbt parse``), so that parsing
the DAG never runs dbt. ``ventes up`` and the cluster's ``airflow-init`` compile it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from transformation.dbt import DBT, dbt_env
from ventes.errors import VentesError
from ventes.settings import Settings

# Folders of the dbt project that dbt writes into: their changes do not make the manifest stale.
_DBT_OUTPUT_DIRS = {"target", "logs", "dbt_packages"}


def manifest_file(settings: Settings) -> Path:
    return settings.dbt_manifest_dir / "manifest.json"


def _newest_project_change(settings: Settings) -> float:
    newest = (settings.dbt_profiles_dir / "profiles.yml").stat().st_mtime
    project = settings.dbt_project_dir
    for root, dirs, files in os.walk(project):
        if Path(root) == project:
            dirs[:] = [d for d in dirs if d not in _DBT_OUTPUT_DIRS]
        for name in files:
            newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def manifest_is_current(settings: Settings) -> bool:
    """The compiled manifest exists and no file of the dbt project changed since it was made."""
    try:
        return manifest_file(settings).stat().st_mtime >= _newest_project_change(settings)
    except FileNotFoundError:
        return False


def compile_manifest(settings: Settings) -> bool:
    """``dbt parse`` into ``settings.dbt_manifest_dir`` unless the manifest is current.
    Returns True if it ran."""
    if manifest_is_current(settings):
        return False
    result = subprocess.run(
        [
            str(DBT),
            "parse",
            "--target-path",
            str(settings.dbt_manifest_dir),
            "--log-path",
            str(settings.log_dir),
        ],
        env=dbt_env(settings),
        cwd=settings.dbt_project_dir,
        capture_output=True,
        text=True,
        check=False,
        # The manifest sits in AIRFLOW_HOME, beside files for its owner alone.
        umask=0o077,
    )
    if result.returncode != 0:
        lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
        raise VentesError(f"dbt parse failed: {(lines or [result.stderr.strip()])[-1][:300]}")
    return True
