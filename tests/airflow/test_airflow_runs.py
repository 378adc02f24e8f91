"""The DAG run for real: ``dag.test()`` on the local stack, a run the scheduler starts on its own,
and a dbt step failing (Thrift server down) without touching the Silver tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from tests.conftest import env_overrides
from ventes import airflow_local, airflow_pipeline, stack
from ventes.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]

SALES = 20
# The tasks before dbt, marked successful without running when only the dbt step is under test.
BEFORE_DBT = "check_infrastructure|produce_sales_data|run_bronze_processing|check_bronze_data_ready"


def task_states(run) -> dict[str, tuple[str, int]]:
    """Each task of a DAG run: its state and how many tries it took."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances(session=session)}


def silver_rows(settings: Settings, table: str) -> list[dict]:
    return airflow_pipeline._query(settings.silver_path(table), "select * from t")


@pytest.fixture(scope="module")
def first_run(
    airflow_env: Settings, airflow_overrides: dict[str, str], kafka: Settings, thrift: Settings, sales_dag
) -> Iterator[tuple[object, float]]:
    """One whole run of the DAG through ``dag.test()``, producing SALES demo sales."""
    with env_overrides(**airflow_overrides):
        begin = time.monotonic()
        run = sales_dag.test(run_conf={"demo_sales_count": SALES})
        yield run, time.monotonic() - begin


def test_dag_test_runs_the_whole_pipeline(
    first_run: tuple, airflow_env: Settings, capsys: pytest.CaptureFixture
) -> None:
    run, seconds = first_run
    with capsys.disabled():
        print(f"\ndag.test() of unified_sales_pipeline for {SALES} sales: {seconds:.1f}s")
    states = task_states(run)
    assert str(run.state) == "success", states
    assert {state for state, _ in states.values()} == {"success"}, states
    assert all(tries == 1 for _, tries in states.values()), states

    # Its own topic and lake: Bronze and Silver hold exactly the sales this run produced.
    bronze = airflow_pipeline._query(airflow_env.bronze_path, "select count(*) as n from t")[0]["n"]
    assert bronze == SALES
    [quality] = silver_rows(airflow_env, "pipeline_quality")
    assert (quality["bronze_rows"], quality["valid_sales"], quality["rejected_rows"]) == (SALES, SALES, 0)
    assert quality["duplicates_dropped"] == 0
    clean = silver_rows(airflow_env, "ventes_clean")
    assert len({row["vente_id"] for row in clean}) == SALES
    aggregated = silver_rows(airflow_env, "ventes_aggreges")
    assert sum(row["total_quantite"] for row in aggregated) == sum(row["quantite"] for row in clean)
    assert sum(row["total_montant"] for row in aggregated) == sum(row["montant"] for row in clean)
    assert all(version is not None for version in airflow_pipeline.silver_versions(airflow_env).values())


def test_scheduler_runs_the_dag_on_its_schedule(
    first_run: tuple, airflow_env: Settings, kafka: Settings, thrift: Settings
) -> None:
    """The real scheduler and DAG processor, the DAG unpaused on an every-minute schedule: a
    scheduled (not manual) run succeeds. The demo producer is switched off by its Variable."""
    settings = airflow_env
    dag_path = f"/api/v2/dags/{airflow_local.DAG_ID}"
    stack.start(settings, stack.service("airflow"))
    try:
        airflow_local.api(
            settings,
            "POST",
            "/api/v2/variables",
            {"key": airflow_pipeline.PRODUCE_VARIABLE, "value": "false"},
        )
        airflow_local.api(settings, "PATCH", dag_path, {"is_paused": False})
        deadline = time.monotonic() + 480  # next minute tick, then one whole run
        runs: list[dict] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # a slow answer is no answer: ask again
                runs = airflow_local.api(settings, "GET", f"{dag_path}/dagRuns?run_type=scheduled")[
                    "dag_runs"
                ]
            if any(r["state"] in ("success", "failed") for r in runs):
                break
            time.sleep(5)
        airflow_local.api(settings, "PATCH", dag_path, {"is_paused": True})
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        assert finished, f"no scheduled run finished in time: {runs}"
        run = finished[0]
        tasks = airflow_local.api(
            settings, "GET", f"{dag_path}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
        )["task_instances"]
        states = {t["task_id"]: t["state"] for t in tasks}
        assert run["run_type"] == "scheduled"
        assert run["state"] == "success", states
        assert states.pop("produce_sales_data") == "skipped"
        assert set(states.values()) == {"success"}, states
        # Nothing new in Kafka since the first run: the Bronze job's Spark start-up was skipped.
        ingest = airflow_local.api(
            settings,
            "GET",
            f"{dag_path}/dagRuns/{run['dag_run_id']}/taskInstances/run_bronze_processing/xcomEntries/return_value",
        )
        assert ingest["value"] in ({"job_ran": False}, '{"job_ran": false}'), ingest
    finally:
        with contextlib.suppress(OSError):
            airflow_local.api(settings, "DELETE", f"/api/v2/variables/{airflow_pipeline.PRODUCE_VARIABLE}")
        stack.stop(settings, "airflow")


def test_thrift_server_down_dbt_fails_retries_and_silver_is_untouched(
    first_run: tuple, airflow_env: Settings, sales_dag, thrift: Settings
) -> None:
    settings = airflow_env
    before = airflow_pipeline.silver_versions(settings)
    stack.stop(settings, "thrift")
    try:
        run = sales_dag.test(mark_success_pattern=BEFORE_DBT)
    finally:
        stack.start(settings, stack.service("thrift"))
    states = task_states(run)
    assert str(run.state) == "failed", states
    dbt_failed = {task: tries for task, (state, tries) in states.items() if state == "failed"}
    assert dbt_failed, states
    # Each failed dbt task was tried once more (PIPELINE_RETRIES=1) before giving up.
    assert all(task.startswith("dbt_build.") and tries == 2 for task, tries in dbt_failed.items()), states
    assert states["verify_final_output"][0] == "upstream_failed"
    assert airflow_pipeline.silver_versions(settings) == before
    # What readers see is the last good build.
    assert silver_rows(settings, "pipeline_quality")[0]["valid_sales"] == SALES
