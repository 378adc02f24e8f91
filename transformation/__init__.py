"""Bronze -> Silver with dbt on the Spark Thrift Server: running dbt, reading its results,
compiling the manifest the DAG is rendered from."""
