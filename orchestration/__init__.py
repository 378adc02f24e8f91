"""Airflow's ``unified_sales_pipeline``: its steps as plain functions (``tasks``) and the dbt
build rendered by astronomer-cosmos (``dbt_group``). ``dags/`` only wires them together."""
