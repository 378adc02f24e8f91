#!/usr/bin/env bash
# Entry point of the project image: the first argument names the role of the container.
#
#   thrift | dashboard | bronze   the services `ventes up` runs locally, same commands
#   spark-master | spark-worker | kafka-topic | health    see services/container.py
#   dbt-docs                  generate the dbt docs, then serve them on $DBT_DOCS_PORT
#   airflow-init              migrate Airflow's database, create the admin user, compile the dbt manifest
#   anything else             run as a command: `airflow scheduler`, `ventes produce --count 100`
set -euo pipefail

role="${1:-ventes}"
[ "$#" -gt 0 ] && shift

case "$role" in
  thrift | dashboard | bronze)
    exec python -m services.container service "$role"
    ;;
  spark-master | spark-worker | kafka-topic | health)
    exec python -m services.container "$role" "$@"
    ;;
  dbt-docs)
    ventes docs --no-serve
    exec python -m http.server "${DBT_DOCS_PORT:-8081}" --bind 0.0.0.0 \
      --directory "$VENTES_HOME/dbt/target"
    ;;
  airflow-init)
    : "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD (see .env.example)}"
    mkdir -p "$AIRFLOW_HOME"
    airflow db migrate
    # The FAB auth manager keeps its users in Airflow's database. The admin's password goes in
    # on stdin (asked twice; no terminal in a new session), never on a command line. An admin
    # that exists keeps its password: change it in the UI (Security > List Users).
    printf '%s\n%s\n' "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_PASSWORD" \
      | setsid --wait airflow users create --role Admin --username "${AIRFLOW_ADMIN_USER:-admin}" \
          --email "${AIRFLOW_ADMIN_EMAIL:-admin@localhost}" --firstname Airflow --lastname Admin
    python -c 'from transformation import manifest; from ventes import settings; manifest.compile_manifest(settings.load())'
    echo "airflow-init: database migrated, admin user present, dbt manifest compiled"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
