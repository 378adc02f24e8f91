"""Airflow's metadata database on PostgreSQL, as docker-compose configures it.

The image's drivers (psycopg2, and asyncpg for Airflow 3's async engine) and the connection URL
form of AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, checked by migrating a real database as the
``airflow`` role of docker-compose's init script (owner of its database, not a superuser).
The deployment's auth manager is FAB: the image's ``airflow-init`` role creates the admin user
from AIRFLOW_ADMIN_PASSWORD, and the API server gives a token for that password, and no other.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cluster_harness import Postgres, wait_for

from tests.ports import reserve_port

pytestmark = pytest.mark.stack

BIN = Path(sys.executable).parent
AIRFLOW = BIN / "airflow"
ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "entrypoint.sh"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _airflow_env(postgres: Postgres, tmp_path: Path) -> dict[str, str]:
    """docker-compose's Airflow settings (x-airflow-env), on this server and in ``tmp_path``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        VENTES_HOME=str(tmp_path / "home"),
        AIRFLOW_HOME=str(tmp_path / "home" / "airflow"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.sqlalchemy_url("airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__AUTH_MANAGER=FAB_AUTH_MANAGER,
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
    )
    return env


def _airflow(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(AIRFLOW), *command], env=env, cwd=env["VENTES_HOME"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"airflow {' '.join(command)}: {result.stderr[-2000:]}"
    return result


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def _get_status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_airflow_init_on_postgresql_with_the_fab_auth_manager(postgres: Postgres, tmp_path: Path) -> None:
    env = _airflow_env(postgres, tmp_path)
    (tmp_path / "home").mkdir()
    password = secrets.token_hex(12)
    # The image's own airflow-init: migrate, create the admin (password on stdin), dbt manifest.
    init = subprocess.run(
        [str(ENTRYPOINT), "airflow-init"], env={**env, "AIRFLOW_ADMIN_PASSWORD": password},
        cwd=tmp_path, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    assert password not in init.stdout + init.stderr
    _airflow(env, "db", "check")
    users = json.loads(_airflow(env, "users", "list", "--output", "json").stdout)
    assert [(u["username"], u["roles"]) for u in users] == [("admin", ["Admin"])], users
    # A second run (a restart of the deployment) keeps the admin as it is.
    again = subprocess.run(
        [str(ENTRYPOINT), "airflow-init"], env={**env, "AIRFLOW_ADMIN_PASSWORD": "another0password"},
        cwd=tmp_path, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]

    port = reserve_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(AIRFLOW), "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for("the API server", lambda: _get_status(f"{base}/api/v2/monitor/health") == 200, 180)
        assert _get_status(f"{base}/api/v2/dags") == 401  # no token, no DAGs
        assert (
            _post_json(f"{base}/auth/token", {"username": "admin", "password": "another0password"})[0] == 401
        )
        assert _post_json(f"{base}/auth/token", {"username": "nobody", "password": password})[0] == 401
        status, body = _post_json(f"{base}/auth/token", {"username": "admin", "password": password})
        assert status == 201, body
        assert _get_status(f"{base}/api/v2/dags", body["access_token"]) == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
