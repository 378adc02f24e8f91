"""The project's macros, rendered with dbt's own Jinja and stubbed adapters (no Thrift server).

What comes from outside the SQL must reach it escaped: DELTA_ROOT may hold a quote or a
backslash, and the incremental mark read back from a table property may have been edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dbt.context.base import get_re_module_context
from dbt_common.clients.jinja import CallableMacroGenerator, extract_toplevel_blocks
from dbt_common.exceptions.macros import MacroReturn

from ventes.settings import PROJECT_ROOT

MACROS = PROJECT_ROOT / "dbt_ventes" / "macros"
ODD_PATHS = [
    "/tmp/it's a lake",
    "/tmp/lake'; drop table x; --",
    "/tmp/back\\slash",
    "/tmp/\\'both",
    "/tmp/plain",
]
LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")


@dataclass
class _Macro:
    name: str
    macro_sql: str


@dataclass
class _Result:
    rows: list[tuple[Any, ...]]


@dataclass
class Dbt:
    """A dbt context for the project's macros; ``queries`` maps a SQL prefix to its rows."""

    env: dict[str, str] = field(default_factory=dict)
    queries: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    statements: dict[str, str] = field(default_factory=dict)
    location_root: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def _return(value: Any) -> None:
            raise MacroReturn(value)

        def run_query(sql: str) -> _Result | None:
            rows = next((rows for prefix, rows in self.queries.items() if sql.startswith(prefix)), None)
            return None if rows is None else _Result(rows)

        def statement(name: str, caller: Any = None, **_: Any) -> str:
            self.statements[name] = str(caller())
            return ""

        self.context.update(
            {
                "return": _return,
                "env_var": lambda name: self.env[name],
                "execute": True,
                "model": {"resource_type": "model", "alias": "ventes_clean"},
                "var": lambda name: {"bronze_lookback_minutes": 15}[name],
                "run_query": run_query,
                "statement": statement,
                "log": lambda *args, **kwargs: "",
                "modules": {"re": get_re_module_context()},
                "exceptions": SimpleNamespace(warn=self.warnings.append),
                "config": SimpleNamespace(get=lambda name, validator=None: self.location_root),
                "graph": {"sources": {"source.dbt_ventes.bronze.ventes_raw": _bronze_source()}},
                "adapter": SimpleNamespace(quote=lambda name: f"`{name}`"),
            }
        )
        for path in sorted(MACROS.glob("*.sql")):
            for block in extract_toplevel_blocks(path.read_text(), {"macro"}, collect_raw_data=False):
                macro = _Macro(block.block_name, block.full_block)
                self.context[block.block_name] = CallableMacroGenerator(macro, self.context)

    def __call__(self, macro: str, *args: Any) -> Any:
        return self.context[macro](*args)


def _bronze_source() -> SimpleNamespace:
    columns = {"date": SimpleNamespace(name="date", data_type="date")}
    return SimpleNamespace(schema="bronze", identifier="ventes_raw", columns=columns)


def _literals(sql: str) -> list[str]:
    return LITERAL.findall(sql)


@pytest.mark.parametrize("text", [*ODD_PATHS, "", "a'b'c", "\\"])
def test_sql_string_is_one_escaped_literal(text: str) -> None:
    rendered = str(Dbt()("sql_string", text)).strip()
    assert _literals(rendered) == [rendered]  # one literal, nothing after it
    assert rendered[1:-1].replace("\\\\", "").replace("\\'", "").count("'") == 0


@pytest.mark.parametrize("delta_root", ODD_PATHS)
def test_delta_root_reaches_the_sql_escaped(delta_root: str) -> None:
    dbt = Dbt(env={"DELTA_ROOT": delta_root}, queries={"create schema": [], "show table": []})
    dbt("register_bronze_source")
    (create,) = dbt.statements.values()
    (location,) = _literals(create.split("location", 1)[1])
    assert location == str(dbt("sql_string", f"{delta_root}/bronze/ventes_raw")).strip()
    silver = Dbt(location_root=f"{delta_root}/silver")
    clause = str(silver("spark__location_clause")).strip()
    assert clause == "location " + str(silver("sql_string", f"{delta_root}/silver/ventes_clean")).strip()


def test_the_escaped_literals_read_back_exactly_in_spark(spark, tmp_path: Path) -> None:
    dbt = Dbt()
    texts = [*ODD_PATHS, "2025-03-02 23:59:59.123456"]
    literals = [str(dbt("sql_string", text)).strip() for text in texts]
    row = spark.sql("select " + ", ".join(literals)).first()
    assert list(row) == texts
    # A Silver table's DDL puts it exactly under a DELTA_ROOT holding a quote and a backslash.
    silver = Dbt(location_root=f"{tmp_path}/it's a \\ lake/silver")
    spark.sql(f"create table ventes_clean_quoted (a int) using delta {silver('spark__location_clause')}")
    try:
        assert (tmp_path / "it's a \\ lake" / "silver" / "ventes_clean" / "_delta_log").is_dir()
    finally:
        spark.sql("drop table ventes_clean_quoted")


MARK = "ventes.bronze_read_until"


@pytest.mark.parametrize(
    "mark", ["2025-03-02 23:59:59.123456", "2025-03-02 23:59:59", "2025-03-02 23:59:59.5"]
)
def test_a_well_formed_mark_is_the_bound(mark: str) -> None:
    dbt = Dbt(queries={"show tblproperties": [(MARK, mark)]})
    sql = str(dbt("ingested_since_last_run", "silver.ventes_clean"))
    assert sql.count(f"timestamp '{mark}' - interval 15 minutes") == 2
    assert dbt.warnings == []


@pytest.mark.parametrize(
    "mark",
    [
        "2025-03-02 23:59:59' or true or '",
        "2025-03-02 23:59:59\\' --",
        "2025-03-02T23:59:59Z",
        "2025-03-02",
        "yesterday",
        "2025-03-02 23:59:59.1234567",
        "2025-03-02 23:59:59\n",
        "",
    ],
)
def test_a_mark_of_another_shape_is_ignored_with_a_warning(mark: str) -> None:
    dbt = Dbt(queries={"show tblproperties": [(MARK, mark)]})
    sql = str(dbt("ingested_since_last_run", "silver.ventes_clean"))
    assert "max(ingestion_time)" in sql and "from silver.ventes_clean" in sql  # the table's own rows
    assert mark.strip() == "" or mark not in sql
    (warning,) = dbt.warnings
    assert warning.startswith(f"silver.ventes_clean: ignoring table property {MARK} = ")


def test_no_mark_reads_from_the_newest_row() -> None:
    for rows in ([], [(MARK, "Table default.x does not have property: ventes.bronze_read_until")]):
        dbt = Dbt(queries={"show tblproperties": rows})
        sql = str(dbt("ingested_since_last_run", "silver.ventes_clean"))
        assert "max(ingestion_time)" in sql and dbt.warnings == []
