"""The DAG run for real by the local Airflow (scheduler, DAG processor, API server, LocalExecutor):
a run the scheduler starts on its own, with its demo sales, the real Bronze job and the one dbt
build Cosmos' watcher mode runs; then a model failing on its own."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psutil
import pytest

from orchestration import tasks as pipeline
from stack import processes
from tests.airflow import rest
from tests.environment import env_overrides
from tests.seed_apis import SEED_APIS, comparable, expected_answers, topic_sales
from ventes import delta
from ventes.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]

DAG_PATH = f"/api/v2/dags/{pipeline.DAG_ID}"
MODELS = ("ventes_clean", "ventes_rejets", "ventes_aggreges", "top_produits", "hourly_sales")


def silver_rows(settings: Settings, table: str) -> list[dict]:
    return delta.query(settings.silver_path(table), "select * from t")


def wait_for_run(settings: Settings, run_type: str, timeout: float = 600) -> dict:
    """The first run of ``run_type`` to end; polled with a deadline."""
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # a slow answer is no answer: ask again
            runs = rest.api(settings, "GET", f"{DAG_PATH}/dagRuns?run_type={run_type}")["dag_runs"]
        ended = [r for r in runs if r["state"] in ("success", "failed")]
        if ended:
            return ended[0]
        time.sleep(2)
    pytest.fail(f"no {run_type} run ended within {timeout:.0f}s: {runs}")


def task_states(settings: Settings, run: dict) -> dict[str, str]:
    path = f"{DAG_PATH}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
    return {t["task_id"]: t["state"] for t in rest.api(settings, "GET", path)["task_instances"]}


def _running_in_group(group: int) -> list[str]:
    """Processes of a process group still running (an exited one waiting for init to reap it,
    a zombie, holds nothing)."""
    left = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:200]}")
        except (ProcessLookupError, psutil.Error):
            continue
    return left


@pytest.fixture(scope="module")
def airflow_service(
    airflow_env: Settings, airflow_overrides: dict[str, str], kafka: Settings, thrift: Settings
) -> Iterator[Settings]:
    """The local Airflow service, stopped at the end with everything it started."""
    with env_overrides(**airflow_overrides):
        processes.start(airflow_env, processes.service("airflow"))
        group = processes.read_pid(airflow_env, "airflow")
        try:
            yield airflow_env
        finally:
            processes.stop(airflow_env, "airflow")
    # LocalExecutor workers and task processes included (given time to exit).
    deadline = time.monotonic() + 60
    while (left := _running_in_group(group)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []


@dataclass(frozen=True)
class ScheduledRun:
    run: dict
    states: dict[str, str]
    began: float
    sales: list[dict]  # read back from Kafka as the run ended, before any other run adds to it


@pytest.fixture(scope="module")
def scheduled_run(airflow_service: Settings) -> ScheduledRun:
    """Unpaused, the DAG's scheduled run (its latest tick), demo sales on."""
    settings = airflow_service
    began = time.time()
    rest.api(settings, "PATCH", DAG_PATH, {"is_paused": False})
    try:
        run = wait_for_run(settings, "scheduled")
    finally:
        rest.api(settings, "PATCH", DAG_PATH, {"is_paused": True})
    return ScheduledRun(
        run,
        task_states(settings, run),
        began,
        topic_sales(settings.kafka_bootstrap_servers, settings.kafka_topic),
    )


def test_the_scheduler_runs_every_task_once(scheduled_run: ScheduledRun, airflow_service: Settings) -> None:
    run, states = scheduled_run.run, scheduled_run.states
    assert (run["run_type"], run["state"]) == ("scheduled", "success"), states
    assert set(states.values()) == {"success"}, states
    # Each model and its tests is a task of its own, next to the one dbt build.
    assert "dbt_build.dbt_producer_watcher" in states
    assert {f"dbt_build.{m}.run" for m in MODELS} | {f"dbt_build.{m}.test" for m in MODELS} <= states.keys()
    # No Bronze streaming service here: the Bronze job itself ran.
    ingest = rest.api(
        airflow_service,
        "GET",
        f"{DAG_PATH}/dagRuns/{run['dag_run_id']}/taskInstances/run_bronze_processing/xcomEntries/return_value",
    )
    assert ingest["value"] in ({"job_ran": True}, '{"job_ran": true}'), ingest


def served(settings: Settings) -> dict[str, list[dict]]:
    from dashboard import create_app

    client = create_app().test_client()
    answers = {}
    for name in SEED_APIS:
        response = client.get(f"/api/{name}")
        assert response.status_code == 200, (name, response.get_json())
        answers[name] = response.get_json()
    return comparable(answers)


def test_seed_apis_serve_the_totals_of_the_sales_the_run_produced(
    scheduled_run: ScheduledRun, airflow_service: Settings
) -> None:
    sales = scheduled_run.sales
    assert len(sales) == pipeline.DEFAULT_DEMO_SALES
    assert served(airflow_service) == expected_answers(sales)


def test_dashboard_shows_the_build_airflow_ran(
    scheduled_run: ScheduledRun, airflow_service: Settings
) -> None:
    from dashboard import create_app

    begin = scheduled_run.began
    results = json.loads((airflow_service.dbt_target_dir / "run_results.json").read_text())
    built = datetime.fromisoformat(results["metadata"]["generated_at"].replace("Z", "+00:00"))
    assert built.timestamp() >= begin
    quality = create_app().test_client().get("/api/quality").get_json()
    assert results["metadata"]["generated_at"] in json.dumps(quality), quality
    assert results["args"]["which"] == "build"


@contextlib.contextmanager
def constraint_new_sales_break(settings: Settings) -> Iterator[None]:
    """A Delta CHECK constraint on ventes_clean that every new sale breaks (vente_id grows)."""
    from pyhive import hive

    newest = max(row["vente_id"] for row in silver_rows(settings, "ventes_clean"))
    conn = hive.connect(host=settings.thrift_host, port=settings.thrift_port, auth="NOSASL")
    cursor = conn.cursor()
    cursor.execute(f"alter table silver.ventes_clean add constraint no_new_sale check (vente_id <= {newest})")
    try:
        yield
    finally:
        cursor.execute("alter table silver.ventes_clean drop constraint if exists no_new_sale")
        conn.close()


def test_a_failing_model_fails_its_task_and_readers_keep_the_last_version(
    scheduled_run: ScheduledRun, airflow_service: Settings
) -> None:
    from dashboard import create_app

    settings = airflow_service
    with constraint_new_sales_break(settings):
        before = pipeline.silver_versions(settings)
        run = rest.api(settings, "POST", f"{DAG_PATH}/dagRuns", {"logical_date": None})
        # The scheduler starts no run of a paused DAG, manual ones included.
        rest.api(settings, "PATCH", DAG_PATH, {"is_paused": False})
        try:
            deadline = time.monotonic() + 900
            path = f"{DAG_PATH}/dagRuns/{run['dag_run_id']}"
            while (run := rest.api(settings, "GET", path))["state"] not in ("success", "failed"):
                assert time.monotonic() < deadline, run
                time.sleep(2)
        finally:
            rest.api(settings, "PATCH", DAG_PATH, {"is_paused": True})
        states = task_states(settings, run)
        after = pipeline.silver_versions(settings)
    assert run["state"] == "failed", states
    assert states["dbt_build.ventes_clean.run"] == "failed", states
    downstream = ["dbt_build.ventes_clean.test", "verify_final_output"]
    downstream += [f"dbt_build.{m}.run" for m in ("ventes_aggreges", "top_produits", "hourly_sales")]
    assert {states[t] for t in downstream} == {"upstream_failed"}, states
    assert states["dbt_build.ventes_rejets.run"] == "success", states
    # The failed model and everything built from it keep their last good version.
    for table in ("ventes_clean", "ventes_aggreges", "top_produits", "hourly_sales", "ventes_par_segment"):
        assert after[table] == before[table], table
    client = create_app().test_client()
    for name in (
        "aggregated_sales",
        "top_products",
        "hourly_sales",
        "product_by_segment",
        "overview",
        "quality",
    ):
        assert client.get(f"/api/{name}").status_code == 200, name
