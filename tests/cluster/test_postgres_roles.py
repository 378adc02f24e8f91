"""docker-compose's PostgreSQL init script (docker/postgres/10-roles.sh), run on a real server:
a login role per database, owning it, with no superuser rights and no way into the other one."""

from __future__ import annotations

import psycopg2
import pytest
from cluster_harness import Postgres, Role

pytestmark = pytest.mark.stack


def _connect(postgres: Postgres, role: Role, database: str):
    return psycopg2.connect(
        host="127.0.0.1", port=postgres.port, user=role.name, password=role.password, dbname=database,
        connect_timeout=10,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["airflow", "metastore"])
def test_each_role_owns_its_database_and_nothing_more(postgres: Postgres, name: str) -> None:
    role = postgres.roles[name]
    with _connect(postgres, role, role.database) as conn, conn.cursor() as cursor:
        cursor.execute(
            "select r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,"
            " pg_get_userbyid(d.datdba) from pg_roles r, pg_database d"
            " where r.rolname = current_user and d.datname = current_database()"
        )
        assert cursor.fetchone() == (False, False, False, False, False, role.name)
        # It can create its tables (Airflow's migrations, the metastore's schema).
        cursor.execute("create table owned_here (id int)")
        cursor.execute("drop table owned_here")
    conn.close()


@pytest.mark.parametrize("name", ["airflow", "metastore"])
def test_a_role_cannot_open_another_database(postgres: Postgres, name: str) -> None:
    role = postgres.roles[name]
    others = [r.database for r in postgres.roles.values() if r.name != name] + ["postgres"]
    for database in others:
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            _connect(postgres, role, database).close()


def test_a_wrong_password_is_refused(postgres: Postgres) -> None:
    role = postgres.roles["airflow"]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        _connect(postgres, Role(role.name, role.password + "x", role.database), role.database).close()
