# One image for every Python service of the docker-compose deployment: the ventes package and
# its locked dependencies (requirements/run.lock), the Spark master/worker/Thrift server from pyspark,
# dbt, Airflow and the dashboard; Java 17 for Spark; the Delta, Kafka-source and metastore JDBC
# jars fetched at build time by the project's own code (so nothing is downloaded at run time).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VENTES_HOME=/var/lib/ventes \
    DELTA_ROOT=/delta \
    VENTES_JARS=/opt/ventes/jars \
    SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    AIRFLOW_HOME=/var/lib/ventes/airflow \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

# procps: Spark's launch scripts call ps.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (their layer is reused while only the project's code changes): the exact
# versions of requirements/run.lock, each file checked against its hash.
COPY requirements/run.lock requirements/run.lock
RUN pip install --no-deps --require-hashes -r requirements/run.lock && pip check

COPY . .
# Editable, so that the settings find dbt_ventes/, dags/ and profiles.yml beside the package.
RUN pip install --no-deps -e . \
    && apt-get update \
    && apt-get install -y --no-install-recommends maven \
    && python -c "from ventes import jars, settings; jars.ensure_jars(settings.load())" \
    && apt-get purge -y --auto-remove maven \
    && rm -rf /var/lib/apt/lists/* /root/.m2 \
    && test -x "$SPARK_HOME/bin/spark-class"

# The code (/app, the packages, the jars) stays root's: the services run as `ventes` and cannot
# change it (docker-compose also mounts the root file system read-only). dbt and Spark write
# under VENTES_HOME (target/, logs, spark-warehouse), not beside the project. The service user
# owns the two mount points only: a new volume mounted there takes their owner and mode.
RUN useradd --uid 50000 --create-home ventes \
    && install -d -o ventes -g ventes -m 0700 "$VENTES_HOME" \
    && install -d -o ventes -g ventes -m 0750 "$DELTA_ROOT"
USER ventes

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["ventes", "--help"]
