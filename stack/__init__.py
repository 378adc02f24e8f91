"""The local stack and the command line: the services as supervised local processes
(``processes``), the local Kafka node and Airflow, and ``ventes`` itself (``cli``)."""
