"""
### unified_sales_pipeline

Kafka → Bronze Delta (Spark Structured Streaming, availableNow) → Silver (dbt on the Spark
Thrift Server, one task per model followed by its tests) → checks.

* **produce_sales_data** is a demo step: turn it off for one run with the param
  `produce_demo_sales`, or for good with the Airflow Variable `ventes_produce_demo_sales = false`.
* **run_bronze_processing** runs the Bronze job (`python -m ingestion.job`) as its own process,
  exactly-once through the Bronze checkpoint; Spark never runs inside the worker.
* **dbt_build** is rendered by astronomer-cosmos from the compiled dbt manifest.
* **verify_final_output** checks that every Silver table exists and that counts are conserved.

Schedule: `PIPELINE_SCHEDULE` (default every 15 minutes); a run still going after 60 minutes
fails. Retries: `PIPELINE_RETRIES`, first delay `PIPELINE_RETRY_DELAY` seconds, doubling up to
10 minutes. `demo_sales_count` goes from 1 to 100000.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, TriggerRule, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from orchestration import dbt_group
from orchestration import tasks as pipeline
from ventes import settings as settings_module

SETTINGS = settings_module.load()


@dag(
    dag_id=pipeline.DAG_ID,
    schedule=SETTINGS.pipeline_schedule,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=pipeline.DAGRUN_TIMEOUT,
    default_args=pipeline.default_args(SETTINGS),
    params={
        "produce_demo_sales": Param(True, type="boolean", description="send fake sales first"),
        "demo_sales_count": Param(
            pipeline.DEFAULT_DEMO_SALES,
            type="integer",
            minimum=1,
            maximum=pipeline.MAX_DEMO_SALES,
            description=f"how many demo sales to send (1 to {pipeline.MAX_DEMO_SALES})",
        ),
    },
    tags=["ventes", "bronze", "silver", "dbt"],
    doc_md=__doc__,
)
def unified_sales_pipeline() -> None:
    @task(execution_timeout=pipeline.TIMEOUTS["check_infrastructure"])
    def check_infrastructure() -> dict[str, str]:
        return pipeline.check_infrastructure(settings_module.load())

    @task(execution_timeout=pipeline.TIMEOUTS["produce_sales_data"], retries=0)
    def produce_sales_data() -> dict:
        params = get_current_context()["params"]
        switch = Variable.get(pipeline.PRODUCE_VARIABLE, default="true")
        if not pipeline.should_produce(params["produce_demo_sales"], switch):
            raise AirflowSkipException(f"demo sales off (param or Variable {pipeline.PRODUCE_VARIABLE})")
        return pipeline.produce_sales(settings_module.load(), params["demo_sales_count"])

    @task(
        execution_timeout=pipeline.TIMEOUTS["run_bronze_processing"],
        trigger_rule=TriggerRule.NONE_FAILED,
        outlets=[pipeline.bronze_asset(SETTINGS)],
    )
    def run_bronze_processing() -> dict[str, bool]:
        return pipeline.run_bronze_processing(settings_module.load())

    @task(execution_timeout=pipeline.TIMEOUTS["check_bronze_data_ready"])
    def check_bronze_data_ready() -> dict[str, int]:
        return pipeline.check_bronze_data_ready(settings_module.load())

    @task(
        execution_timeout=pipeline.TIMEOUTS["verify_final_output"], outlets=pipeline.silver_assets(SETTINGS)
    )
    def verify_final_output(bronze: dict[str, int]) -> dict:
        return pipeline.verify_final_output(settings_module.load(), bronze["bronze_rows"])

    bronze = check_bronze_data_ready()
    dbt_build = dbt_group.dbt_task_group()
    check_infrastructure() >> produce_sales_data() >> run_bronze_processing() >> bronze
    bronze >> dbt_build >> verify_final_output(bronze)


unified_sales_pipeline()
