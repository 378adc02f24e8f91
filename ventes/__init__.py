"""ventes: sales analytics on Kafka, Spark, Delta Lake, dbt and Airflow."""

__version__ = "0.1.0"
