"""Reading Delta tables by path without Spark (``deltalake``): the checks and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventes.errors import VentesError

if TYPE_CHECKING:
    from deltalake import DeltaTable


def open_table(path: Path, version: int | None = None) -> DeltaTable | None:
    """The Delta table at ``path`` (at ``version``, else its latest), or None when there is none."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path), version=version)
    except TableNotFoundError:
        return None


def rows(table: DeltaTable, sql: str) -> list[dict[str, Any]]:
    """Run ``sql`` over ``table`` registered as ``t``; rows as dicts of Python values."""
    from deltalake import QueryBuilder

    result = QueryBuilder().register("t", table).execute(sql).read_all()
    columns = {name: result.column(name).to_pylist() for name in result.column_names}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def query(path: Path, sql: str) -> list[dict[str, Any]]:
    """:func:`rows` of the latest version of the table at ``path``; an error when there is none."""
    table = open_table(path)
    if table is None:
        raise VentesError(f"no Delta table at {path}")
    return rows(table, sql)
