"""Airflow's metadata database on PostgreSQL, as docker-compose configures it.

The image's drivers (psycopg2, and asyncpg for Airflow 3's async engine) and the connection URL
form of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, checked by migrating a real database as the
``airflow`` role of docker-compose's init script (owner of its database, not a superuser).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_harness import Postgres

pytestmark = pytest.mark.stack

AIRFLOW = Path(sys.executable).parent / "airflow"


def test_airflow_migrates_and_checks_its_database_on_postgresql(postgres: Postgres, tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.sqlalchemy_url("airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
    )
    for command in (["db", "migrate"], ["db", "check"]):
        result = subprocess.run(
            [str(AIRFLOW), *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"airflow {' '.join(command)}: {result.stderr[-2000:]}"
