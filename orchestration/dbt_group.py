"""The dbt build as Airflow tasks, rendered by astronomer-cosmos: its configuration, written
as module constants (nothing here reads a file when the DAG is parsed), and the callback that
runs after the build.

One ``dbt build`` for the whole project (Cosmos' watcher mode): a producer task runs it once
(one dbt start-up and parse, the project's threads over the Thrift server), and a sensor per
model, then per model's tests, succeeds or fails as dbt reports that node, so each keeps its
own state and log in the UI. A sensor's retry runs its model alone once the build has ended.

The sensors poke in their worker rather than deferring to a triggerer: a build takes seconds,
and a trigger that fires within seconds of its deferral races the scheduler, which then marks
the sensor up for retry ("finished with state success, but the task instance's state attribute
is queued", seen with Airflow 3.3), costing a retry delay per model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from orchestration.tasks import TIMEOUTS
from transformation.dbt import DBT, PIPELINE_BUILD_FLAGS
from transformation.manifest import compile_manifest, manifest_file
from ventes import settings as settings_module

# Environment only: VENTES_HOME says where the compiled manifest is.
SETTINGS = settings_module.load()
# The profile ``dbt_ventes/dbt_project.yml`` names and its target (a test holds them equal).
PROFILE_NAME = "dbt_ventes"
TARGET_NAME = "local"

PROJECT_CONFIG = ProjectConfig(
    dbt_project_path=SETTINGS.dbt_project_dir,
    # Compiled by `ventes up` and the cluster's airflow-init, and again after each build when the
    # project changed: the graph never costs a dbt run at parse time.
    manifest_path=manifest_file(SETTINGS),
    install_dbt_deps=False,
)
PROFILE_CONFIG = ProfileConfig(
    profile_name=PROFILE_NAME,
    target_name=TARGET_NAME,
    profiles_yml_filepath=SETTINGS.dbt_profiles_dir / "profiles.yml",
)
RENDER_CONFIG = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST,
    test_behavior=TestBehavior.AFTER_EACH,
    # A test reading several models (the Bronze-to-Silver conservation test) counts in each
    # parent's test task: the watcher reports tests per model, so a detached test task would
    # never hear of its result.
    should_detach_multiple_parents_tests=False,
    # Lineage events need the OpenLineage provider; the DAG declares its own Assets.
    emit_datasets=False,
)
OPERATOR_ARGS = {
    "execution_timeout": TIMEOUTS["dbt"],
    "deferrable": False,
    # How often a waiting sensor asks how its node is doing: the build takes seconds.
    "poke_interval": 1,
}


def after_build(project_dir: str, **_: Any) -> None:
    """Cosmos callback after the dbt build: keep its ``run_results.json`` where the dashboard
    reads the last build (Cosmos runs dbt in a temporary copy of the project, removed after),
    and compile the manifest again if the project changed, for the next parse of the DAG."""
    settings = settings_module.load()
    source = Path(project_dir) / "target" / "run_results.json"
    if source.exists():
        target = settings.dbt_target_dir / "run_results.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(".run_results.json.partial")
        partial.write_bytes(source.read_bytes())
        partial.replace(target)  # the dashboard never reads half a file
    compile_manifest(settings)


EXECUTION_CONFIG = ExecutionConfig(
    execution_mode=ExecutionMode.WATCHER,
    invocation_mode=InvocationMode.DBT_RUNNER,
    dbt_executable_path=DBT,
    # The producer only: unit tests run in the test suite, not on every build.
    setup_operator_args={"dbt_cmd_flags": list(PIPELINE_BUILD_FLAGS), "callback": after_build},
)


def dbt_task_group(group_id: str = "dbt_build") -> DbtTaskGroup:
    """One ``dbt build`` for the whole project, each model and its tests followed by a task."""
    return DbtTaskGroup(
        group_id=group_id,
        project_config=PROJECT_CONFIG,
        profile_config=PROFILE_CONFIG,
        execution_config=EXECUTION_CONFIG,
        render_config=RENDER_CONFIG,
        operator_args=OPERATOR_ARGS,
    )
