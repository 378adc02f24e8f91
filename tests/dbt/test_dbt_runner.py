"""How transformation.dbt reports failures: one line naming what failed (no Thrift server needed)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.ports import reserve_port
from transformation import dbt
from transformation.results import failure_labels
from ventes.errors import VentesError
from ventes.settings import Settings


def test_failures_name_each_failed_node(tmp_path) -> None:
    results = tmp_path / "run_results.json"
    results.write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": "model.dbt_ventes.ventes_clean", "status": "error", "failures": None},
                    {
                        "unique_id": "test.dbt_ventes.not_null_ventes_clean_client_id.5a1",
                        "status": "fail",
                        "failures": 3,
                    },
                    {
                        "unique_id": "unit_test.dbt_ventes.ventes_clean.test_x",
                        "status": "pass",
                        "failures": 0,
                    },
                    {"unique_id": "model.dbt_ventes.hourly_sales", "status": "skipped", "failures": None},
                ]
            }
        )
    )
    assert failure_labels(results) == [
        "model ventes_clean (error)",
        "test not_null_ventes_clean_client_id.5a1 (fail: 3 rows)",
    ]
    run = dbt.DbtRun("build", 1, failure_labels(results), [])
    assert run.summary() == (
        "dbt build failed: model ventes_clean (error), "
        "test not_null_ventes_clean_client_id.5a1 (fail: 3 rows)"
    )


def test_summary_without_results_quotes_dbt_error() -> None:
    run = dbt.DbtRun("build", 2, [], ["Running with dbt=1.11", "Runtime Error", "  Env var required"])
    assert run.summary() == "dbt build failed (exit 2): Runtime Error"


def test_build_without_thrift_server_says_how_to_start_it(test_env: Settings) -> None:
    settings = replace(test_env, thrift_port=reserve_port())
    with pytest.raises(VentesError, match=rf"does not answer on 127.0.0.1:{settings.thrift_port}.*ventes up"):
        dbt.build(settings)


def test_dbt_writes_under_ventes_home(test_env: Settings) -> None:
    env = dbt.dbt_env(test_env)
    assert env["DBT_TARGET_PATH"].startswith(str(test_env.home))
    assert env["DBT_LOG_PATH"].startswith(str(test_env.home))
    assert env["DELTA_ROOT"] == str(test_env.delta_root)
    assert env["THRIFT_PORT"] == str(test_env.thrift_port)
