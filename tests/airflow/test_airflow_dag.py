"""The DAG file parses cleanly and fast, and has the shape users expect in the Airflow UI."""

from __future__ import annotations

import dataclasses
import itertools
import json
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from orchestration import tasks as pipeline
from stack import local_airflow
from transformation import manifest
from ventes.contract import SILVER_TABLES
from ventes.settings import Settings

PIPELINE = [
    "check_infrastructure",
    "produce_sales_data",
    "run_bronze_processing",
    "check_bronze_data_ready",
]
DBT_GROUP = "dbt_build"


def test_dag_folder_imports_without_errors(dagbag: tuple, capsys: pytest.CaptureFixture) -> None:
    bag, seconds = dagbag
    assert bag.import_errors == {}
    assert list(bag.dag_ids) == [pipeline.DAG_ID]
    with capsys.disabled():
        print(f"\nDAG folder parse time (Cosmos rendering from the manifest included): {seconds:.2f}s")


def parse_in_a_fresh_process(settings: Settings, before: str, after: str) -> list[str]:
    """Parse the DAG folder in a new interpreter, running ``before`` and ``after`` around it;
    ``after`` prints a JSON list, which is returned."""
    probe = (
        f"import json, sys\n{before}"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(settings.dags_dir)!r})\n"
        f"assert not bag.import_errors, bag.import_errors\n{after}"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=local_airflow.airflow_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_parsing_imports_nothing_heavy(airflow_env: Settings) -> None:
    """No Spark, dbt run, Delta or Kafka client, nor the local stack, is loaded to parse the DAG."""
    after = (
        "heavy = ('pyspark', 'deltalake', 'kafka', 'dbt.cli.main', 'ingestion.producer',\n"
        "         'stack', 'services')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    assert parse_in_a_fresh_process(airflow_env, "", after) == []


def test_parsing_reads_nothing_of_the_dbt_project(airflow_env: Settings) -> None:
    """Airflow's "top level code" rule: the project's code reads no file of the dbt project and
    walks none of its folders when the DAG is parsed (Cosmos renders the graph from the compiled
    manifest; Cosmos itself opens dbt_project.yml for the packages folder's name)."""
    profiles = airflow_env.dbt_profiles_dir / "profiles.yml"
    before = (
        f"root, project = {str(airflow_env.project_root)!r}, {str(airflow_env.dbt_project_dir)!r}\n"
        f"profiles = {str(profiles)!r}\n"
        "seen = []\n"
        "def ours(frame):\n"
        "    while frame is not None:\n"
        "        name = frame.f_code.co_filename\n"
        "        if 'site-packages' in name:\n"
        "            return False\n"
        "        if name.startswith(root):\n"
        "            return True\n"
        "        frame = frame.f_back\n"
        "    return False\n"
        "def audit(event, args):\n"
        "    if event in ('open', 'os.scandir', 'os.listdir') and args and isinstance(args[0], str):\n"
        "        if (args[0].startswith(project) or args[0] == profiles) and ours(sys._getframe(1)):\n"
        "            seen.append(f'{event} {args[0]}')\n"
        "sys.addaudithook(audit)\n"
    )
    assert parse_in_a_fresh_process(airflow_env, before, "print(json.dumps(seen))\n") == []


def test_the_cosmos_profile_is_the_one_the_dbt_project_names(airflow_env: Settings) -> None:
    from orchestration import dbt_group

    project = yaml.safe_load((airflow_env.dbt_project_dir / "dbt_project.yml").read_text())
    profiles = yaml.safe_load((airflow_env.dbt_profiles_dir / "profiles.yml").read_text())
    assert project["profile"] == dbt_group.PROFILE_NAME
    assert profiles[project["profile"]]["target"] == dbt_group.TARGET_NAME


def test_pipeline_order(sales_dag) -> None:
    tasks = sales_dag.task_dict
    for upstream, downstream in itertools.pairwise(PIPELINE):
        assert tasks[upstream].downstream_task_ids == {downstream}
    dbt_tasks = {t for t in tasks if t.startswith(f"{DBT_GROUP}.")}
    roots = {t for t in dbt_tasks if not tasks[t].upstream_task_ids & dbt_tasks}
    leaves = {t for t in dbt_tasks if not tasks[t].downstream_task_ids & dbt_tasks}
    assert tasks["check_bronze_data_ready"].downstream_task_ids == roots | {"verify_final_output"}
    for root in roots:
        assert tasks[root].upstream_task_ids == {"check_bronze_data_ready"}
    # verify_final_output also reads the Bronze row count checked before dbt (an XCom).
    assert tasks["verify_final_output"].upstream_task_ids == leaves | {"check_bronze_data_ready"}
    assert tasks["verify_final_output"].downstream_task_ids == set()


def _model_tasks(dag, model: str) -> tuple[str, str | None]:
    """Cosmos names a model with tests ``<model>.run`` + ``<model>.test``, one without ``<model>_run``."""
    tasks = dag.task_dict
    if f"{DBT_GROUP}.{model}.run" in tasks:
        return f"{DBT_GROUP}.{model}.run", f"{DBT_GROUP}.{model}.test"
    return f"{DBT_GROUP}.{model}_run", None


def test_each_dbt_model_is_a_task_followed_by_its_tests(sales_dag, airflow_env: Settings) -> None:
    nodes = json.loads(manifest.manifest_file(airflow_env).read_text())["nodes"]
    models = {n["name"]: n for n in nodes.values() if n["resource_type"] == "model"}
    assert set(SILVER_TABLES) <= set(models)
    tests = [n for n in nodes.values() if n["resource_type"] == "test"]

    def parent_models(node: dict) -> set[str]:
        deps = node["depends_on"]["nodes"]
        return {nodes[d]["name"] for d in deps if d in nodes and nodes[d]["resource_type"] == "model"}

    tested = {next(iter(parent_models(t))) for t in tests if len(parent_models(t)) == 1}
    tasks = sales_dag.task_dict
    for name, node in models.items():
        run, test = _model_tasks(sales_dag, name)
        assert run in tasks, f"model {name} has no task"
        assert (test is not None) == (name in tested), f"model {name}: tests rendered as {test}"
        assert type(tasks[run]).__name__ == "DbtRunWatcherOperator"
        if test:
            assert tasks[run].downstream_task_ids == {test}
            assert type(tasks[test]).__name__ == "DbtTestWatcherOperator"
        # A model runs after its parents are built and tested.
        for parent in parent_models(node):
            parent_run, parent_test = _model_tasks(sales_dag, parent)
            assert (parent_test or parent_run) in tasks[run].get_flat_relative_ids(upstream=True)
    # Every test has one parent model, so its result is its model's test task's (the watcher
    # reports tests per model: a test task of its own would never hear of it).
    assert all(len(parent_models(t)) == 1 for t in tests), [t["name"] for t in tests]


def test_one_dbt_build_runs_the_whole_project(sales_dag) -> None:
    """Cosmos' watcher mode: one producer task runs `dbt build`, unit tests left out; the model
    and test tasks follow it by polling, each in its own worker (no triggerer needed)."""
    tasks = sales_dag.task_dict
    producer = tasks[f"{DBT_GROUP}.dbt_producer_watcher"]
    assert type(producer).__name__ == "DbtProducerWatcherOperator"
    assert producer.base_cmd == ["build"]
    assert "--exclude-resource-type" in producer.dbt_cmd_flags
    assert "unit_test" in producer.dbt_cmd_flags
    from orchestration import dbt_group

    assert producer.callback is dbt_group.after_build
    sensors = [
        t for t in tasks.values() if type(t).__name__.endswith(("RunWatcherOperator", "TestWatcherOperator"))
    ]
    assert sensors and all(not t.deferrable and t.poke_interval == 1 for t in sensors)


def test_schedule_retries_timeouts_and_assets(sales_dag, airflow_env: Settings) -> None:
    assert sales_dag.schedule == airflow_env.pipeline_schedule == "0 0 1 1 *"
    assert sales_dag.catchup is False
    assert sales_dag.max_active_runs == 1
    for task in sales_dag.tasks:
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(minutes=30)
        expected_retries = 0 if task.task_id == "produce_sales_data" else airflow_env.pipeline_retries
        assert task.retries == expected_retries, task.task_id
        assert task.retry_exponential_backoff == 2.0
        assert task.retry_delay == timedelta(seconds=airflow_env.pipeline_retry_delay)
    tasks = sales_dag.task_dict
    [bronze] = tasks["run_bronze_processing"].outlets
    assert (bronze.name, bronze.uri) == ("bronze.ventes_raw", "ventes://bronze/ventes_raw")
    assert bronze.extra == {"path": str(airflow_env.bronze_path)}
    assert {(a.name, a.uri) for a in tasks["verify_final_output"].outlets} == {
        (f"silver.{t}", f"ventes://silver/{t}") for t in SILVER_TABLES
    }
    assert set(sales_dag.params.keys()) == {"produce_demo_sales", "demo_sales_count"}


@pytest.mark.parametrize(
    ("param", "variable", "expected"),
    [(True, "true", True), (True, "False", False), (True, " off ", False), (False, "true", False)],
)
def test_demo_producer_switches(param: bool, variable: str, expected: bool) -> None:
    assert pipeline.should_produce(param, variable) is expected


def test_manifest_missing_means_not_current(airflow_env: Settings, tmp_path) -> None:
    assert manifest.manifest_is_current(airflow_env)
    assert not manifest.manifest_is_current(dataclasses.replace(airflow_env, home=tmp_path))


def test_configuration_is_local_and_password_generated(airflow_env: Settings) -> None:
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(local_airflow.config_file(airflow_env))
    assert cfg["api"]["host"] == "127.0.0.1"
    assert cfg["api"]["port"] == str(airflow_env.airflow_port)
    assert cfg["core"]["executor"] == "LocalExecutor"
    assert cfg["core"]["load_examples"] == "False"
    assert cfg["core"]["dags_folder"] == str(airflow_env.dags_dir)
    assert cfg["database"]["sql_alchemy_conn"].startswith("sqlite:///")
    password = json.loads(local_airflow.password_file(airflow_env).read_text())["admin"]
    assert len(password) >= 16 and password != "admin"
    assert local_airflow.password_file(airflow_env).stat().st_mode & 0o077 == 0
    # Written again (as every `ventes up` does), the secrets and the password stay.
    secret = cfg["api_auth"]["jwt_secret"]
    assert local_airflow.configure(airflow_env) is None
    cfg.read(local_airflow.config_file(airflow_env))
    assert cfg["api_auth"]["jwt_secret"] == secret
    assert json.loads(local_airflow.password_file(airflow_env).read_text())["admin"] == password


def test_a_run_is_bounded_in_time_and_demo_sales(sales_dag) -> None:
    """A stuck run fails after DAGRUN_TIMEOUT; the trigger form refuses an absurd demo count."""
    from airflow.sdk.exceptions import ParamValidationError

    assert sales_dag.dagrun_timeout == pipeline.DAGRUN_TIMEOUT == timedelta(minutes=60)
    count = sales_dag.params.get_param("demo_sales_count")
    assert count.resolve(pipeline.MAX_DEMO_SALES) == pipeline.MAX_DEMO_SALES == 100_000
    for bad in (0, pipeline.MAX_DEMO_SALES + 1):
        with pytest.raises(ParamValidationError):
            count.resolve(bad)
    with pytest.raises(ValueError, match="from 1 to 100000"):
        pipeline.produce_sales(None, pipeline.MAX_DEMO_SALES + 1)  # type: ignore[arg-type]


def test_airflow_state_is_private(airflow_env: Settings) -> None:
    """AIRFLOW_HOME is its owner's alone; what Airflow and dbt wrote there too (umask 077)."""
    assert stat.S_IMODE(airflow_env.airflow_home.stat().st_mode) == 0o700
    for path in (
        local_airflow.database_file(airflow_env),
        local_airflow.config_file(airflow_env),
        manifest.manifest_file(airflow_env),
    ):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    # A database made before it was private is made private by the next `ventes up`.
    local_airflow.database_file(airflow_env).chmod(0o644)
    local_airflow.configure(airflow_env)
    assert stat.S_IMODE(local_airflow.database_file(airflow_env).stat().st_mode) == 0o600
