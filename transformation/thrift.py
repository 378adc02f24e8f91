"""The Spark Thrift Server dbt talks to: whether it answers a query."""

from __future__ import annotations

from ventes.net import port_open
from ventes.settings import Settings


def answers(settings: Settings) -> bool:
    """The server at THRIFT_HOST:THRIFT_PORT runs ``select 1`` (an open port alone is not
    enough: the server listens before its SQL sessions work)."""
    if not port_open(settings.thrift_host, settings.thrift_port):
        return False
    try:
        from pyhive import hive

        conn = hive.connect(host=settings.thrift_host, port=settings.thrift_port, auth="NOSASL")
        try:
            cursor = conn.cursor()
            cursor.execute("select 1")
            return cursor.fetchall() == [(1,)]
        finally:
            conn.close()
    except Exception:  # any failure of the connection or the query means: not answering
        return False
