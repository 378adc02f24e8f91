"""Fixtures of the Airflow tests: a private AIRFLOW_HOME, lake and topic.

The overrides apply while a test of this folder runs (and while its session fixtures are made),
so the rest of the session keeps its own lake and topic. Airflow reads its configuration once,
when it is first imported: the test modules import it inside their tests, never at module level.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration import tasks as pipeline
from stack import local_airflow
from tests.environment import env_overrides
from transformation import manifest
from ventes import settings as settings_module
from ventes.settings import Settings


@pytest.fixture(scope="session")
def airflow_overrides(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Own lake and topic (exact counts hold whatever else the session produced), a schedule
    with one tick a year and one quick retry, Airflow's home inside the session's VENTES_HOME."""
    return {
        "DELTA_ROOT": str(tmp_path_factory.mktemp("airflow_lake")),
        "KAFKA_TOPIC": "airflow_ventes",
        # Yearly: unpausing starts one run, for this year's tick, and no other tick comes.
        "PIPELINE_SCHEDULE": "0 0 1 1 *",
        "PIPELINE_RETRIES": "1",
        "PIPELINE_RETRY_DELAY": "1",
        "AIRFLOW_HOME": str(test_env.airflow_home),
        "AIRFLOW_CONFIG": str(local_airflow.config_file(test_env)),
    }


@pytest.fixture(autouse=True)
def _airflow_environment(airflow_overrides: dict[str, str]) -> Iterator[None]:
    with env_overrides(**airflow_overrides):
        yield


@pytest.fixture(scope="session")
def airflow_env(airflow_overrides: dict[str, str]) -> Settings:
    """Airflow configured and its metadata DB migrated; the dbt manifest compiled."""
    home = Path(airflow_overrides["AIRFLOW_HOME"])
    if "airflow" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        if Path(AIRFLOW_HOME) != home:
            pytest.fail(f"airflow was imported before the Airflow fixtures ran (AIRFLOW_HOME={AIRFLOW_HOME})")
    with env_overrides(**airflow_overrides):
        settings = settings_module.load()
        local_airflow.configure(settings)
        local_airflow.migrate(settings)
        manifest.compile_manifest(settings)
    return settings


@pytest.fixture(scope="session")
def dagbag(airflow_env: Settings, airflow_overrides: dict[str, str]) -> tuple[object, float]:
    """The project's DAG folder parsed once, and the seconds that took (Airflow import aside)."""
    with env_overrides(**airflow_overrides):
        from airflow.dag_processing.dagbag import DagBag

        begin = time.perf_counter()
        bag = DagBag(dag_folder=str(airflow_env.dags_dir))
        return bag, time.perf_counter() - begin


@pytest.fixture(scope="session")
def sales_dag(dagbag: tuple[object, float]):
    bag, _ = dagbag
    dag = bag.get_dag(pipeline.DAG_ID)
    assert dag is not None, f"no DAG {pipeline.DAG_ID}: {bag.import_errors}"
    return dag
